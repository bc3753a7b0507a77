"""The SQL repository: one implementation for SQLite and PostgreSQL (SQLAlchemy Core).

Its parts: the engines (engines.py), the writes of one transaction (write_transaction.py), the point reads
(rows.py; sqlite_reads.py and postgres_reads.py keep their connections), the routing of clients' reads to
PostgreSQL replicas (replica_routing.py). What runs in each write transaction besides (the search index,
the subscriptions) and the migrations of the schema are given to it: fhirbridge/composition.py wires them.

Concurrency: writers take turns as write_transaction.py says; on SQLite WAL mode lets readers carry on
meanwhile, and the writers of one process queue in it (``_write_connection``).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from fhirbridge.storage import schema
from fhirbridge.storage.clock import to_micros
from fhirbridge.storage.contract import HistoryPage, StoredVersion
from fhirbridge.storage.driver import UNBOUNDED_OPTION, current_cancellation, driver_sql, refusal
from fhirbridge.storage.engines import WRITE_OPTION, create_sql_engine, is_sqlite_file
from fhirbridge.storage.epochs import EPOCH_SQL, POSTGRES_EPOCH_TYPES, READ_EPOCH
from fhirbridge.storage.migrations import Migration, applied_versions, migrate
from fhirbridge.storage.postgres_reads import PostgresPointReads
from fhirbridge.storage.replica_routing import (
    ReadPositionLost,
    ReplicaRouter,
    create_positions_table,
    record_position,
)
from fhirbridge.storage.replicas import POSITIONS_TABLE, ReplicaSet, on_primary
from fhirbridge.storage.rows import READ_SQL, VREAD_SQL, point_version, row_version
from fhirbridge.storage.sqlite_reads import SqliteCurrentReads, forget_checked
from fhirbridge.storage.write_transaction import (
    IndexChain,
    Indexer,
    RetryableWrite,
    SqlWriteTransaction,
    advisory_key,
    take_advisory_lock,
)

T = TypeVar("T")
MAX_WRITE_ATTEMPTS = 8
# version_id is an INTEGER column (32 bits on PostgreSQL): no version beyond it exists.
MAX_VERSION_ID = 2**31 - 1
MIGRATION_LOCK = "schema-migrations"


class SqlRepository:
    def __init__(
        self,
        engine: Engine,
        *,
        indexer: Indexer | None = None,
        migrations: Sequence[Migration] = (),
        read_cache_bytes: int = 0,
        query_timeout_seconds: float = 0.0,
        replicas: ReplicaSet | None = None,
    ) -> None:
        """``indexer``: what runs in each write transaction for every version written (none: nothing).
        ``migrations``: the schema's, which ``migrate`` applies and ``pending_migrations`` checks (none: a
        repository that knows no schema, such as a readiness check's). ``query_timeout_seconds``: the bound
        ``engine`` puts on each statement (create_sql_engine), for the message a client gets when a
        statement runs past it. ``replicas``: PostgreSQL streaming replicas of ``engine``'s database that
        clients' reads may go to (replicas.py); started here."""
        self.engine = engine
        self.query_timeout_seconds = query_timeout_seconds
        self.dialect = engine.dialect.name
        self.indexer = indexer
        self.migrations = tuple(migrations)
        self._local_writers: AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext()
        )
        self._read_sql = driver_sql(READ_SQL, engine.dialect)
        self._vread_sql = driver_sql(VREAD_SQL, engine.dialect)
        if replicas is not None and self.dialect != "postgresql":
            raise ValueError("read replicas need a PostgreSQL primary")
        self._replicas = replicas
        if replicas is not None:
            create_positions_table(engine)  # before the point-read connections prepare statements on it
        self._postgres_reads = (
            PostgresPointReads(engine, POSTGRES_EPOCH_TYPES, positions=POSITIONS_TABLE if replicas else None)
            if self.dialect == "postgresql"
            else None
        )
        # Where clients' reads go; None in the view ``primary`` returns: every read there goes to the primary.
        self._routing: ReplicaRouter | None = None
        if replicas is not None:
            assert self._postgres_reads is not None
            self._routing = ReplicaRouter(replicas, self._postgres_reads, engine.dialect)
            replicas.start()
        # Only a database file can be watched for other connections' commits (sqlite_reads.py).
        self._current_reads = (
            SqliteCurrentReads(engine, READ_SQL, point_version, max_bytes=read_cache_bytes)
            if read_cache_bytes > 0 and is_sqlite_file(engine)
            else None
        )

    @property
    def has_replicas(self) -> bool:
        return self._replicas is not None

    def primary(self) -> SqlRepository:
        """This repository with every read on the primary, for what must be exact as of now whoever reads:
        the callers' relations (kept by the primary's epochs, below), readiness, the metrics' queue count.
        It shares this repository's connections: only this repository is disposed."""
        view = copy.copy(self)
        view._routing = None
        return view

    def _replica_point_read(self, sql: str, params: tuple[Any, ...]) -> tuple[bool, tuple[Any, ...] | None]:
        """(whether a replica answered, its row)."""
        return self._routing.point_read(sql, params) if self._routing is not None else (False, None)

    @contextmanager
    def _read_connection(self) -> Iterator[Connection]:
        replica_connection = self._routing.connection() if self._routing is not None else None
        if replica_connection is None:
            with self.engine.connect() as conn:
                yield conn
        else:
            with replica_connection as conn:
                yield conn

    def generation(self) -> int | None:
        """Changes whenever anyone commits (SQLite files with the read cache on); None: not known."""
        return self._current_reads.generation() if self._current_reads is not None else None

    def epoch(self, resource_types: tuple[str, ...], conn: Connection | None = None) -> int | None:
        """Changes whenever a transaction that wrote one of ``resource_types`` commits, in any process
        (SQLite files with the read cache on, where asking costs a query only after someone committed);
        None: not known. On PostgreSQL, for the POSTGRES_EPOCH_TYPES, at a round trip: on ``conn`` when the
        caller is in a write transaction (what it has committed, as its next statement sees it), else on a
        connection kept for it."""
        if self._current_reads is not None:
            return self._current_reads.epoch(resource_types)
        if self._postgres_reads is not None and POSTGRES_EPOCH_TYPES.issuperset(resource_types):
            read_with = READ_EPOCH.get()
            if read_with is not None and frozenset(resource_types) == POSTGRES_EPOCH_TYPES:
                return read_with  # as of this request's read (read_async), asked in the same round trip
            sql = driver_sql(EPOCH_SQL.format(marks=", ".join("?" for _ in resource_types)), self.engine.dialect)
            if conn is not None:
                # Not the kept connection: concurrent writers took turns on it, one round trip each.
                return int(conn.exec_driver_sql(sql, tuple(resource_types)).scalar_one())
            row = self._postgres_reads.fetch_one(sql, resource_types)
            return int(row[0]) if row is not None else 0
        return None

    def migrate(self) -> list[int]:
        with self._write_connection() as conn:
            # Building an index over a large store may take longer than any request should.
            conn = conn.execution_options(**{UNBOUNDED_OPTION: True})
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                # Workers starting together migrate one at a time: the next one finds the versions
                # applied (SQLite: BEGIN IMMEDIATE has made this the only writer already).
                take_advisory_lock(conn, MIGRATION_LOCK)
            return migrate(conn, self.migrations)

    def pending_migrations(self) -> list[int]:
        """The versions of this repository's migrations the store has not applied (raises when the
        database cannot be reached)."""
        with self.engine.connect() as conn:
            has_table = sa.inspect(conn).has_table(schema.schema_migrations.name)
            applied = applied_versions(conn) if has_table else set()
        return sorted({migration.version for migration in self.migrations} - applied)

    @contextmanager
    def _write_connection(self, after_commit: Callable[[Connection], None] | None = None) -> Iterator[Connection]:
        # SQLite has one writer at a time. Writers of this process queue here, and the next one starts
        # the moment the last commits; left to SQLite's busy handler they would poll with growing
        # sleeps and leave the database idle between transactions. Other processes still wait in it.
        with self._local_writers, self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn
            if after_commit is not None:
                after_commit(conn)

    @contextmanager
    def write(self) -> Iterator[SqlWriteTransaction]:
        # Whatever is read while the transaction is open (reference checks, the version before) is read
        # where it writes.
        try:
            with on_primary() if self._replicas is not None else nullcontext():
                after_commit = record_position if self._replicas is not None else None
                with self._write_connection(after_commit) as conn:
                    tx = SqlWriteTransaction(conn, self.indexer)
                    yield tx
                    tx.flush()  # not reached when the work failed: then it all rolls back
        finally:
            # It may have committed past what the request's read saw: its next question goes to the store.
            READ_EPOCH.set(None)
            forget_checked()

    def run_write(self, work: Callable[[SqlWriteTransaction], T]) -> T:
        """Run ``work(tx)`` in a write transaction, retrying when a concurrent writer won a race."""
        # Statements on the driver (storage/driver.py) raise the driver's own errors, unwrapped.
        operational_errors = (OperationalError, self.engine.dialect.loaded_dbapi.OperationalError)
        with self._refusing():
            for attempt in range(MAX_WRITE_ATTEMPTS):
                try:
                    with self.write() as tx:
                        return work(tx)
                except (RetryableWrite, *operational_errors) as exc:
                    if not isinstance(exc, RetryableWrite) and not _is_transient(exc):
                        raise
                    if attempt == MAX_WRITE_ATTEMPTS - 1:
                        raise
                    time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    @contextmanager
    def _refusing(self) -> Iterator[None]:
        """Database errors the request caused (too costly, an unstorable value) become the client's error."""
        try:
            yield
        except Exception as exc:
            refused = refusal(exc, seconds=self.query_timeout_seconds, cancellation=current_cancellation())
            if refused is None:
                raise
            raise refused from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading. Its statements stop when the request's client goes away, if it
        runs under a ``QueryCancellation`` (storage/driver.py)."""
        cancellation = current_cancellation()
        with self._refusing(), self._read_connection() as conn:
            if cancellation is None:
                yield conn
            else:
                with cancellation.watching(conn):
                    yield conn

    def read(self, resource_type: str, id: str) -> StoredVersion | None:
        if self._current_reads is not None:
            return self._current_reads.read(resource_type, id)
        answered, row = self._replica_point_read(self._read_sql, (resource_type, id))
        if not answered:
            row = self._point_read(self._read_sql, (resource_type, id))
        return point_version(row) if row is not None else None

    async def read_async(self, resource_type: str, id: str) -> StoredVersion | None:
        """``read`` for the server's event loop: on PostgreSQL the loop serves others while it waits."""
        if self._postgres_reads is None:
            return self.read(resource_type, id)
        if self._routing is not None:
            answered, row = await self._routing.read_current(resource_type, id)
            if answered:
                return point_version(row) if row is not None else None
        row, epoch = await self._postgres_reads.read_current(resource_type, id)
        # What the request asks of the epoch next (its caller's relations) is answered from this read.
        READ_EPOCH.set(epoch)
        return point_version(row) if row is not None else None

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredVersion | None:
        if not 0 < version_id <= MAX_VERSION_ID:
            return None
        answered, row = self._replica_point_read(self._vread_sql, (resource_type, id, version_id))
        if answered:
            return point_version(row) if row is not None else None
        row = self._point_read(self._vread_sql, (resource_type, id, version_id))
        return point_version(row) if row is not None else None

    def _point_read(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self._postgres_reads is not None:
            return self._postgres_reads.fetch_one(sql, params)
        # A pooled DBAPI connection: pre-ping applies on checkout, and the pool's reset on return (a
        # rollback) ends the transaction psycopg opens implicitly for the SELECT.
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params)
                row: tuple[Any, ...] | None = cursor.fetchone()
            finally:
                cursor.close()
            return row
        finally:
            connection.close()

    def history(
        self,
        *,
        resource_type: str | None = None,
        id: str | None = None,
        since: datetime | None = None,
        at: datetime | None = None,
        count: int,
        offset: int = 0,
        till_seq: int | None = None,
    ) -> HistoryPage:
        v = schema.resource_versions
        conditions: list[Any] = []
        if resource_type is not None:
            conditions.append(v.c.resource_type == resource_type)
        if id is not None:
            conditions.append(v.c.id == id)
        if since is not None:
            conditions.append(v.c.last_updated >= to_micros(since))
        if at is not None:
            conditions.append(v.c.last_updated <= to_micros(at))
        with self.connect() as conn:
            page = self._history_page(conn, conditions, count, offset, till_seq)
        if page is None:
            with on_primary(), self.connect() as conn:
                page = self._history_page(conn, conditions, count, offset, till_seq)
        assert page is not None
        return page

    def _history_page(
        self, conn: Connection, conditions: list[Any], count: int, offset: int, till_seq: int | None
    ) -> HistoryPage | None:
        """None: ``conn`` is a replica's that has not replayed the snapshot a client is paging through."""
        v = schema.resource_versions
        last_seq = sa.select(sa.func.coalesce(sa.func.max(v.c.seq), 0))
        if till_seq is None:
            till_seq = conn.execute(last_seq).scalar_one()
        elif conn.engine is not self.engine and conn.execute(last_seq).scalar_one() < till_seq:
            return None
        conditions = [*conditions, v.c.seq <= till_seq]
        total = conn.execute(sa.select(sa.func.count()).select_from(v).where(*conditions)).scalar_one()
        rows = conn.execute(sa.select(v).where(*conditions).order_by(v.c.seq.desc()).limit(count).offset(offset)).all()
        return HistoryPage([row_version(row) for row in rows], int(total), int(till_seq))

    def iter_current(self, resource_type: str | None = None) -> Iterator[StoredVersion]:
        r = schema.resources
        query = sa.select(r).where(r.c.deleted.is_(False)).order_by(r.c.pk)
        if resource_type is not None:
            query = query.where(r.c.resource_type == resource_type)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield row_version(row)

    def dispose(self) -> None:
        if self._current_reads is not None:
            self._current_reads.close()
        if self._postgres_reads is not None:
            self._postgres_reads.close()
        if self._replicas is not None:
            self._replicas.stop()
        self.engine.dispose()


def _is_transient(exc: Exception) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    return "locked" in message or "deadlock" in message or "could not serialize" in message


__all__ = [
    "POSTGRES_EPOCH_TYPES",
    "WRITE_OPTION",
    "IndexChain",
    "Indexer",
    "ReadPositionLost",
    "RetryableWrite",
    "SqlRepository",
    "SqlWriteTransaction",
    "advisory_key",
    "create_sql_engine",
]
