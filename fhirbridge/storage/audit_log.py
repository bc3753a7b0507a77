"""The audit log: an append-only table of AuditEvents, written in batches, read by a privacy officer.

An access is one row (what the audit trail keeps of it, from which its AuditEvent is made when read,
with the columns a privacy officer searches by: when, who, what kind of resource, the outcome) and one
row per child it touched. Nothing here updates or
deletes a row. Writing a row costs one insert in a batch, not a resource with its versions and its
search index, which is what made every secured read several times dearer than an unsecured one.

A SQLite store keeps its audit log in a file of its own beside the data (``<file>.audit``): the data
file's readers cache what they read until someone commits to it, and an access committed to the log
for every read would otherwise empty that cache at every request. PostgreSQL keeps it in the same
database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Engine, Index, Integer, LargeBinary, MetaData, String, Table
from sqlalchemy.engine import make_url

from fhirbridge.storage.driver import insert_values
from fhirbridge.storage.sql import WRITE_OPTION, create_sql_engine
from fhirbridge.storage.write_transaction import take_advisory_lock

metadata = MetaData()
Serial = BigInteger().with_variant(Integer(), "sqlite")

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("recorded", BigInteger, nullable=False),  # microseconds since the epoch, UTC
    Column("agent", String(255), nullable=True),  # Practitioner/7, Organization/x, or the OAuth client
    Column("entity_type", String(64), nullable=True),  # the type of resource the access was about
    Column("outcome", String(2), nullable=False),  # 0 success, 4 refused or invalid, 8 server error
    Column("children", Integer, nullable=False),  # how many children the access touched
    Column("content", LargeBinary, nullable=False),  # the access, JSON (security/audit.py stored_event)
)
Index("ix_audit_log_recorded", audit_log.c.recorded)
Index("ix_audit_log_agent", audit_log.c.agent, audit_log.c.recorded)
Index("ix_audit_log_entity_type", audit_log.c.entity_type, audit_log.c.recorded)

# The children an access touched, by the AuditEvent's id: known before the insert, so a batch is two
# executemany statements whatever its size (a key the database assigns would cost a round trip per row).
# Clustered by event (no rowid on SQLite): one B-tree fewer to write for every access.
audit_child = Table(
    "audit_log_children",
    metadata,
    Column("event", String(64), primary_key=True),
    Column("patient", String(64), primary_key=True),
    sqlite_with_rowid=False,
)
Index("ix_audit_log_children", audit_child.c.patient, audit_child.c.event)
EVENT_COLUMNS = ("id", "recorded", "agent", "entity_type", "outcome", "children", "content")
CHILD_COLUMNS = ("event", "patient")
MULTI_ROW = 500  # rows per INSERT: 3,500 parameters, within SQLite's and PostgreSQL's limits
# Where the first audit logs kept the children, by the log's sequence number (moved at open).
EARLIER_CHILD_TABLE = "audit_log_child"
SCHEMA_LOCK = "audit-log-schema"


class AuditRow(NamedTuple):
    """One access as the log stores it (a named tuple: the audit trail makes one for every request)."""

    id: str
    recorded: int
    agent: str | None
    entity_type: str | None
    outcome: str
    children: tuple[str, ...]
    content: bytes


@dataclass(frozen=True)
class AuditQuery:
    """What a privacy officer searches by, and whose accesses the caller may see.

    ``visible_children`` None: every access; otherwise only accesses touching children, all of them in
    the set (an access about no child, or about a child outside it, is not shown)."""

    visible_children: frozenset[str] | None
    patient: str | None = None
    agent: str | None = None
    entity_type: str | None = None
    outcome: str | None = None
    recorded_from: int | None = None  # inclusive, microseconds
    recorded_until: int | None = None  # exclusive
    after_seq: int | None = None
    count: int = 20


def audit_log_url(database_url: str) -> str:
    """Where a store keeps its audit log: beside a SQLite file, or in the same PostgreSQL database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return database_url
    return str(url.set(database=str(Path(url.database).with_suffix(Path(url.database).suffix + ".audit"))))


