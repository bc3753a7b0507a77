"""The audit trail: an AuditEvent for every access, on record before the access is acknowledged.

The security middleware hands each request to ``AuditTrail.commit`` as an ``AccessRecord`` when its
response is about to start, and sends the response only once the record is in the audit journal
(``fhirbridge.storage.audit_journal``: one line appended to a local file, which outlives the process):
an access the client was answered is on record, whatever happens to the process after. A record that
cannot be journaled fails its request (503) rather than answer without a record.

A writer thread turns the journaled records into R4 AuditEvents (type ``rest``, subtype the interaction,
an entity for what the URL names, for each entry of a Bundle and for each child whose data was read or
written) and appends them to the audit log (``fhirbridge.storage.audit_log``) in batches, off the
requests' path; it retries until the log takes them, and deletes a journal segment once all of it is
stored. At start-up the trail first replays the segments a dead process left. A full queue makes
requests wait for room: nothing is ever dropped. Reading the trail (``caught_up``) first waits for
what this process has journaled to be stored.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import AuditedEntity
from fhirbridge.security.principal import Principal
from fhirbridge.security.provenance import agent_reference
from fhirbridge.storage.audit_journal import SEGMENT_LINES, AuditJournal, Segment, lines_of
from fhirbridge.storage.audit_log import AuditLog, AuditRow
from fhirbridge.storage.clock import from_micros, instant, time_ordered_id, to_micros

log = logging.getLogger("fhirbridge.audit")

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
SECURITY_ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ACTION = {"create": "C", "update": "U", "patch": "U", "delete": "D", "transaction": "E", "batch": "E", "operation": "E"}
BATCH_SIZE = 500
GATHER_SECONDS = 0.05
REPLAY_BATCH = 1_000
RETRY_SECONDS = (0.05, 5.0)  # the first wait after the audit log refused a batch, and the longest


class AccessRecord(NamedTuple):
    """One request as the audit trail sees it (a named tuple: one is made for every request, and a frozen
    dataclass took several times as long to make)."""

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


# The interaction a method is on a type (``Goal``) and on an instance (``Goal/1``); ``interaction_of`` runs
# for every request a secured server answers, so these are made once.
_ON_TYPE = {"POST": "create", "PUT": "update", "DELETE": "delete"}
_ON_INSTANCE = {"GET": "read", "HEAD": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def interaction_of(method: str, path: str) -> tuple[str, str | None]:
    """The FHIR interaction a request is (restful-interaction code) and the reference it names."""
    parts = [part for part in path.split("/") if part]
    if not parts:
        return ("transaction" if method == "POST" else "capabilities"), None
    first = parts[0]
    if first == "_history":
        return "history-system", None
    if first == "metadata":
        return "capabilities", None
    if "$" in path and any(part.startswith("$") for part in parts):
        return "operation", "/".join(parts[:2]) if len(parts) > 2 else None
    if len(parts) == 1:
        return _ON_TYPE.get(method, "search-type"), first
    second = parts[1]
    if second == "_search":
        return ("search-type" if method == "POST" else _ON_TYPE.get(method, "search-type")), first
    if second == "_history":
        return "history-type", first
    reference = f"{first}/{second}"
    if len(parts) >= 3 and parts[2] == "_history":
        return ("vread" if len(parts) > 3 else "history-instance"), reference
    return _ON_INSTANCE.get(method, "operation"), reference


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
        "outcome": _outcome(record.status),
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


def children_of(record: AccessRecord, reference: str | None = None) -> tuple[str, ...]:
    """Every child the access concerned: read or written, named by its URL (``reference``, when the caller
    has it from ``interaction_of`` already), its token or a Bundle entry."""
    if reference is None:
        _, reference = interaction_of(record.method, record.path)
    patient = record.principal.patient if record.principal is not None else None
    if not record.entities and not patient and not (reference and reference.startswith("Patient/")):
        return tuple(sorted(record.children))  # most accesses: what the request noted
    found = set(record.children)
    if patient:
        found.add(patient)
    for named in (reference, *(entity.reference for entity in record.entities)):
        if named and named.startswith("Patient/") and named.count("/") == 1:
            found.add(named.split("/", 1)[1])
    return tuple(sorted(found))


class Journaled(NamedTuple):
    """An access as the journal and the audit log keep it: its AuditEvent's id, the record, and ``line``,
    the compact JSON of both (made on the request's path, so it is small and quick to make; the
    AuditEvent is made from it when someone reads it: ``stored_event``)."""

    id: str
    record: AccessRecord
    line: bytes


def journal_entry(record: AccessRecord, id: str | None = None) -> Journaled:
    principal = record.principal
    who = None
    if principal is not None:
        who = [principal.subject, principal.client_id, principal.fhir_user, principal.organization, principal.patient]
    id = id or time_ordered_id()
    line = orjson.dumps(
        {
            "id": id,
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "status": record.status,
            "client": record.client_address,
            "recorded": to_micros(record.recorded),
            "principal": who,
            "entities": [[entity.reference, entity.interaction, entity.status] for entity in record.entities],
            "children": record.children,
        }
    )
    return Journaled(id, record, line)


def journaled(line: bytes) -> Journaled:
    """The entry a journal line (or an audit log row) holds."""
    fields = orjson.loads(line)
    who = fields["principal"]
    principal = None
    if who is not None:
        subject, client_id, fhir_user, organization, patient = who
        principal = Principal(
            subject=subject,
            client_id=client_id,
            scopes=(),
            fhir_user=fhir_user,
            organization=organization,
            patient=patient,
        )
    record = AccessRecord(
        method=fields["method"],
        path=fields["path"],
        query=fields["query"],
        status=fields["status"],
        client_address=fields["client"],
        principal=principal,
        recorded=from_micros(fields["recorded"]),
        entities=tuple(AuditedEntity(*entity) for entity in fields["entities"]),
        children=tuple(fields["children"]),
    )
    return Journaled(fields["id"], record, line.rstrip(b"\n"))


def audit_row(entry: Journaled) -> AuditRow:
    """The audit log's row of one access: the columns it is searched by, and the entry itself."""
    record, principal = entry.record, entry.record.principal
    _, reference = interaction_of(record.method, record.path)
    agent = (principal.fhir_user or principal.client_id) if principal is not None else None
    children = children_of(record, reference)
    if any(len(child) > 64 or "\x00" in child for child in children):  # a URL's say: kept whole in the event
        children = tuple(sorted({child for child in (_column(id, 64) for id in children) if child}))
    return AuditRow(
        id=entry.id,
        recorded=to_micros(record.recorded),
        agent=_column(agent, 255),
        entity_type=_column(reference.split("/", 1)[0], 64) if reference else None,
        outcome=_outcome(record.status),
        children=children,
        content=entry.line,
    )


