"""The SQL repository: one implementation for SQLite and PostgreSQL (SQLAlchemy Core).

Concurrency: on PostgreSQL a writer locks the current row (``SELECT ... FOR UPDATE``) so versions of
one resource are assigned one at a time; a new id written by two clients at once collides on the unique
key and the loser retries. On SQLite every write transaction starts with ``BEGIN IMMEDIATE``, which
serialises writers; WAL mode lets readers carry on meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from fhirbridge.formats import json as fhir_json
from fhirbridge.storage import schema
from fhirbridge.storage.clock import from_micros, instant, now_micros, to_micros
from fhirbridge.storage.contract import HistoryPage, Resource, StoredVersion
from fhirbridge.storage.migrations import MIGRATIONS, Migration, migrate

T = TypeVar("T")
WRITE_OPTION = "fhirbridge_write"
MAX_WRITE_ATTEMPTS = 8


class Indexer(Protocol):
    """Keeps the search index of one resource in step with its current version."""

    def reindex(self, conn: Connection, resource_pk: int, resource_type: str, resource: Resource | None) -> None: ...


class IndexChain:
    """Several index hooks run in order, in the same transaction."""

    def __init__(self, *indexers: Indexer) -> None:
        self.indexers = indexers

    def reindex(self, conn: Connection, resource_pk: int, resource_type: str, resource: Resource | None) -> None:
        for indexer in self.indexers:
            indexer.reindex(conn, resource_pk, resource_type, resource)


class RetryableWrite(Exception):
    """A concurrent writer got there first; the whole transaction is retried."""


def _row_version(row: Any, method: str | None = None) -> StoredVersion:
    return StoredVersion(
        resource_type=row.resource_type,
        id=row.id,
        version_id=row.version_id,
        last_updated=from_micros(row.last_updated),
        deleted=bool(row.deleted),
        content=bytes(row.content) if row.content is not None else None,
        method=method or getattr(row, "method", None) or "PUT",
    )


class SqlWriteTransaction:
    def __init__(self, conn: Connection, indexer: Indexer | None) -> None:
        self._conn = conn
        self._indexer = indexer
        self._locking = conn.dialect.name == "postgresql"

    def connection(self) -> Connection:
        return self._conn

    def _current_row(self, resource_type: str, id: str) -> Any:
        r = schema.resources
        query = sa.select(r).where(r.c.resource_type == resource_type, r.c.id == id)
        if self._locking:
            query = query.with_for_update()
        return self._conn.execute(query).first()

    def current(self, resource_type: str, id: str) -> StoredVersion | None:
        row = self._current_row(resource_type, id)
        return _row_version(row) if row is not None else None

    def put(self, resource_type: str, id: str, resource: Resource, *, method: str) -> StoredVersion:
        row = self._current_row(resource_type, id)
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
        values = {
            "version_id": version_id,
            "last_updated": micros,
            "deleted": False,
            "content": content,
        }
        pk = self._store_current(resource_type, id, row, values)
        self._record_version(resource_type, id, values, method)
        if self._indexer is not None:
            self._indexer.reindex(self._conn, pk, resource_type, resource)
        created = row is None or bool(row.deleted)
        return StoredVersion(resource_type, id, version_id, moment, False, content, method, created)

    def delete(self, resource_type: str, id: str) -> StoredVersion | None:
        row = self._current_row(resource_type, id)
        if row is None or row.deleted:
            return None
        micros = max(now_micros(), row.last_updated + 1000)
        values = {"version_id": row.version_id + 1, "last_updated": micros, "deleted": True, "content": None}
        pk = self._store_current(resource_type, id, row, values)
        self._record_version(resource_type, id, values, "DELETE")
        if self._indexer is not None:
            self._indexer.reindex(self._conn, pk, resource_type, None)
        return StoredVersion(resource_type, id, values["version_id"], from_micros(micros), True, None, "DELETE")

    def _store_current(self, resource_type: str, id: str, row: Any, values: dict[str, Any]) -> int:
        r = schema.resources
        if row is None:
            try:
                with self._conn.begin_nested():
                    result = self._conn.execute(r.insert().values(resource_type=resource_type, id=id, **values))
            except IntegrityError as exc:
                raise RetryableWrite from exc
            pk = result.inserted_primary_key
            assert pk is not None
            return int(pk[0])
        self._conn.execute(r.update().where(r.c.pk == row.pk).values(**values))
        return int(row.pk)

    def _record_version(self, resource_type: str, id: str, values: dict[str, Any], method: str) -> None:
        self._conn.execute(
            schema.resource_versions.insert().values(resource_type=resource_type, id=id, method=method, **values)
        )


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
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.indexer = indexer
        self.migrations = migrations or MIGRATIONS

    def migrate(self) -> list[int]:
        with self._write_connection() as conn:
            return migrate(conn, self.migrations)

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[SqlWriteTransaction]:
        with self._write_connection() as conn:
            yield SqlWriteTransaction(conn, self.indexer)

    def run_write(self, work: Callable[[SqlWriteTransaction], T]) -> T:
        """Run ``work(tx)`` in a write transaction, retrying when a concurrent writer won a race."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            try:
                with self.write() as tx:
                    return work(tx)
            except (RetryableWrite, OperationalError) as exc:
                if isinstance(exc, OperationalError) and not _is_transient(exc):
                    raise
                if attempt == MAX_WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def read(self, resource_type: str, id: str) -> StoredVersion | None:
        r = schema.resources
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(r).where(r.c.resource_type == resource_type, r.c.id == id)).first()
        return _row_version(row) if row is not None else None

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredVersion | None:
        v = schema.resource_versions
        query = sa.select(v).where(v.c.resource_type == resource_type, v.c.id == id, v.c.version_id == version_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _row_version(row) if row is not None else None

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
        with self.engine.connect() as conn:
            if till_seq is None:
                till_seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(v.c.seq), 0))).scalar_one()
            conditions.append(v.c.seq <= till_seq)
            total = conn.execute(sa.select(sa.func.count()).select_from(v).where(*conditions)).scalar_one()
            rows = conn.execute(
                sa.select(v).where(*conditions).order_by(v.c.seq.desc()).limit(count).offset(offset)
            ).all()
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
        self.engine.dispose()


def _is_transient(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "locked" in message or "deadlock" in message or "could not serialize" in message


def create_sql_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(database_url)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


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
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    return engine


def open_repository(database_url: str, *, indexer: Indexer | None = None, migrate_schema: bool = True) -> SqlRepository:
    if indexer is None:
        # Search and subscriptions build on storage, so they are imported late. Subscriptions come second:
        # their criteria are evaluated against the index just written.
        from fhirbridge.search.indexer import SearchIndexer
        from fhirbridge.subscriptions.trigger import SubscriptionTrigger

        indexer = IndexChain(SearchIndexer(), SubscriptionTrigger())
    repository = SqlRepository(create_sql_engine(database_url), indexer=indexer)
    if migrate_schema:
        repository.migrate()
    return repository


__all__ = [
    "IndexChain",
    "Indexer",
    "RetryableWrite",
    "SqlRepository",
    "SqlWriteTransaction",
    "create_sql_engine",
    "open_repository",
]
