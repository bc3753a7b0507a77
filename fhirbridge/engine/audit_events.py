"""AuditEvent read and search, served from the audit log under the caller's access.

AuditEvents are not stored as ordinary resources: the server appends them to the audit log
(``fhirbridge.storage.audit_log``), and nobody writes them through the API. A caller sees an access
when it may see every child the access touched (its care team, or its family for a family token); an
access about no child is seen only by a caller who sees every child (the server's operators, or the
care team of a single-practice server). Consent never shares the audit trail.

Search parameters, what a privacy officer asks: ``patient`` (the child, ``Patient/x`` or ``x``),
``agent`` (who: ``Practitioner/7``, ``Organization/x`` or the OAuth client id), ``date`` (when, with
``ge``/``gt``/``le``/``lt``/``eq`` prefixes), ``outcome`` (0, 4, 8), ``entity-type`` (read by fhirbridge
as the type of resource the access named, e.g. ``Goal``), ``_count`` and the paging ``_cursor``.
Newest first. Any other parameter is refused (400): a filter silently ignored would show a privacy
officer accesses they did not ask for as if they had.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fhirbridge.engine.bundles import new_bundle
from fhirbridge.errors import BadRequest
from fhirbridge.security.access import Access, not_found
from fhirbridge.security.audit import stored_event
from fhirbridge.security.scopes import granting_contexts
from fhirbridge.storage.audit_log import AuditLog, AuditQuery
from fhirbridge.storage.clock import to_micros

SEARCH_PARAMETERS = frozenset({"patient", "agent", "date", "outcome", "entity-type", "_count", "_cursor"})
FORMAT_PARAMETERS = frozenset({"_format", "_pretty"})
DEFAULT_COUNT = 50
MAX_COUNT = 1000


class AuditEvents:
    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def read(self, access: Access, id: str) -> dict[str, Any]:
        access.require("AuditEvent", "r")
        row = self.log.read(id)
        if row is None:
            raise not_found(f"AuditEvent/{id}")
        event = stored_event(row.content)
        if not access.visible(event):
            raise not_found(f"AuditEvent/{id}")
        return event

    def search(self, access: Access, params: list[tuple[str, str]], *, base_url: str, path: str) -> dict[str, Any]:
        access.require("AuditEvent", "s")
        query = _query(params, visible_children(access))
        contents, after = self.log.search(query)
        bundle = new_bundle("searchset")
        kept = [(name, value) for name, value in params if name not in ("_cursor", *FORMAT_PARAMETERS)]
        links = [{"relation": "self", "url": _url(base_url, path, kept)}]
        if after is not None:
            links.append({"relation": "next", "url": _url(base_url, path, [*kept, ("_cursor", str(after))])})
        bundle["link"] = links
        entries = []
        for content in contents:
            event = stored_event(content)
            entries.append(
                {"fullUrl": f"{base_url}/AuditEvent/{event['id']}", "resource": event, "search": {"mode": "match"}}
            )
        if entries:
            bundle["entry"] = entries
        return bundle


def visible_children(access: Access) -> frozenset[str] | None:
    """The children whose accesses the caller may see (None: every access)."""
    principal = access.principal
    if principal is None:
        return None
    if not granting_contexts(principal.scopes, "AuditEvent", "r") - {"patient"}:
        return frozenset({principal.patient}) if principal.patient else frozenset()
    relations = access.relations()
    return None if relations.treats_every_child else relations.treated


def _query(params: list[tuple[str, str]], children: frozenset[str] | None) -> AuditQuery:
    fields: dict[str, Any] = {"visible_children": children, "count": DEFAULT_COUNT}
    for name, value in params:
        if name in FORMAT_PARAMETERS:
            continue
        if name not in SEARCH_PARAMETERS:
            raise BadRequest(
                f"AuditEvent search supports {', '.join(sorted(SEARCH_PARAMETERS))}, not '{name}'", expression=name
            )
        if name == "patient":
            fields["patient"] = value.removeprefix("Patient/")
        elif name == "agent":
            fields["agent"] = value
        elif name == "entity-type":
            fields["entity_type"] = value
        elif name == "outcome":
            fields["outcome"] = value
        elif name == "_count":
            if not value.isdigit():
                raise BadRequest(f"_count must be a non-negative integer, not '{value}'", expression="_count")
            fields["count"] = min(int(value), MAX_COUNT)
        elif name == "_cursor":
            if not value.isdigit():
                raise BadRequest("The paging cursor does not belong to this search", expression="_cursor")
            fields["after_seq"] = int(value)
        else:
            _date(fields, value)
    return AuditQuery(**fields)


def _date(fields: dict[str, Any], value: str) -> None:
    prefix, text = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
    start, end = _bounds(text)
    if prefix in ("ge", "eq"):
        fields["recorded_from"] = max(fields.get("recorded_from") or start, start)
    if prefix == "gt":
        fields["recorded_from"] = max(fields.get("recorded_from") or end, end)
    if prefix in ("le", "eq"):
        fields["recorded_until"] = min(fields.get("recorded_until") or end, end)
    if prefix == "lt":
        fields["recorded_until"] = min(fields.get("recorded_until") or start, start)


def _bounds(text: str) -> tuple[int, int]:
    """The microseconds a date or dateTime covers: [start, end)."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return to_micros(day), to_micros(day + timedelta(days=1))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{text}' is not a date or dateTime", expression="date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_micros(moment), to_micros(moment) + 1


def _url(base_url: str, path: str, params: list[tuple[str, str]]) -> str:
    return f"{base_url}/{path}" + (f"?{urlencode(params)}" if params else "")


__all__ = ["AuditEvents", "visible_children"]