class AuditLog:
    def __init__(self, engine: Engine, *, owns_engine: bool = True) -> None:
        self.engine = engine
        self._owns_engine = owns_engine
        self._write_lock = threading.Lock()
        self._writer: sa.Connection | None = None
        with self._writing() as conn:
            if conn.dialect.name == "postgresql":  # workers starting together create the tables once
                take_advisory_lock(conn, SCHEMA_LOCK)
            metadata.create_all(conn, checkfirst=True)
            _move_earlier_children(conn)
        self._let_go_of_writer()  # kept for the audit trail's batches only, not for a log opened to be read

    def _let_go_of_writer(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """A write transaction; on SQLite it takes the write lock at its start (BEGIN IMMEDIATE), so the
        workers of one store sharing the file wait their turn instead of failing on a stale read.

        On a connection the log keeps between batches: checking one out of the pool for every batch cost a
        round trip (the pool's liveness ping) each time. One that failed is let go, and the next batch
        takes a new one."""
        with self._write_lock:
            conn = self._writer
            if conn is None or conn.closed or conn.invalidated:
                conn = self._writer = self.engine.connect().execution_options(**{WRITE_OPTION: True})
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                self._writer = None
                with suppress(Exception):
                    conn.close()
                raise

    @classmethod
    def open(cls, database_url: str) -> AuditLog:
        return cls(create_sql_engine(audit_log_url(database_url), bounded=False))

    @classmethod
    def beside(cls, engine: Engine) -> AuditLog:
        """The audit log of the store ``engine`` serves: its own file for SQLite, else the same database
        through the same connection pool (no second pool to size, open and close)."""
        url = engine.url.render_as_string(hide_password=False)
        if audit_log_url(url) != url:
            return cls.open(url)
        return cls(engine, owns_engine=False)

    def append(self, rows: Sequence[AuditRow]) -> None:
        """Commit ``rows`` in one transaction (returns once they are durable as the database makes them).

        One multi-row INSERT per table and up to MULTI_ROW rows: this runs in the background of every
        request a secured server answers, and a statement per row (even through ``executemany``) cost the
        requests' thread more than the insert itself, in hand-overs of the interpreter lock.
        """
        if not rows:
            return
        with self._writing() as conn:
            _insert(conn, rows)

    def append_missing(self, rows: Sequence[AuditRow]) -> None:
        """Commit those of ``rows`` not already in the log (a journal replayed after a crash may hold
        rows its writer had stored before it died)."""
        with self._writing() as conn:
            _insert_missing(conn, rows)

    def read(self, id: str) -> AuditRow | None:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(audit_log).where(audit_log.c.id == id)).first()
            if found is None:
                return None
            children = conn.execute(sa.select(audit_child.c.patient).where(audit_child.c.event == found.id))
            return _row(found, tuple(children.scalars()))

    def search(self, query: AuditQuery) -> tuple[list[bytes], int | None]:
        """One page of matching AuditEvents, newest first, and the seq to continue after (None: last page)."""
        log, child = audit_log, audit_child
        conditions: list[sa.ColumnElement[bool]] = []
        if query.visible_children is not None:
            allowed = sorted(query.visible_children)
            touched = sa.select(child.c.event).where(child.c.event == log.c.id)
            outside = touched.where(child.c.patient.not_in(allowed)) if allowed else touched
            conditions += [log.c.children > 0, ~sa.exists(outside)]
        if query.patient is not None:
            conditions.append(log.c.id.in_(sa.select(child.c.event).where(child.c.patient == query.patient)))
        if query.agent is not None:
            conditions.append(log.c.agent == query.agent)
        if query.entity_type is not None:
            conditions.append(log.c.entity_type == query.entity_type)
        if query.outcome is not None:
            conditions.append(log.c.outcome == query.outcome)
        if query.recorded_from is not None:
            conditions.append(log.c.recorded >= query.recorded_from)
        if query.recorded_until is not None:
            conditions.append(log.c.recorded < query.recorded_until)
        if query.after_seq is not None:
            conditions.append(log.c.seq < query.after_seq)
        select = (
            sa.select(log.c.seq, log.c.content).where(*conditions).order_by(log.c.seq.desc()).limit(query.count + 1)
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(select))
        more = len(rows) > query.count
        rows = rows[: query.count]
        return [bytes(row.content) for row in rows], (rows[-1].seq if more and rows else None)

    def ids(self) -> Iterable[str]:
        with self.engine.connect() as conn:
            yield from conn.execute(sa.select(audit_log.c.id).order_by(audit_log.c.seq)).scalars()

    def dispose(self) -> None:
        self._let_go_of_writer()
        if self._owns_engine:
            self.engine.dispose()


def _insert(conn: sa.Connection, rows: Sequence[AuditRow]) -> None:
    events = [
        (row.id, row.recorded, row.agent, row.entity_type, row.outcome, len(row.children), row.content) for row in rows
    ]
    children = [(row.id, child) for row in rows for child in row.children]
    for table, columns, values in (
        (audit_log.name, EVENT_COLUMNS, events),
        (audit_child.name, CHILD_COLUMNS, children),
    ):
        if conn.dialect.name == "postgresql":
            _copy(conn, table, columns, values)
            continue
        for start in range(0, len(values), MULTI_ROW):
            insert_values(conn, table, columns, values[start : start + MULTI_ROW])


