"""A line of a file ``fhirbridge import`` reads, and writing lines through the write path.

``parse_line`` refuses what is no resource at all (not JSON, no known type, no valid id) as a client's
write of it would be refused. ``Loader`` writes lines as ``PUT Type/id`` entries of a transaction Bundle;
when the transaction is refused, the line its OperationOutcome names is taken out and the rest tried
again, ``MAX_TRANSACTION_TRIES`` times at most; then what is left goes as a batch Bundle, each line on its
own. A refused line's OperationOutcome becomes its ``Rejection``, its expressions about the line's
resource (``Goal.lifecycleStatus``) rather than the Bundle entry it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fhirbridge.bulk.import_state import Rejection
from fhirbridge.engine.resource_types import require_id, resource_types
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.errors import FhirError
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import Access

Resource = dict[str, Any]
# The Access a batch is written under, given the files its lines come from.
AccessFor = Callable[[Sequence[Path]], Access]

MAX_TRANSACTION_TRIES = 3
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")
_ENTRY_PREFIX = re.compile(r"^Bundle\.entry\[\d+\]: ")
_IN_ENTRY = re.compile(r"Bundle\.entry\[\d+\]\.resource(\..*)?")


@dataclass(frozen=True)
class Line:
    """One line of an input file, parsed: a resource with a known type and a valid id."""

    file: Path
    number: int
    resource: Resource

    @property
    def resource_type(self) -> str:
        return str(self.resource["resourceType"])

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.id}"

    @property
    def place(self) -> tuple[Path, int]:
        return (self.file, self.number)


def parse_line(file: Path, number: int, text: bytes, *, max_depth: int = fhir_json.MAX_DEPTH) -> Line | Rejection:
    """The resource on a line, or why it is none (what a client's write of it would have been answered)."""
    try:
        resource = fhir_json.loads(text.rstrip(b"\r\n"), max_depth=max_depth)
    except FhirError as error:
        refused = _rejection(file, number, None, None, error.operation_outcome())
        return replace(refused, diagnostics=refused.diagnostics.replace("The body", "The line", 1))
    if not isinstance(resource, dict):
        return Rejection(str(file), number, None, None, "The line is not a JSON object (a FHIR resource)")
    kind, id = resource.get("resourceType"), resource.get("id")
    named = kind if isinstance(kind, str) else None
    if named is None or named not in resource_types():
        return Rejection(str(file), number, named, _text(id), f"Unknown resource type {kind!r}", ("resourceType",))
    if not isinstance(id, str):
        diagnostics = f"The {named} has no id: an imported resource keeps its id, which others refer to it by"
        return Rejection(str(file), number, named, None, diagnostics, (f"{named}.id",))
    try:
        require_id(id, expression=f"{named}.id")
    except FhirError as error:
        return _rejection(file, number, named, id, error.operation_outcome())
    return Line(file, number, resource)


@dataclass(frozen=True)
class Failure:
    """A line the store refused, with the OperationOutcome its write was answered with."""

    line: Line
    status: int
    outcome: dict[str, Any]

    @property
    def unresolved_reference(self) -> bool:
        """Refused only because a resource it refers to is not in the store (yet)."""
        issues = _errors(self.outcome)
        return self.status == 422 and bool(issues) and all(issue.get("code") == "not-found" for issue in issues)

    def rejection(self) -> Rejection:
        line = self.line
        return _rejection(line.file, line.number, line.resource_type, line.id, self.outcome)


class Loader:
    """Writes lines through the bundle processor: one transaction, or each line on its own."""

    def __init__(self, bundles: BundleProcessor, access_for: AccessFor) -> None:
        self.bundles = bundles
        self.access_for = access_for

    def load(self, lines: list[Line], *, tries: int = MAX_TRANSACTION_TRIES) -> list[Failure]:
        """Write ``lines`` (distinct resources); returns those that were not written, and why.

        As one transaction, less each line it is refused for, ``tries`` times at most; then each line on
        its own (a batch Bundle)."""
        pending = list(lines)
        failures: list[Failure] = []
        for _ in range(tries):
            if not pending:
                return failures
            try:
                self._process("transaction", pending)
                return failures
            except FhirError as error:
                index = _entry_index(error)
                if index is None or index >= len(pending):
                    raise  # a refusal of the whole Bundle is this module's mistake, not a line's
                failures.append(Failure(pending.pop(index), error.status, error.operation_outcome()))
        if not pending:
            return failures
        response = self._process("batch", pending)
        for line, entry in zip(pending, response["entry"], strict=True):
            answer = entry["response"]
            status = int(str(answer["status"]).split(" ", 1)[0])
            if status >= 300:
                failures.append(Failure(line, status, answer.get("outcome") or {}))
        return failures

    def _process(self, kind: str, lines: list[Line]) -> dict[str, Any]:
        bundle = {
            "resourceType": "Bundle",
            "type": kind,
            # A copy each time: the write path may change what it is given (a Subscription's owner).
            "entry": [
                {"resource": fhir_json.copy_tree(line.resource), "request": {"method": "PUT", "url": line.key}}
                for line in lines
            ],
        }
        access = self.access_for(sorted({line.file for line in lines}))
        return self.bundles.process(access, bundle, "", return_preference="minimal")


def _entry_index(error: FhirError) -> int | None:
    """The entry of a transaction Bundle its refusal names (``Bundle.entry[3]...``)."""
    for issue in error.issues:
        for text in (*issue.expression, issue.diagnostics):
            found = _ENTRY.match(text)
            if found:
                return int(found.group(1))
    return None


def _errors(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    issues = [issue for issue in outcome.get("issue") or [] if isinstance(issue, dict)]
    return [issue for issue in issues if issue.get("severity") in ("error", "fatal")] or issues


def _rejection(file: Path, number: int, kind: str | None, id: str | None, outcome: dict[str, Any]) -> Rejection:
    """A Rejection saying what the OperationOutcome says, about the line's resource rather than a Bundle entry."""
    issues = _errors(outcome)
    diagnostics = "; ".join(_ENTRY_PREFIX.sub("", str(issue.get("diagnostics", ""))) for issue in issues)
    expression = tuple(
        _in_resource(kind, str(expression)) for issue in issues for expression in issue.get("expression") or []
    )
    return Rejection(str(file), number, kind, id, diagnostics or "refused", expression)


def _in_resource(kind: str | None, expression: str) -> str:
    """``Bundle.entry[3].resource.status`` -> ``Goal.status``; ``Goal.status`` as it is."""
    found = _IN_ENTRY.fullmatch(expression)
    if found is None or kind is None:
        return expression
    return kind + (found.group(1) or "")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


__all__ = ["MAX_TRANSACTION_TRIES", "AccessFor", "Failure", "Line", "Loader", "parse_line"]
