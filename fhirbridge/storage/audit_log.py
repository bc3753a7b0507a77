"""The audit log: an append-only table of AuditEvents, written in batches, read by a privacy officer.

An access is one row (the AuditEvent as JSON, with the columns a privacy officer searches by: when,
who, what kind of resource, the outcome) and one row per child it touched. Nothing here updates or
deletes a row. Writing a row costs one insert in a batch, not a resource with its versions and its
search index, which is what made every secured read several times dearer than an unsecured one.

A SQLite store keeps its audit log in a file of its own beside the data (``<file>.audit``): the data
file's readers cache what they read until someone commits to it, and an access committed to the log
for every read would otherwise empty that cache at every request. PostgreSQL keeps it in the same
database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Engine, Index, Integer, LargeBinary, MetaData, String, Table
from sqlalchemy.engine import make_url

from fhirbridge.storage.sql import create_sql_engine

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
    Column("content", LargeBinary, nullable=False),  # the AuditEvent, JSON
)
Index("ix_audit_log_recorded", audit_log.c.recorded)
Index("ix_audit_log_agent", audit_log.c.agent, audit_log.c.recorded)
Index("ix_audit_log_entity_type", audit_log.c.entity_type, audit_log.c.recorded)

audit_child = Table(
    "audit_log_child",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("patient", String(64), nullable=False),
)
Index("ix_audit_log_child", audit_child.c.patient, audit_child.c.seq)


@dataclass(frozen=True)
class AuditRow:
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
        with engine.begin() as conn:
            metadata.create_all(conn, checkfirst=True)

    @classmethod
    def open(cls, database_url: str) -> AuditLog:
        return cls(create_sql_engine(audit_log_url(database_url)))

    @classmethod
    def beside(cls, engine: Engine) -> AuditLog:
        """The audit log of the store ``engine`` serves: its own file for SQLite, else the same database
        through the same connection pool (no second pool to size, open and close)."""
        url = engine.url.render_as_string(hide_password=False)
        if audit_log_url(url) != url:
            return cls.open(url)
        return cls(engine, owns_engine=False)

    def append(self, rows: Sequence[AuditRow]) -> None:
        """Commit ``rows`` in one transaction (returns once they are durable as the database makes them)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            for row in rows:
                inserted = conn.execute(
                    audit_log.insert().values(
                        id=row.id,
                        recorded=row.recorded,
                        agent=row.agent,
                        entity_type=row.entity_type,
                        outcome=row.outcome,
                        children=len(row.children),
                        content=row.content,
                    )
                ).inserted_primary_key
                assert inserted is not None
                seq = inserted[0]
                if row.children:
                    conn.execute(audit_child.insert(), [{"seq": seq, "patient": child} for child in row.children])

    def read(self, id: str) -> AuditRow | None:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(audit_log).where(audit_log.c.id == id)).first()
            if found is None:
                return None
            children = conn.execute(sa.select(audit_child.c.patient).where(audit_child.c.seq == found.seq))
            return _row(found, tuple(children.scalars()))

    def search(self, query: AuditQuery) -> tuple[list[bytes], int | None]:
        """One page of matching AuditEvents, newest first, and the seq to continue after (None: last page)."""
        log, child = audit_log, audit_child
        conditions: list[sa.ColumnElement[bool]] = []
        if query.visible_children is not None:
            allowed = sorted(query.visible_children)
            touched = sa.select(child.c.seq).where(child.c.seq == log.c.seq)
            outside = touched.where(child.c.patient.not_in(allowed)) if allowed else touched
            conditions += [log.c.children > 0, ~sa.exists(outside)]
        if query.patient is not None:
            conditions.append(log.c.seq.in_(sa.select(child.c.seq).where(child.c.patient == query.patient)))
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
        if self._owns_engine:
            self.engine.dispose()


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


__all__ = ["AuditLog", "AuditQuery", "AuditRow", "audit_child", "audit_log", "audit_log_url"]