def stored_event(content: bytes) -> dict[str, Any]:
    """The AuditEvent an audit log row holds. Rows keep the journal's entry, made into an AuditEvent when
    read; the first audit logs kept the AuditEvent itself."""
    if content.startswith(b'{"resourceType"'):
        stored: dict[str, Any] = fhir_json.loads(content)
        return stored
    entry = journaled(content)
    event = audit_event(entry.record)
    return {"resourceType": event.pop("resourceType"), "id": entry.id, **event}


def _outcome(status: int) -> str:
    return "0" if status < 400 else ("4" if status < 500 else "8")


def _column(value: str | None, size: int) -> str | None:
    """A value a search column can hold whatever the URL or token said (the AuditEvent keeps it whole): a
    row the audit log refused would hold back every access after it."""
    return value.replace("\x00", "")[:size] or None if value else None


@dataclass(frozen=True)
class Rotated:
    """The journal moved on from ``segment``: once what came before is stored, the segment goes."""

    segment: Segment


@dataclass(frozen=True)
class Barrier:
    """Told once everything journaled before it is in the audit log (or the writer gave up)."""

    done: Callable[[], None]


class AuditTrail:
    """The journal every access is written to before it is answered, and the thread that stores what
    the journal holds in the audit log, in batches."""

    def __init__(self, log: AuditLog, journal: AuditJournal, *, max_pending: int = 10_000) -> None:
        self.log = log
        self.journal = journal
        # Filled by the requests and emptied by the writer every GATHER_SECONDS, without waking it for
        # each access (a wake-up per request cost the event loop more than the journal write).
        self._pending: deque[Journaled | Rotated | Barrier | None] = deque()
        self._max_pending = max_pending
        self._wake = threading.Event()  # someone is waiting: the writer goes at once
        self._thread = threading.Thread(target=self._run, name="fhirbridge-audit", daemon=True)
        self._segment: Segment | None = None
        self._journal_lock = threading.Lock()
        self._stopping = threading.Event()
        # Set when the writer gave up on a batch (stopping with the audit log unreachable): its segments
        # are kept for the next start-up to replay instead of being deleted.
        self._unstored = False

    @property
    def pending(self) -> int:
        """Accesses journaled and not yet handed to the audit log (a gauge for /metrics)."""
        return len(self._pending)

    def start(self) -> None:
        """Replay what dead processes left in the journal, then take accesses."""
        self.replay()
        self._segment = self.journal.new_segment()
        self._thread.start()

    def replay(self) -> int:
        """Store the accesses of the journal segments no live process holds; returns how many."""
        replayed = 0
        for segment in self.journal.orphans():
            entries = []
            for line in lines_of(segment):
                try:
                    entries.append(journaled(line))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    log.error("an unreadable line in the audit journal %s was skipped: %r", segment.path, line[:200])
            try:
                for start in range(0, len(entries), REPLAY_BATCH):
                    chunk = entries[start : start + REPLAY_BATCH]
                    self.log.append_missing([audit_row(entry) for entry in chunk])
            except BaseException:
                segment.close()
                raise
            replayed += len(entries)
            log.warning("replayed %d accesses from the audit journal %s", len(entries), segment.path.name)
            segment.discard()
        return replayed

    async def commit(self, record: AccessRecord) -> None:
        """Return once ``record`` is in the journal; raise (OSError) when it could not be put there."""
        entry = journal_entry(record)
        with self._journal_lock:
            segment = self._segment
            if segment is None:
                raise OSError("the audit trail is not running")
            segment.append(entry.line + b"\n")
            rotated = None
            if segment.lines >= SEGMENT_LINES:
                self._segment, rotated = self.journal.new_segment(), Rotated(segment)
        self._pending.append(entry)
        if rotated is not None:
            self._pending.append(rotated)
        while len(self._pending) > self._max_pending:  # the audit log is behind: wait rather than hold more
            self._wake.set()
            await asyncio.sleep(0.005)

    async def caught_up(self) -> None:
        """Return once what this process journaled until now is in the audit log."""
        if not self._thread.is_alive():
            return
        loop = asyncio.get_running_loop()
        reached: asyncio.Future[None] = loop.create_future()

        def done() -> None:
            loop.call_soon_threadsafe(_settle, reached)

        self._pending.append(Barrier(done))
        self._wake.set()
        await reached

    def wait_caught_up(self, timeout: float = 30) -> bool:
        """``caught_up`` for a caller outside the server's event loop."""
        if not self._thread.is_alive():
            return True
        reached = threading.Event()
        self._pending.append(Barrier(reached.set))
        self._wake.set()
        return reached.wait(timeout)

    def stop(self, timeout: float = 10) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._pending.append(None)
            self._wake.set()
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = self._gather()
            pending: list[Journaled] = []
            for item in batch:
                if isinstance(item, Journaled):
                    pending.append(item)
                    if len(pending) < BATCH_SIZE:
                        continue
                self._store(pending)
                pending = []
                if isinstance(item, Rotated):
                    self._let_go(item.segment)
                elif isinstance(item, Barrier):
                    item.done()
                elif item is None:  # stop: everything before it is stored (or kept in the journal)
                    with self._journal_lock:
                        segment, self._segment = self._segment, None
                    if segment is not None:
                        self._let_go(segment)
                    return
            self._store(pending)

    def _gather(self) -> list[Journaled | Rotated | Barrier | None]:
        """What the requests left since the last look, every GATHER_SECONDS or at once when someone waits.
        The requests are not waiting for it, and a batch costs two statements and a commit whatever its
        size, so larger ones leave more of the machine to the requests."""
        self._wake.wait(GATHER_SECONDS)
        self._wake.clear()
        batch = []
        while self._pending:
            batch.append(self._pending.popleft())
        return batch

    def _store(self, pending: list[Journaled]) -> None:
        """Append ``pending`` to the audit log, trying again until it takes them; while stopping, once."""
        wait, longest = RETRY_SECONDS
        while pending:
            try:
                self.log.append([audit_row(entry) for entry in pending])
                return
            except Exception:
                log.exception("could not store %d audit events; they stay in the journal", len(pending))
                if self._stopping.is_set():
                    self._unstored = True
                    return
                time.sleep(wait)
                wait = min(wait * 2, longest)

    def _let_go(self, segment: Segment) -> None:
        if self._unstored:
            segment.close()  # the next start-up replays it
        else:
            segment.discard()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def now() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "AccessRecord",
    "AuditTrail",
    "Journaled",
    "audit_event",
    "audit_row",
    "children_of",
    "interaction_of",
    "journal_entry",
    "journaled",
    "stored_event",
]
