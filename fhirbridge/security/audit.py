"""The audit trail: an AuditEvent for every access, on record before the access is acknowledged.

The security middleware hands each request to ``AuditTrail.commit`` as an ``AccessRecord`` when its
response is about to start, and sends the response only once the record is committed: an access the
client was answered is on record, whatever happens to the process after. A writer thread turns records
into R4 AuditEvents (type ``rest``, subtype the interaction, an entity for what the URL names, for each
entry of a Bundle and for each child whose data was read or written) and appends them to the audit log
(``fhirbridge.storage.audit_log``) in batches (group commit: every request waiting at that moment shares
one transaction), so the wait costs one small commit shared by many requests. A full queue
makes requests wait for room (nothing is ever dropped); a record that cannot be stored fails its
request (503) rather than answer without a record.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhirbridge.engine.interactions import new_id
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import AuditedEntity
from fhirbridge.security.principal import Principal
from fhirbridge.security.provenance import agent_reference
from fhirbridge.storage.audit_log import AuditLog, AuditRow
from fhirbridge.storage.clock import instant, to_micros

log = logging.getLogger("fhirbridge.audit")

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
SECURITY_ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ACTION = {"create": "C", "update": "U", "patch": "U", "delete": "D", "transaction": "E", "batch": "E", "operation": "E"}
BATCH_SIZE = 100


@dataclass(frozen=True)
class AccessRecord:
    """One request as the audit trail sees it."""

    method: str
    path: str
    query: str
    status: int
    client_address: str | None
    principal: Principal | None
    recorded: datetime
    # What the request touched besides what its URL names: each entry of a transaction or batch.
    entities: tuple[AuditedEntity, ...] = ()
    # The children whose data it read or wrote.
    children: tuple[str, ...] = ()


def interaction_of(method: str, path: str) -> tuple[str, str | None]:
    """The FHIR interaction a request is (restful-interaction code) and the reference it names."""
    parts = [part for part in path.split("/") if part]
    if not parts:
        return ("transaction" if method == "POST" else "capabilities"), None
    if parts[0] == "_history":
        return "history-system", None
    if parts[0] == "metadata":
        return "capabilities", None
    if any(part.startswith("$") for part in parts):
        return "operation", "/".join(parts[:2]) if len(parts) > 2 else None
    resource_type = parts[0]
    if len(parts) == 1 or parts[1] == "_search":
        return {"POST": "search-type" if len(parts) > 1 else "create", "PUT": "update", "DELETE": "delete"}.get(
            method, "search-type"
        ), resource_type
    if parts[1] == "_history":
        return "history-type", resource_type
    reference = f"{resource_type}/{parts[1]}"
    if len(parts) >= 3 and parts[2] == "_history":
        return ("vread" if len(parts) > 3 else "history-instance"), reference
    return {"GET": "read", "HEAD": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, "operation"
    ), reference


def audit_event(record: AccessRecord) -> dict[str, Any]:
    """The R4 AuditEvent of one access."""
    interaction, reference = interaction_of(record.method, record.path)
    principal = record.principal
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": SECURITY_ROLE_TYPE,
                    "code": "humanuser" if principal and principal.fhir_user else "dataprocessor",
                }
            ]
        },
        "who": agent_reference(principal) if principal else {"display": "unauthenticated caller"},
        "requestor": True,
    }
    if principal is not None:
        agent["altId"] = principal.subject
        if principal.organization:
            agent["who"].setdefault("display", principal.organization)
    if record.client_address:
        agent["network"] = {"address": record.client_address, "type": "2"}
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": RESTFUL_INTERACTION, "code": interaction}],
        "action": ACTION.get(interaction, "R"),
        "recorded": instant(record.recorded),
        "outcome": "0" if record.status < 400 else ("4" if record.status < 500 else "8"),
        "outcomeDesc": f"HTTP {record.status}",
        "agent": [agent],
        "source": {"observer": {"display": "fhirbridge"}, "type": [{"system": SOURCE_TYPE, "code": "4"}]},
    }
    entity: dict[str, Any] = {"type": {"system": ENTITY_TYPE, "code": "2"}}
    if reference is not None:
        entity["what"] = {"reference": reference} if "/" in reference else {"display": reference}
    if record.query:
        entity["query"] = base64.b64encode(record.query.encode()).decode()
    if len(entity) > 1:
        event["entity"] = [entity]
    for touched in record.entities:
        event.setdefault("entity", []).append(
            {
                "what": {"reference": touched.reference}
                if "/" in touched.reference
                else {"display": touched.reference},
                "type": {"system": ENTITY_TYPE, "code": "1" if touched.reference.startswith("Patient/") else "2"},
                "detail": [
                    {"type": "interaction", "valueString": touched.interaction},
                    {"type": "status", "valueString": str(touched.status)},
                ],
            }
        )
    named = {what.get("reference") for what in (e.get("what", {}) for e in event.get("entity", []))}
    for child in children_of(record):
        if f"Patient/{child}" not in named:
            person = {"what": {"reference": f"Patient/{child}"}, "type": {"system": ENTITY_TYPE, "code": "1"}}
            event.setdefault("entity", []).append(person)
    return event


def children_of(record: AccessRecord) -> tuple[str, ...]:
    """Every child the access concerned: read or written, named by its URL, its token or a Bundle entry."""
    found = set(record.children)
    if record.principal is not None and record.principal.patient:
        found.add(record.principal.patient)
    _, reference = interaction_of(record.method, record.path)
    for named in (reference, *(entity.reference for entity in record.entities)):
        if named and named.startswith("Patient/") and named.count("/") == 1:
            found.add(named.split("/", 1)[1])
    return tuple(sorted(found))


def audit_row(record: AccessRecord) -> AuditRow:
    """The audit log's row of one access: its AuditEvent and the columns it is searched by."""
    event = audit_event(record)
    event = {"resourceType": event.pop("resourceType"), "id": new_id(), **event}
    _, reference = interaction_of(record.method, record.path)
    who = event["agent"][0]["who"]
    return AuditRow(
        id=event["id"],
        recorded=to_micros(record.recorded),
        agent=who.get("reference") or (who.get("identifier") or {}).get("value"),
        entity_type=(reference or "").split("/", 1)[0] or None,
        outcome=event["outcome"],
        children=children_of(record),
        content=fhir_json.dumps(event),
    )


# Told when a record is committed (None) or could not be (the error).
Settled = Callable[[BaseException | None], None]


class AuditTrail:
    """A queue of access records and the thread that commits them as AuditEvents, in batches."""

    def __init__(self, log: AuditLog, *, max_pending: int = 10_000) -> None:
        self.log = log
        self._queue: queue.Queue[tuple[AccessRecord, Settled] | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="fhirbridge-audit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def commit(self, record: AccessRecord) -> None:
        """Return once ``record`` is committed; raise when it could not be."""
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle, settled, error)

        while True:
            try:
                self._queue.put_nowait((record, settle))
                break
            except queue.Full:  # wait for room: an access is never left unrecorded
                await asyncio.sleep(0.005)
        await settled

    def stop(self, timeout: float = 10) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            waiting = [item for item in batch if item is not None]
            error: BaseException | None = None
            try:
                if waiting:
                    self.log.append([audit_row(record) for record, _ in waiting])
            except Exception as exc:
                log.exception("could not store %d audit events", len(waiting))
                error = exc
            for _, settle in waiting:
                settle(error)
            if len(waiting) < len(batch):
                return


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def now() -> datetime:
    return datetime.now(UTC)


__all__ = ["AccessRecord", "AuditTrail", "audit_event", "audit_row", "children_of", "interaction_of"]
