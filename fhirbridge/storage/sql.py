"""The SQL repository: one implementation for SQLite and PostgreSQL (SQLAlchemy Core).

Concurrency: on PostgreSQL a writer locks the current row (``SELECT ... FOR UPDATE``) so versions of
one resource are assigned one at a time; a new id written by two clients at once collides on the unique
key and the loser retries. Writers that must take turns over something with no row yet (conditional
creates under one criteria) hold a transaction-scoped advisory lock named after it (``lock``). On SQLite
every write transaction starts with ``BEGIN IMMEDIATE``, which serialises writers; WAL mode lets readers
carry on meanwhile.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from fhirbridge.formats import json as fhir_json
from fhirbridge.storage import schema
from fhirbridge.storage.clock import from_micros, instant, now_micros, to_micros
from fhirbridge.storage.contract import HistoryPage, Resource, StoredVersion
from fhirbridge.storage.driver import (
    UNBOUNDED_OPTION,
    current_cancellation,
    driver_sql,
    execute,
    insert_rows,
    install_statement_budget,
    refusal,
)
from fhirbridge.storage.migrations import MIGRATIONS, Migration, applied_versions, migrate
from fhirbridge.storage.postgres_reads import PostgresPointReads
from fhirbridge.storage.replicas import (
    APPLICATION_NAME,
    CREATE_POSITIONS_SQL,
    POSITION_SQL,
    POSITIONS_TABLE,
    RECORD_POSITION_SQL,
    REPLAYED_NOW_SQL,
    ReadingClient,
    Replica,
    ReplicaSet,
    current_client,
    on_primary,
    writing_client,
)
from fhirbridge.storage.sqlite_reads import SqliteCurrentReads
from fhirbridge.storage.transaction_state import note_written, written_types

T = TypeVar("T")
WRITE_OPTION = "fhirbridge_write"
SQLITE_CACHE_KIB = 32 * 1024  # page cache per connection
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
MAX_WRITE_ATTEMPTS = 8
# version_id is an INTEGER column (32 bits on PostgreSQL): no version beyond it exists.
MAX_VERSION_ID = 2**31 - 1


class Indexer(Protocol):
    """Keeps the search index of one resource in step with its current version."""

    def reindex(
        self, conn: Connection, resource_pk: int, resource_type: str, resource: Resource | None, *, fresh: bool = False
    ) -> None:
        """``fresh``: the resource has no index rows yet (its first version), so there is nothing to delete."""

    def flush(self, conn: Connection) -> None:
        """Write whatever ``reindex`` held back; called before the transaction commits."""


class IndexChain:
    """Several index hooks run in order, in the same transaction."""

    def __init__(self, *indexers: Indexer) -> None:
        self.indexers = indexers

    def reindex(
        self, conn: Connection, resource_pk: int, resource_type: str, resource: Resource | None, *, fresh: bool = False
    ) -> None:
        for indexer in self.indexers:
            indexer.reindex(conn, resource_pk, resource_type, resource, fresh=fresh)

    def flush(self, conn: Connection) -> None:
        for indexer in self.indexers:
            indexer.flush(conn)


class RetryableWrite(Exception):
    """A concurrent writer got there first; the whole transaction is retried."""


class ReadPositionLost(RuntimeError):
    """A write committed, but the client's read position could not be recorded (replicas.py). The write is
    not acknowledged (the client gets an error, as when a commit's answer is lost): acknowledged, it could
    be followed by a replica's read that does not see it. Never retried: the write is already stored."""


def _row_version(row: Any) -> StoredVersion:
    """A version from a SQLAlchemy row of either table (only ``resource_versions`` has ``method``)."""
    point = (row.resource_type, row.id, row.version_id, row.last_updated, row.deleted, row.content)
    return _point_version((*point, getattr(row, "method", None) or "PUT"))


# Point reads (read and vread, the most frequent interactions) go to the driver directly: through a
# SQLAlchemy Connection the same primary-key SELECT costs ten times what the database spends on it.
_POINT_COLUMNS = "resource_type, id, version_id, last_updated, deleted, content"
_READ_SQL = f"SELECT {_POINT_COLUMNS} FROM resources WHERE resource_type = ? AND id = ?"
_VREAD_SQL = (
    f"SELECT {_POINT_COLUMNS}, method FROM resource_versions WHERE resource_type = ? AND id = ? AND version_id = ?"
)


def _point_version(row: tuple[Any, ...]) -> StoredVersion:
    resource_type, id, version_id, last_updated, deleted, content, *method = row
    return StoredVersion(
        resource_type=resource_type,
        id=id,
        version_id=version_id,
        last_updated=from_micros(last_updated),
        deleted=bool(deleted),
        content=bytes(content) if content is not None else None,
        method=method[0] if method else "PUT",
    )


_CURRENT_SQL = f"SELECT pk, {_POINT_COLUMNS} FROM resources WHERE resource_type = ? AND id = ?"
_INSERT_CURRENT_SQL = (
    "INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content) VALUES (?, ?, ?, ?, ?, ?)"
)
_UPDATE_CURRENT_SQL = "UPDATE resources SET version_id = ?, last_updated = ?, deleted = ?, content = ? WHERE pk = ?"
_VERSION_COLUMNS = ("resource_type", "id", "version_id", "last_updated", "method", "deleted", "content")
_BUMP_EPOCH_SQL = (
    "INSERT INTO type_epochs (resource_type, epoch) VALUES (?, 1) "
    "ON CONFLICT (resource_type) DO UPDATE SET epoch = type_epochs.epoch + 1"
)
# Released by PostgreSQL itself when the transaction ends, committed, rolled back or cut off.
_ADVISORY_LOCK_SQL = "SELECT pg_advisory_xact_lock(?)"
MIGRATION_LOCK = "schema-migrations"
# The types whose commits PostgreSQL counts in type_epochs: those a caller's relations are read from
# (security/server.py RELATION_SOURCES), so a server keeps each caller's relations until one of them
# changes instead of reading them for every request. These are written rarely; counting every type would
# make all the writers of a type take turns. A test holds the two lists together.
POSTGRES_EPOCH_TYPES = frozenset({"CareTeam", "Consent", "Patient"})
# The epoch a request's point read brought back with it (read_async), for the rest of that request (each
# request runs in a task of its own, with its own context); a write transaction forgets it on commit.
_READ_EPOCH: ContextVar[int | None] = ContextVar("fhirbridge_read_epoch", default=None)
_EPOCH_SQL = "SELECT coalesce(sum(epoch), 0) FROM type_epochs WHERE resource_type IN ({marks})"


class _CurrentRow(NamedTuple):
    pk: int
    resource_type: str
    id: str
    version_id: int
    last_updated: int
    deleted: bool
    content: bytes | None


class SqlWriteTransaction:
    """Writes of one database transaction. The fixed statements go to the driver (storage/driver.py).

    The history rows are inserted together when the transaction ends (``flush``), as the search index
    rows are: nothing reads ``resource_versions`` inside a write transaction.
    """

    def __init__(self, conn: Connection, indexer: Indexer | None) -> None:
        self._conn = conn
        self._indexer = indexer
        # Every written type on SQLite, whose writers take turns anyway; on PostgreSQL only the few types
        # a caller's access is derived from, as an epoch row makes each writer of its type wait for the
        # last one to commit.
        self._epoch_types = None if conn.dialect.name == "sqlite" else POSTGRES_EPOCH_TYPES
        self._bumped: set[str] = set()
        self._versions: list[tuple[Any, ...]] = []
        postgres = conn.dialect.name == "postgresql"
        # On PostgreSQL the current row is locked, so versions of one resource are assigned one at a time.
        self._current_sql = driver_sql(_CURRENT_SQL + (" FOR UPDATE" if postgres else ""), conn.dialect)
        self._insert_current_sql = driver_sql(_INSERT_CURRENT_SQL + (" RETURNING pk" if postgres else ""), conn.dialect)
        self._returning = postgres
        self._update_current_sql = driver_sql(_UPDATE_CURRENT_SQL, conn.dialect)
        self._lock_sql = driver_sql(_ADVISORY_LOCK_SQL, conn.dialect) if postgres else None
        self._integrity_error: type[Exception] = conn.dialect.loaded_dbapi.IntegrityError

    def connection(self) -> Connection:
        return self._conn

    def lock(self, name: str) -> None:
        if self._lock_sql is None:
            return  # SQLite: BEGIN IMMEDIATE gave this transaction the database's only write lock
        # Transactions run READ COMMITTED (PostgreSQL's default, never changed here), so each statement
        # after this one sees what the previous holder committed while this one waited.
        execute(self._conn, self._lock_sql, (advisory_key(name),)).close()

    def _current_row(self, resource_type: str, id: str) -> _CurrentRow | None:
        cursor = execute(self._conn, self._current_sql, (resource_type, id))
        row = cursor.fetchone()
        cursor.close()
        return _CurrentRow(*row) if row is not None else None

    def current(self, resource_type: str, id: str) -> StoredVersion | None:
        row = self._current_row(resource_type, id)
        return _point_version(row[1:]) if row is not None else None

    def put(
        self, resource_type: str, id: str, resource: Resource, *, method: str, fresh: bool = False
    ) -> StoredVersion:
        # A ``fresh`` id was just generated by the server, so there is no current row to read or lock.
        row = None if fresh else self._current_row(resource_type, id)
        version_id = row.version_id + 1 if row is not None else 1
        micros = now_micros()
        if row is not None and micros <= row.last_updated:
            micros = row.last_updated + 1000  # keep lastUpdated strictly increasing per resource
        moment = from_micros(micros)
        resource["id"] = id
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = str(version_id)
        meta["lastUpdated"] = instant(moment)
        resource["meta"] = {"versionId": meta.pop("versionId"), "lastUpdated": meta.pop("lastUpdated"), **meta}
        content = fhir_json.dumps(_resource_first(resource))
        pk = self._store_current(resource_type, id, row, version_id, micros, content)
        self._record_version(resource_type, id, version_id, micros, method, content)
        note_written(self._conn, resource_type)
        if self._indexer is not None:
            self._indexer.reindex(self._conn, pk, resource_type, resource, fresh=row is None)
        created = row is None or bool(row.deleted)
        return StoredVersion(resource_type, id, version_id, moment, False, content, method, created)

    def delete(self, resource_type: str, id: str) -> StoredVersion | None:
        row = self._current_row(resource_type, id)
        if row is None or row.deleted:
            return None
        micros = max(now_micros(), row.last_updated + 1000)
        version_id = row.version_id + 1
        pk = self._store_current(resource_type, id, row, version_id, micros, None)
        self._record_version(resource_type, id, version_id, micros, "DELETE", None)
        note_written(self._conn, resource_type)
        if self._indexer is not None:
            self._indexer.reindex(self._conn, pk, resource_type, None)
        return StoredVersion(resource_type, id, version_id, from_micros(micros), True, None, "DELETE")

    def _store_current(
        self,
        resource_type: str,
        id: str,
        row: _CurrentRow | None,
        version_id: int,
        micros: int,
        content: bytes | None,
    ) -> int:
        deleted = content is None
        if row is not None:
            execute(self._conn, self._update_current_sql, (version_id, micros, deleted, content, row.pk)).close()
            return row.pk
        try:
            cursor = execute(
                self._conn, self._insert_current_sql, (resource_type, id, version_id, micros, deleted, content)
            )
        except self._integrity_error as exc:
            # Another writer created the same id first: the whole transaction is retried.
            raise RetryableWrite from exc
        pk = cursor.fetchone()[0] if self._returning else cursor.lastrowid
        cursor.close()
        return int(pk)

    def _record_version(
        self, resource_type: str, id: str, version_id: int, micros: int, method: str, content: bytes | None
    ) -> None:
        self._versions.append((resource_type, id, version_id, micros, method, content is None, content))

    def flush(self) -> None:
        """Insert what the transaction held back; called before it commits."""
        if self._versions:
            insert_rows(self._conn, "resource_versions", _VERSION_COLUMNS, self._versions)
            self._versions = []
        bumped = set(written_types(self._conn)) - self._bumped
        if self._epoch_types is not None:
            bumped &= self._epoch_types
        if bumped:
            for resource_type in sorted(bumped):
                execute(self._conn, driver_sql(_BUMP_EPOCH_SQL, self._conn.dialect), (resource_type,)).close()
            self._bumped |= bumped
        if self._indexer is not None:
            self._indexer.flush(self._conn)


def advisory_key(name: str) -> int:
    """The signed 64-bit key PostgreSQL's advisory locks take, the same in every process (``hash`` is not).
    Two names sharing a key only make their writers take turns needlessly."""
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"fhirbridge-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


def _resource_first(resource: Resource) -> Resource:
    """Readers expect ``resourceType`` then ``id`` first; the rest keeps the client's order."""
    ordered: Resource = {"resourceType": resource["resourceType"], "id": resource["id"]}
    ordered.update((k, v) for k, v in resource.items() if k not in ordered)
    return ordered


class SqlRepository:
    def __init__(
        self,
        engine: Engine,
        *,
        indexer: Indexer | None = None,
        migrations: list[Migration] | None = None,
        read_cache_bytes: int = 0,
        query_timeout_seconds: float = 0.0,
        replicas: ReplicaSet | None = None,
    ) -> None:
        """``query_timeout_seconds``: the bound ``engine`` puts on each statement (create_sql_engine), for
        the message a client gets when a statement runs past it. ``replicas``: PostgreSQL streaming
        replicas of ``engine``'s database that clients' reads may go to (replicas.py); started here."""
        self.engine = engine
        self.query_timeout_seconds = query_timeout_seconds
        self.dialect = engine.dialect.name
        self.indexer = indexer
        self.migrations = migrations or MIGRATIONS
        self._local_writers: AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext()
        )
        self._read_sql = driver_sql(_READ_SQL, engine.dialect)
        self._vread_sql = driver_sql(_VREAD_SQL, engine.dialect)
        if replicas is not None and self.dialect != "postgresql":
            raise ValueError("read replicas need a PostgreSQL primary")
        self._replicas = replicas
        # False in the view ``primary`` returns: every read there goes to the primary.
        self._routing = replicas is not None
        if replicas is not None:
            with engine.begin() as conn:  # before the point-read connections prepare statements on it
                conn.exec_driver_sql(CREATE_POSITIONS_SQL)
            self._position_sql = driver_sql(POSITION_SQL, engine.dialect)
        self._postgres_reads = (
            PostgresPointReads(engine, POSTGRES_EPOCH_TYPES, positions=POSITIONS_TABLE if replicas else None)
            if self.dialect == "postgresql"
            else None
        )
        if replicas is not None:
            replicas.start()
        # Only a database file can be watched for other connections' commits (sqlite_reads.py).
        self._current_reads = (
            SqliteCurrentReads(engine, _READ_SQL, _point_version, max_bytes=read_cache_bytes)
            if read_cache_bytes > 0 and _is_sqlite_file(engine)
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
        view._routing = False
        return view

    # -- where a read goes (replicas.py) -------------------------------------------------------------

    def _reading_client(self) -> ReadingClient | None:
        """The client whose read may go to a replica now (None: this read goes to the primary)."""
        return current_client() if self._routing else None

    def _position(self, client: ReadingClient) -> int:
        """The LSN the client's reads must see, asked of the primary once per request."""
        if client.position is None:
            assert self._postgres_reads is not None
            row = self._postgres_reads.fetch_one(self._position_sql, (client.key,))
            client.position = int(row[0]) if row is not None else 0
        return client.position

    def _ready_replica(self, client: ReadingClient) -> tuple[Replica | None, list[Replica]]:
        """(a replica that serves this client now, or None; the fresh replicas)."""
        assert self._replicas is not None
        if not self._replicas.fresh():
            return None, []  # nothing to ask the primary about
        self._position(client)
        return self._replicas.choose(client)

    def _replica_point_read(self, sql: str, params: tuple[Any, ...]) -> tuple[bool, tuple[Any, ...] | None]:
        """(whether a replica answered, its row)."""
        client = self._reading_client()
        if client is None:
            return False, None
        replica, _ = self._ready_replica(client)
        if replica is None:
            return False, None
        try:
            row = replica.reads.fetch_one(sql, params)
        except (psycopg.Error, sa.exc.DBAPIError) as exc:  # a new connection's failure comes wrapped
            if not self._replica_failure(replica, exc):
                raise
            return False, None
        client.replica = replica
        return True, row

    def _replica_failure(self, replica: Replica, exc: BaseException) -> bool:
        """Whether ``exc`` is the replica's failure (then the read is asked of the primary), not the read's."""
        exc = getattr(exc, "orig", None) or exc
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return False  # the statement ran past its budget: too costly wherever it runs
        if isinstance(exc, psycopg.errors.SerializationFailure):
            return True  # cancelled by a conflict with replay: the replica is fine, this read goes elsewhere
        if isinstance(exc, psycopg.OperationalError):
            assert self._replicas is not None
            self._replicas.mark_down(replica, exc)
            return True
        return False

    @contextmanager
    def _read_connection(self) -> Iterator[Connection]:
        replica_connection = self._replica_connection()
        if replica_connection is None:
            with self.engine.connect() as conn:
                yield conn
        else:
            with replica_connection as conn:
                yield conn

    def _replica_connection(self) -> Connection | None:
        client = self._reading_client()
        if client is None:
            return None
        replica, fresh = self._ready_replica(client)
        candidate = replica or (fresh[0] if fresh else None)
        if candidate is None:
            return None
        try:
            conn = candidate.engine.connect()
            if replica is None:
                # Not known from the last poll to have replayed the client's position: asked now, in a
                # statement before the search's own, whose snapshots then include what was replayed.
                replayed = conn.exec_driver_sql(REPLAYED_NOW_SQL).scalar()
                if replayed is None or int(replayed) < self._position(client):
                    conn.close()
                    return None
                candidate.replayed = max(candidate.replayed, int(replayed))
        except (OperationalError, psycopg.OperationalError) as exc:
            assert self._replicas is not None
            self._replicas.mark_down(candidate, exc)
            return None
        client.replica = candidate
        return conn

    def generation(self) -> int | None:
        """Changes whenever anyone commits (SQLite files with the read cache on); None: not known."""
        return self._current_reads.generation() if self._current_reads is not None else None

    def epoch(self, resource_types: tuple[str, ...]) -> int | None:
        """Changes whenever a transaction that wrote one of ``resource_types`` commits, in any process
        (SQLite files with the read cache on, where asking costs a query only after someone committed);
        None: not known. On PostgreSQL, for the POSTGRES_EPOCH_TYPES, at a round trip on a connection kept
        for it."""
        if self._current_reads is not None:
            return self._current_reads.epoch(resource_types)
        if self._postgres_reads is not None and POSTGRES_EPOCH_TYPES.issuperset(resource_types):
            read_with = _READ_EPOCH.get()
            if read_with is not None and frozenset(resource_types) == POSTGRES_EPOCH_TYPES:
                return read_with  # as of this request's read (read_async), asked in the same round trip
            sql = driver_sql(_EPOCH_SQL.format(marks=", ".join("?" for _ in resource_types)), self.engine.dialect)
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
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(key)s)", {"key": advisory_key(MIGRATION_LOCK)})
            return migrate(conn, self.migrations)

    def pending_migrations(self) -> list[int]:
        """The versions of this release's migrations the store has not applied (raises when the
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
        with on_primary() if self._replicas is not None else nullcontext():
            after_commit = self._record_position if self._replicas is not None else None
            with self._write_connection(after_commit) as conn:
                tx = SqlWriteTransaction(conn, self.indexer)
                yield tx
                tx.flush()  # not reached when the work failed: then it all rolls back
        _READ_EPOCH.set(None)  # it may have moved the epoch past what the request's read saw

    def _record_position(self, conn: Connection) -> None:
        """After a client's write committed, before it is acknowledged: the client's reads from now on
        must see it, on whichever worker they land (replicas.py)."""
        client = writing_client()
        if client is None:
            return  # no client's request (notification delivery): nobody's reads to hold
        try:
            lsn = int(conn.exec_driver_sql(RECORD_POSITION_SQL, (client.key,)).scalar_one())
            conn.commit()
        except Exception as exc:
            raise ReadPositionLost("the write is stored, but the client's read position could not be") from exc
        client.position = max(client.position or 0, lsn)

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
        return _point_version(row) if row is not None else None

    async def read_async(self, resource_type: str, id: str) -> StoredVersion | None:
        """``read`` for the server's event loop: on PostgreSQL the loop serves others while it waits."""
        if self._postgres_reads is None:
            return self.read(resource_type, id)
        client = self._reading_client()
        if client is not None:
            answered, row = await self._replica_read_async(client, resource_type, id)
            if answered:
                return _point_version(row) if row is not None else None
        row, epoch = await self._postgres_reads.read_current(resource_type, id)
        # What the request asks of the epoch next (its caller's relations) is answered from this read.
        _READ_EPOCH.set(epoch)
        return _point_version(row) if row is not None else None

    async def _replica_read_async(
        self, client: ReadingClient, resource_type: str, id: str
    ) -> tuple[bool, tuple[Any, ...] | None]:
        """(whether a replica's answer serves the client, its row). The primary is asked the client's
        position with the epoch (one round trip) while a fresh replica is asked the read; the replica's
        row serves when the replica had replayed the position before it was asked (its last poll)."""
        assert self._replicas is not None and self._postgres_reads is not None
        fresh = self._replicas.fresh()
        if not fresh:
            return False, None
        replica = client.replica if client.replica in fresh else fresh[hash(id) % len(fresh)]
        replayed = replica.replayed  # before the replica's snapshot is taken: a lower bound of what it sees
        position, answer = await asyncio.gather(
            self._postgres_reads.read_position(client.key),
            replica.reads.read_current(resource_type, id),
            return_exceptions=True,
        )
        if isinstance(position, BaseException):
            raise position  # the primary's failure is the read's, as without replicas
        epoch, lsn = position
        _READ_EPOCH.set(epoch)  # the caller's relations are kept by the primary's epoch
        client.position = max(client.position or 0, lsn)
        if isinstance(answer, BaseException):
            if not isinstance(answer, psycopg.Error) or not self._replica_failure(replica, answer):
                raise answer
            return False, None
        if replayed < client.position:
            return False, None  # it may not show the client's last write: asked of the primary
        client.replica = replica
        return True, answer[0]

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredVersion | None:
        if not 0 < version_id <= MAX_VERSION_ID:
            return None
        answered, row = self._replica_point_read(self._vread_sql, (resource_type, id, version_id))
        if answered:
            return _point_version(row) if row is not None else None
        row = self._point_read(self._vread_sql, (resource_type, id, version_id))
        return _point_version(row) if row is not None else None

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
        return HistoryPage([_row_version(row) for row in rows], int(total), int(till_seq))

    def iter_current(self, resource_type: str | None = None) -> Iterator[StoredVersion]:
        r = schema.resources
        query = sa.select(r).where(r.c.deleted.is_(False)).order_by(r.c.pk)
        if resource_type is not None:
            query = query.where(r.c.resource_type == resource_type)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield _row_version(row)

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