def _copy(conn: sa.Connection, table: str, columns: tuple[str, ...], values: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL: ``values`` through COPY. A multi-row INSERT's text differs with every batch size, so the
    driver parsed its thousands of placeholders for every batch: most of what the audit writer cost."""
    if not values:
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
    finally:
        cursor.close()


def _insert_missing(conn: sa.Connection, rows: Sequence[AuditRow]) -> None:
    """``_insert`` those of ``rows`` the log does not hold yet (looked up by id, MULTI_ROW at a time)."""
    for start in range(0, len(rows), MULTI_ROW):
        chunk = rows[start : start + MULTI_ROW]
        ids = [row.id for row in chunk]
        stored = set(conn.execute(sa.select(audit_log.c.id).where(audit_log.c.id.in_(ids))).scalars())
        _insert(conn, [row for row in chunk if row.id not in stored])


def move_events_kept_as_resources(conn: sa.Connection) -> int:
    """AuditEvents a store kept as ordinary resources (before the audit log) into its audit log, each once,
    so a privacy officer searching the trail finds them too; the resources stay where they are (nothing of
    an audit trail is deleted). Returns how many there were. Migration 6."""
    from fhirbridge.storage.schema import resources

    query = sa.select(resources.c.content).where(
        resources.c.resource_type == "AuditEvent", resources.c.deleted.is_(False)
    )
    rows = [event_row(bytes(content)) for content in conn.execute(query).scalars() if content is not None]
    if not rows:
        return 0
    url = conn.engine.url.render_as_string(hide_password=False)
    if audit_log_url(url) == url:  # the same database: in the migration's own transaction
        metadata.create_all(conn, checkfirst=True)
        _insert_missing(conn, rows)
    else:
        log = AuditLog.open(url)
        try:
            log.append_missing(rows)
        finally:
            log.dispose()
    return len(rows)


def event_row(content: bytes) -> AuditRow:
    """The audit log's row of an AuditEvent kept whole (the columns from the event itself)."""
    event = orjson.loads(content)
    agents = event.get("agent") or [{}]
    who = agents[0].get("who") or {}
    agent = who.get("reference") or (who.get("identifier") or {}).get("value")
    named = [(entity.get("what") or {}) for entity in event.get("entity") or []]
    first = named[0] if named else {}
    entity_type = (first.get("reference") or first.get("display") or "").split("/", 1)[0] or None
    children = sorted(
        {
            what["reference"].split("/", 1)[1]
            for what in named
            if str(what.get("reference", "")).startswith("Patient/") and what["reference"].count("/") == 1
        }
    )
    recorded = datetime.fromisoformat(str(event.get("recorded", "1970-01-01T00:00:00+00:00")).replace("Z", "+00:00"))
    return AuditRow(
        id=str(event["id"]),
        recorded=int(recorded.timestamp() * 1_000_000),
        agent=str(agent)[:255] if agent else None,
        entity_type=entity_type[:64] if entity_type else None,
        outcome=str(event.get("outcome", "0"))[:2],
        children=tuple(child[:64] for child in children),
        content=content,
    )


def _move_earlier_children(conn: sa.Connection) -> None:
    """An audit log written before the children were kept by event id: move its rows, once."""
    if not sa.inspect(conn).has_table(EARLIER_CHILD_TABLE):
        return
    earlier = sa.table(EARLIER_CHILD_TABLE, sa.column("seq"), sa.column("patient"))
    moved = sa.select(audit_log.c.id, earlier.c.patient).join_from(earlier, audit_log, audit_log.c.seq == earlier.c.seq)
    conn.execute(audit_child.insert().from_select(["event", "patient"], moved))
    conn.execute(sa.text(f"DROP TABLE {EARLIER_CHILD_TABLE}"))


def _row(found: sa.Row[tuple[object, ...]], children: tuple[str, ...]) -> AuditRow:
    return AuditRow(
        id=str(found.id),
        recorded=int(found.recorded),
        agent=found.agent,
        entity_type=found.entity_type,
        outcome=str(found.outcome),
        children=children,
        content=bytes(found.content),
    )


__all__ = [
    "AuditLog",
    "AuditQuery",
    "AuditRow",
    "audit_child",
    "audit_log",
    "audit_log_url",
    "event_row",
    "move_events_kept_as_resources",
]
