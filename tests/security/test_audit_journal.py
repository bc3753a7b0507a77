"""The audit journal: what a dead process journaled is replayed once, what a live one holds is left alone."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import AuditedEntity
from fhirbridge.security.audit import AccessRecord, AuditTrail, audit_event, journal_entry, journaled, stored_event
from fhirbridge.security.principal import Principal
from fhirbridge.storage.audit_journal import AuditJournal, journal_directory
from fhirbridge.storage.audit_log import AuditLog, AuditQuery, audit_log
from tests.support import backend_url

COORDINATOR = Principal(
    subject="ana", client_id="portal", scopes=(), fhir_user="Practitioner/ana", organization="Organization/home"
)


def access(n: int, principal: Principal | None = COORDINATOR) -> AccessRecord:
    return AccessRecord(
        method="POST",
        path="/",
        query=f"n={n}",
        status=200,
        client_address="10.0.0.7",
        principal=principal,
        recorded=datetime(2026, 12, 3, 9, 30, n % 60, 123456, tzinfo=UTC),
        entities=(AuditedEntity(f"Patient/child-{n}", "read", 200), AuditedEntity("Goal/g1", "update", 412)),
        children=(f"child-{n}",),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def log(store: str) -> Iterator[AuditLog]:
    audit_log = AuditLog.open(store)
    yield audit_log
    audit_log.dispose()


def dead_segment(journal: AuditJournal, lines: list[bytes]) -> Path:
    """A segment as a killed process leaves it: written, unlocked."""
    segment = journal.new_segment()
    for line in lines:
        segment.append(line)
    segment.close()
    return segment.path


def stored(log: AuditLog) -> list[dict[str, object]]:
    found = []
    for id in log.ids():
        row = log.read(id)
        assert row is not None
        found.append(stored_event(row.content))
    return found


@pytest.mark.parametrize("principal", [COORDINATOR, None])
def test_a_journal_line_makes_the_same_audit_event_again(principal: Principal | None) -> None:
    entry = journal_entry(access(7, principal), "e1")
    again = journaled(entry.line + b"\n")
    assert (again.id, again.line) == ("e1", entry.line)
    assert audit_event(again.record) == audit_event(entry.record)
    assert stored_event(entry.line) == {**audit_event(entry.record), "id": "e1"}


def test_start_up_replays_what_a_dead_process_journaled_once(log: AuditLog, store: str, tmp_path: Path) -> None:
    journal = AuditJournal(tmp_path / "journal", store)
    entries = [journal_entry(access(n), f"event-{n}") for n in range(5)]
    lines = [entry.line + b"\n" for entry in entries]
    path = dead_segment(journal, [*lines, lines[0][:40]])  # it died writing a sixth line
    trail = AuditTrail(log, journal)
    trail.start()
    try:
        events = stored(log)
        assert sorted(str(event["id"]) for event in events) == [f"event-{n}" for n in range(5)]
        assert not path.exists()
        replayed = next(event for event in events if event["id"] == "event-3")
        assert replayed == {**audit_event(entries[3].record), "id": "event-3"}
        # The same lines again (a process that died after storing some of them): nothing twice.
        dead_segment(journal, lines)
        assert trail.replay() == 5
        assert len(stored(log)) == 5
    finally:
        trail.stop()


def test_a_segment_its_writer_still_holds_is_left_alone(log: AuditLog, store: str, tmp_path: Path) -> None:
    journal = AuditJournal(tmp_path / "journal", store)
    held = journal.new_segment()  # a live process's segment: open and locked
    held.append(journal_entry(access(1)).line + b"\n")
    try:
        assert AuditTrail(log, journal).replay() == 0
        assert held.path.exists() and stored(log) == []
    finally:
        held.close()
    with open(held.path, "rb") as file:  # once its writer is gone, the lock is free
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_another_stores_journal_is_not_replayed_here(log: AuditLog, store: str, tmp_path: Path) -> None:
    other = AuditJournal(tmp_path / "journal", "sqlite:////elsewhere/other.sqlite3")
    path = dead_segment(other, [journal_entry(access(1)).line + b"\n"])
    assert AuditTrail(log, AuditJournal(tmp_path / "journal", store)).replay() == 0
    assert path.exists() and stored(log) == []


def test_answered_accesses_are_stored_behind_and_the_segment_goes_at_stop(
    log: AuditLog, store: str, tmp_path: Path
) -> None:
    journal = AuditJournal(tmp_path / "journal", store)
    trail = AuditTrail(log, journal)
    trail.start()

    async def answer() -> None:
        for n in range(20):
            await trail.commit(access(n))
        await trail.caught_up()

    asyncio.run(answer())
    assert len(stored(log)) == 20
    trail.stop()
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_failing_audit_log_keeps_the_journal_for_the_next_start(
    log: AuditLog, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = AuditJournal(tmp_path / "journal", store)
    trail = AuditTrail(log, journal)
    trail.start()

    def refuse(rows: object) -> None:
        raise OSError("the database is gone")

    monkeypatch.setattr(log, "append", refuse)
    asyncio.run(trail.commit(access(1)))
    trail.stop()  # gives up on the batch: its segment stays
    monkeypatch.undo()
    assert len(list((tmp_path / "journal").iterdir())) == 1
    again = AuditTrail(log, journal)
    again.start()
    again.stop()
    assert len(stored(log)) == 1
    assert list((tmp_path / "journal").iterdir()) == []


def test_journal_directories() -> None:
    assert journal_directory("sqlite:////srv/fhir/store.sqlite3", Path("/x")) == Path(
        "/srv/fhir/store.sqlite3.audit.journal"
    )
    assert journal_directory("postgresql+psycopg://db.example/fhir", Path("/var/lib/fhirbridge/journal")) == Path(
        "/var/lib/fhirbridge/journal"
    )
    assert os.path.isdir(journal_directory("sqlite://", Path("/x")))


def test_an_audit_log_from_before_keeps_its_events_and_their_children(store: str) -> None:
    """The first audit logs kept each AuditEvent whole, and its children by the log's sequence number."""
    event = {"resourceType": "AuditEvent", "id": "old-1", "recorded": "2026-11-01T10:00:00Z"}
    first = AuditLog.open(store)
    try:
        with first.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    id="old-1",
                    recorded=1,
                    agent="Practitioner/ana",
                    entity_type="Goal",
                    outcome="0",
                    children=1,
                    content=fhir_json.dumps(event),
                )
            )
            seq = conn.execute(sa.select(audit_log.c.seq)).scalar_one()
            conn.execute(sa.text("CREATE TABLE audit_log_child (seq BIGINT NOT NULL, patient VARCHAR(64) NOT NULL)"))
            conn.execute(sa.text("INSERT INTO audit_log_child (seq, patient) VALUES (:seq, 'jordan')"), {"seq": seq})
    finally:
        first.dispose()
    upgraded = AuditLog.open(store)
    try:
        row = upgraded.read("old-1")
        assert row is not None and row.children == ("jordan",)
        assert stored_event(row.content) == event
        contents, _ = upgraded.search(AuditQuery(visible_children=frozenset({"jordan"}), patient="jordan"))
        assert [stored_event(content)["id"] for content in contents] == ["old-1"]
        with upgraded.engine.connect() as conn:
            assert not sa.inspect(conn).has_table("audit_log_child")
    finally:
        upgraded.dispose()