def _is_sqlite_file(engine: Engine) -> bool:
    url = engine.url
    in_memory = not url.database or url.database == ":memory:" or url.query.get("mode") == "memory"
    return url.get_backend_name() == "sqlite" and not in_memory


def create_sql_engine(
    database_url: str,
    *,
    query_timeout_seconds: float = 0.0,
    bounded: bool = True,
    pool_size: int = 10,
    max_overflow: int = 20,
) -> Engine:
    """``query_timeout_seconds``: how long one statement may run (0: no limit); see driver.py. ``pool_size``
    and ``max_overflow``: PostgreSQL connections kept open and opened beyond them under load, per process
    (Settings.database_pool_size, database_max_overflow). ``bounded``
    False: no statement budget nor cancellation at all, for the server's own background writers (on SQLite
    the budget is a progress handler that calls back into Python every few thousand steps of a statement,
    taking the interpreter lock from the requests each time)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(database_url)
    else:
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "postgresql" and query_timeout_seconds > 0:
            url = _with_statement_timeout(url, query_timeout_seconds)
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
    if bounded:
        install_statement_budget(engine, query_timeout_seconds)
    return engine


def _with_statement_timeout(url: URL, seconds: float) -> URL:
    """The URL with ``-c statement_timeout`` added to the libpq startup options it may already carry (every
    connection made from it, the point-read ones included, starts with the bound: no round trip)."""
    options = url.query.get("options", "")
    existing = " ".join(options) if isinstance(options, tuple) else options
    timeout = f"-c statement_timeout={max(1, round(seconds * 1000))}"
    return url.update_query_dict({"options": f"{existing} {timeout}".strip()})


def _sqlite_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE can be issued for writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Index B-trees grow with the store, and each write touches pages all over them: SQLite's
        # default 2 MB page cache per connection made writes ~10% slower at 100,000 resources.
        # Memory-mapped reads save a copy per page (the mapping is the OS page cache, shared).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    return engine


def open_repository(
    database_url: str,
    *,
    indexer: Indexer | None = None,
    migrate_schema: bool = True,
    read_cache_bytes: int = 0,
    query_timeout_seconds: float = 30.0,
    pool_size: int = 10,
    max_overflow: int = 20,
    replica_urls: list[str] | tuple[str, ...] = (),
    replica_max_lag_seconds: float = 5.0,
) -> SqlRepository:
    """``read_cache_bytes``: memory for recently read current versions (SQLite files only; 0 turns it off).
    ``pool_size``, ``max_overflow``: see ``create_sql_engine``, for the primary and each replica.
    ``replica_urls``: PostgreSQL streaming replicas of the primary that clients' reads may go to while they
    lag by ``replica_max_lag_seconds`` at most (storage/replicas.py).

    ``query_timeout_seconds``: how long one statement may run (Settings.query_timeout_seconds; 0: no
    limit). Past it a read answers 422 too-costly (docs/search.md)."""
    if indexer is None:
        # Search and subscriptions build on storage, so they are imported late. Subscriptions come second:
        # their criteria are evaluated against the index just written.
        from fhirbridge.search.indexer import SearchIndexer
        from fhirbridge.subscriptions.trigger import SubscriptionTrigger

        indexer = IndexChain(SearchIndexer(), SubscriptionTrigger())
    engine = create_sql_engine(
        database_url, query_timeout_seconds=query_timeout_seconds, pool_size=pool_size, max_overflow=max_overflow
    )
    if migrate_schema:
        # Before the repository prepares its statements (and before any replica could serve a read).
        SqlRepository(engine, indexer=indexer).migrate()
    replicas = None
    if replica_urls:
        replicas = ReplicaSet(
            engine,
            [
                _replica(
                    url, query_timeout_seconds=query_timeout_seconds, pool_size=pool_size, max_overflow=max_overflow
                )
                for url in replica_urls
            ],
            max_lag_seconds=replica_max_lag_seconds,
        )
    return SqlRepository(
        engine,
        indexer=indexer,
        read_cache_bytes=read_cache_bytes,
        query_timeout_seconds=query_timeout_seconds,
        replicas=replicas,
    )


def _replica(url: str, *, query_timeout_seconds: float, pool_size: int, max_overflow: int) -> Replica:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError("a read replica must be a PostgreSQL URL")
    # Named in pg_stat_activity, so a replica's reads can be told from the monitor's and anyone else's.
    # A replica that does not answer must not hold a read for long: the primary answers it instead.
    marked = parsed.update_query_dict({"application_name": APPLICATION_NAME, "connect_timeout": "2"})
    engine = create_sql_engine(
        marked.render_as_string(hide_password=False),
        query_timeout_seconds=query_timeout_seconds,
        pool_size=pool_size,
        max_overflow=max_overflow,
    )
    name = f"{parsed.host or ''}:{parsed.port or 5432}/{parsed.database or ''}"
    return Replica(name, engine, PostgresPointReads(engine, frozenset()))


__all__ = [
    "POSTGRES_EPOCH_TYPES",
    "IndexChain",
    "Indexer",
    "ReadPositionLost",
    "RetryableWrite",
    "SqlRepository",
    "SqlWriteTransaction",
    "create_sql_engine",
    "open_repository",
]
