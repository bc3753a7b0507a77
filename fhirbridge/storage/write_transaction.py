"""The writes of one database transaction of the SQL repository (sql.py), and the hooks they run.

Concurrency: on PostgreSQL a writer locks the current row (``SELECT ... FOR UPDATE``) so versions of
one resource are assigned one at a time; a new id written by two clients at once collides on the unique
key and the loser retries (``RetryableWrite``). Writers that must take turns over something with no row
yet (conditional creates under one criteria) hold a transaction-scoped advisory lock named after it
(``lock``). On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (engines.py), which
serialises writers.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection

from fhirbridge.formats import json as fhir_json
from fhirbridge.storage.clock import from_micros, instant, now_micros
from fhirbridge.storage.contract import Resource, StoredVersion
from fhirbridge.storage.driver import driver_sql, execute, insert_rows
from fhirbridge.storage.epochs import BUMP_EPOCH_SQL, POSTGRES_EPOCH_TYPES
from fhirbridge.storage.rows import POINT_COLUMNS, point_version
from fhirbridge.storage.transaction_state import note_written, written_types


class Indexer(Protocol):
    """A hook run in the write transaction for each version written, after the version is stored: the
    search index, the subscriptions' trigger (wired together by fhirbridge/composition.py)."""

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


_CURRENT_SQL = f"SELECT pk, {POINT_COLUMNS} FROM resources WHERE resource_type = ? AND id = ?"
_INSERT_CURRENT_SQL = (
    "INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content) VALUES (?, ?, ?, ?, ?, ?)"
)
_UPDATE_CURRENT_SQL = "UPDATE resources SET version_id = ?, last_updated = ?, deleted = ?, content = ? WHERE pk = ?"
_VERSION_COLUMNS = ("resource_type", "id", "version_id", "last_updated", "method", "deleted", "content")
# Released by PostgreSQL itself when the transaction ends, committed, rolled back or cut off.
_ADVISORY_LOCK_SQL = "SELECT pg_advisory_xact_lock(?)"


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
        # A resource referred to is held only against change: writers referring to it share the lock.
        self._referenced_sql = driver_sql(_CURRENT_SQL + (" FOR SHARE" if postgres else ""), conn.dialect)
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

    def _current_row(self, resource_type: str, id: str, sql: str | None = None) -> _CurrentRow | None:
        cursor = execute(self._conn, sql or self._current_sql, (resource_type, id))
        row = cursor.fetchone()
        cursor.close()
        return _CurrentRow(*row) if row is not None else None

    def current(self, resource_type: str, id: str) -> StoredVersion | None:
        row = self._current_row(resource_type, id)
        return point_version(row[1:]) if row is not None else None

    def referenced(self, resource_type: str, id: str) -> StoredVersion | None:
        row = self._current_row(resource_type, id, self._referenced_sql)
        return point_version(row[1:]) if row is not None else None

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
                execute(self._conn, driver_sql(BUMP_EPOCH_SQL, self._conn.dialect), (resource_type,)).close()
            self._bumped |= bumped
        if self._indexer is not None:
            self._indexer.flush(self._conn)


def advisory_key(name: str) -> int:
    """The signed 64-bit key PostgreSQL's advisory locks take, the same in every process (``hash`` is not).
    Two names sharing a key only make their writers take turns needlessly."""
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"fhirbridge-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


def take_advisory_lock(conn: Connection, name: str) -> None:
    """PostgreSQL: wait until no other transaction holds the lock called ``name``, then hold it until this
    one ends (workers starting together migrate, or create a schema, one at a time)."""
    execute(conn, driver_sql(_ADVISORY_LOCK_SQL, conn.dialect), (advisory_key(name),)).close()


def _resource_first(resource: Resource) -> Resource:
    """Readers expect ``resourceType`` then ``id`` first; the rest keeps the client's order."""
    ordered: Resource = {"resourceType": resource["resourceType"], "id": resource["id"]}
    ordered.update((k, v) for k, v in resource.items() if k not in ordered)
    return ordered


__all__ = ["IndexChain", "Indexer", "RetryableWrite", "SqlWriteTransaction", "advisory_key", "take_advisory_lock"]
