"""The inputs of a terminology operation: ``OperationParameters`` reads them from the query string and a
POSTed Parameters resource, and ``Coding`` is what a ``$validate-code`` or ``$lookup`` asks about.

Apart from ``terminology``, which runs the operations: reading and checking the inputs is the same for
every operation and knows nothing of the ValueSets and CodeSystems they work on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhirbridge.errors import BadRequest
from fhirbridge.storage.contract import Resource


@dataclass(frozen=True)
class Coding:
    """What a ``$validate-code`` or ``$lookup`` asks about (from ``code``/``system``/``display`` or a
    ``coding``)."""

    code: str
    system: str | None = None
    display: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class OperationParameters:
    """The inputs of a terminology operation, from the query string and a POSTed Parameters resource."""

    values: dict[str, list[Any]]

    @classmethod
    def of(cls, query: Iterable[tuple[str, str]], body: Any = None) -> OperationParameters:
        values: dict[str, list[Any]] = {}
        for name, value in query:
            if not name.startswith("_"):  # _format, _pretty: about the response, not the operation
                values.setdefault(name, []).append(value)
        if body is not None:
            if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
                raise BadRequest("The operation takes a Parameters resource", expression="resourceType")
            for parameter in as_list(body.get("parameter")):
                if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
                    raise BadRequest("Each parameter needs a name", expression="Parameters.parameter")
                given = [value for key, value in parameter.items() if key.startswith("value") or key == "resource"]
                if given:
                    values.setdefault(parameter["name"], []).append(given[0])
        return cls(values)

    def text(self, name: str) -> str | None:
        found = self.values.get(name) or [None]
        if found[0] is not None and not isinstance(found[0], str):
            raise BadRequest(f"{name} must be a string, a uri or a code", expression=name)
        return found[0]

    def integer(self, name: str) -> int | None:
        found = (self.values.get(name) or [None])[0]
        if found is None:
            return None
        if isinstance(found, str) and found.isascii() and found.isdigit():
            found = int(found)
        if not isinstance(found, int) or isinstance(found, bool) or not 0 <= found <= 1_000_000_000:
            raise BadRequest(f"{name} must be a whole number from 0", expression=name)
        return found

    def complex(self, name: str) -> Resource | None:
        found = (self.values.get(name) or [None])[0]
        if found is not None and not isinstance(found, dict):
            raise BadRequest(f"{name} must be given in a POSTed Parameters resource", expression=name)
        return found

    def codings(self, *, system: str | None = "system", version: str = "systemVersion") -> list[Coding]:
        """What to validate or look up: ``coding``, or ``codeableConcept``'s codings, or ``code`` with
        ``display``, the system (parameter ``system``; None: the operation's own code system) and its version."""
        coding = self.complex("coding")
        concept = self.complex("codeableConcept")
        if coding is not None:
            return [_coding(coding, "coding")]
        if concept is not None:
            codings = [
                _coding(c, "codeableConcept.coding") for c in as_list(concept.get("coding")) if isinstance(c, dict)
            ]
            if not codings:
                raise BadRequest("codeableConcept holds no coding", expression="codeableConcept")
            return codings
        code = self.text("code")
        if not code:
            raise BadRequest("The operation needs a code, a coding or a codeableConcept", expression="code")
        return [Coding(code, self.text(system) if system else None, self.text("display"), self.text(version))]


def _coding(value: Resource, path: str) -> Coding:
    code = value.get("code")
    if not isinstance(code, str) or not code:
        raise BadRequest(f"{path} has no code", expression=f"{path}.code")
    text = {
        key: value.get(key) if isinstance(value.get(key), str) else None for key in ("system", "display", "version")
    }
    return Coding(code, text["system"], text["display"], text["version"])


def as_list(value: Any) -> list[Any]:
    """A JSON value that should be an array: itself when it is one, else empty."""
    return value if isinstance(value, list) else []


__all__ = ["Coding", "OperationParameters", "as_list"]
