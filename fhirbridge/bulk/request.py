"""What a ``$export`` kick-off asks for, read and checked before any job exists.

Bulk Data Access 2.0 kick-off parameters: ``_outputFormat``, ``_type``, ``_since`` and ``_typeFilter``
are honoured; any other parameter is refused (400, naming it), or, with ``Prefer: handling=lenient``,
left out and reported as a warning in the manifest's ``error`` files. A ``_typeFilter`` query's own
parameters are always checked strictly: a filter silently dropped would widen the export.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson

from fhirbridge.compartment import in_patient_compartment_types
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.errors import BadRequest
from fhirbridge.storage.clock import instant

Level = Literal["system", "patient", "group"]

# ndjson under the names the IG lists; "application/fhir ndjson" is the first as an unencoded query
# string delivers it ('+' reads as a space).
OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson", "application/fhir ndjson"})
# Kept in the audit log, never exported: the trail is read through /AuditEvent alone.
NOT_EXPORTED = frozenset({"AuditEvent"})
# What a _typeFilter query may hold is search criteria: what shapes a searchset has no meaning here.
RESULT_PARAMETERS = frozenset(
    {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_cursor", "_format", "_pretty"}
)
# The IG's own kick-off parameters this server does not implement (named in the refusal).
KNOWN_UNSUPPORTED = frozenset({"_elements", "patient", "includeAssociatedData", "_until", "organizeOutputBy"})
# Where one query of a comma-separated _typeFilter list starts: "Type?".
_QUERY_START = re.compile(r",(?=[A-Z][A-Za-z]*\?)")


@dataclass(frozen=True)
class ExportRequest:
    """One kick-off, as a job keeps it (``to_json``/``from_json``)."""

    level: Level
    # Group-level: the Group whose members are exported.
    group_id: str | None = None
    # The types asked for with _type, in order; empty: every type the caller may search.
    types: tuple[str, ...] = ()
    # _since as a FHIR instant (milliseconds, UTC), or None.
    since: str | None = None
    # (type, search parameters) per _typeFilter query; several for a type are alternatives.
    type_filters: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # What lenient handling left out, for the manifest.
    warnings: tuple[str, ...] = field(default=())

    def filters_for(self, resource_type: str) -> list[list[tuple[str, str]]]:
        return [list(params) for type_, params in self.type_filters if type_ == resource_type]

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> ExportRequest:
        data: dict[str, Any] = orjson.loads(text)
        return cls(
            level=data["level"],
            group_id=data.get("group_id"),
            types=tuple(data.get("types") or ()),
            since=data.get("since"),
            type_filters=tuple((t, tuple((n, v) for n, v in params)) for t, params in data.get("type_filters") or ()),
            warnings=tuple(data.get("warnings") or ()),
        )


def parse_kickoff(
    level: Level, params: list[tuple[str, str]], *, lenient: bool, group_id: str | None = None
) -> ExportRequest:
    """The export ``params`` (the kick-off's query, in order) ask for; 400 naming what is wrong."""
    warnings: list[str] = []
    types: list[str] = []
    since: str | None = None
    filters: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def unsupported(name: str, reason: str) -> None:
        if not lenient:
            raise BadRequest(reason, expression=name, code="not-supported")
        warnings.append(f"{reason}; ignored (Prefer: handling=lenient)")

    for name, value in params:
        if name == "_outputFormat":
            if value.strip() not in OUTPUT_FORMATS:
                raise BadRequest(
                    f"_outputFormat '{value}' is not supported: only application/fhir+ndjson",
                    expression="_outputFormat",
                    code="not-supported",
                )
        elif name == "_type":
            types += _types(value, level, unsupported)
        elif name == "_since":
            if since is not None:
                raise BadRequest("_since may be given once", expression="_since")
            since = _since(value)
        elif name == "_typeFilter":
            filters += _type_filters(value, level, unsupported)
        elif name in ("_format", "_pretty"):
            continue  # the format of an error answer to this request, honoured by the HTTP layer
        elif name in KNOWN_UNSUPPORTED:
            unsupported(name, f"The kick-off parameter '{name}' is not supported by this server")
        else:
            unsupported(name, f"'{name}' is not a parameter of $export")
    if types:
        asked = set(types)
        for resource_type, _ in filters:
            if resource_type not in asked:
                unsupported("_typeFilter", f"_typeFilter names {resource_type}, which _type does not ask for")
        filters = [(t, p) for t, p in filters if t in asked]
    return ExportRequest(
        level=level,
        group_id=group_id,
        types=tuple(dict.fromkeys(types)),
        since=since,
        type_filters=tuple(filters),
        warnings=tuple(warnings),
    )


def exportable(level: Level, resource_type: str) -> bool:
    """Whether a type can be part of an export at ``level`` (Patient and Group: the Patient compartment)."""
    if resource_type in NOT_EXPORTED or resource_type not in resource_types():
        return False
    return level == "system" or in_patient_compartment_types(resource_type)


def _types(value: str, level: Level, unsupported: Any) -> list[str]:
    found: list[str] = []
    for name in (part.strip() for part in value.split(",")):
        if not name:
            continue
        if name not in resource_types():
            unsupported("_type", f"_type names '{name}', which is not a resource type")
        elif not exportable(level, name):
            where = "outside the Patient compartment" if level != "system" else "not exported"
            unsupported("_type", f"_type names {name}, which is {where}")
        else:
            found.append(name)
    return found


def _since(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("_since must be a FHIR instant such as 2026-01-31T08:00:00Z", expression="_since") from None
    if moment.tzinfo is None:
        raise BadRequest("_since must carry a time zone", expression="_since")
    return instant(moment)


def _type_filters(value: str, level: Level, unsupported: Any) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """``Type?criteria`` queries, comma-separated (their own commas are escaped as %2C inside them)."""
    found: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for query in _QUERY_START.split(value):
        resource_type, mark, criteria = query.strip().partition("?")
        if not mark or not criteria:
            raise BadRequest(
                f"_typeFilter '{query}' is not a search query such as Observation?category=vital-signs",
                expression="_typeFilter",
            )
        if not exportable(level, resource_type):
            unsupported("_typeFilter", f"_typeFilter names '{resource_type}', which this export cannot hold")
            continue
        params = parse_qsl(criteria, keep_blank_values=True)
        for name, _ in params:
            if name in RESULT_PARAMETERS:
                raise BadRequest(f"_typeFilter may hold search criteria only, not '{name}'", expression="_typeFilter")
        found.append((resource_type, tuple(params)))
    return found


__all__ = ["NOT_EXPORTED", "OUTPUT_FORMATS", "ExportRequest", "Level", "exportable", "parse_kickoff"]