def test_audit_events_kept_as_resources_move_into_the_audit_log(store: str) -> None:
    """A store from before the audit log kept AuditEvents as resources: migration 6 puts them in the log,
    searchable by child, each once; the resources stay."""
    from fhirbridge.composition import open_repository
    from fhirbridge.storage.audit_log import move_events_kept_as_resources
    from fhirbridge.storage.migrations import MIGRATIONS

    assert any(migration.apply.__name__ == "_move_audit_events" for migration in MIGRATIONS)
    event = {
        "resourceType": "AuditEvent",
        "id": "earlier-1",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "recorded": "2026-10-01T08:00:00.000Z",
        "outcome": "0",
        "agent": [{"who": {"reference": "Practitioner/ana"}, "requestor": True}],
        "source": {"observer": {"display": "fhirbridge"}},
        "entity": [{"what": {"reference": "Patient/jordan"}}, {"what": {"reference": "Goal/jordan-goal"}}],
    }
    repository = open_repository(store)
    try:
        repository.run_write(lambda tx: tx.put("AuditEvent", "earlier-1", dict(event), method="PUT"))
        for _ in range(2):  # again: nothing twice
            with repository.engine.begin() as conn:
                assert move_events_kept_as_resources(conn) == 1
        assert repository.read("AuditEvent", "earlier-1") is not None
    finally:
        repository.dispose()
    log = AuditLog.open(store)
    try:
        row = log.read("earlier-1")
        assert row is not None
        assert (row.agent, row.entity_type, row.children) == ("Practitioner/ana", "Patient", ("jordan",))
        kept = stored_event(row.content)
        assert (kept["id"], kept["entity"]) == ("earlier-1", event["entity"])
        contents, _ = log.search(AuditQuery(visible_children=frozenset({"jordan"}), patient="jordan"))
        assert [stored_event(content)["id"] for content in contents] == ["earlier-1"]
    finally:
        log.dispose()
