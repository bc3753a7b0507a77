"""Current-version reads on SQLite: one dedicated connection, and recently read versions kept in memory.

The cache is exact, not eventually consistent. SQLite tells a connection whether any *other*
connection (in this process or another one) has committed since the connection last asked:
``PRAGMA data_version`` changes. Every read asks first, and the moment the answer changes the whole
cache is dropped, so a version served from memory is always the one a database read would return.
All writes go through the repository's pooled connections, never this one, so they are seen too.

Under a steady stream of writes the cache is dropped again and again and reads fall back to the
database; it pays when reads outnumber writes, which is how a shared plan of care is used (read by the
whole team, changed by a few). Memory is bounded by the bytes of content held; the oldest entries go
first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine

from fhirbridge.storage.contract import StoredVersion

Row = tuple[Any, ...]

# The cache a request's read brought up to date (each request runs in a task of its own, with its own
# context): what the same request asks next (its caller's relations: ``epoch``) is answered as the cache
# stands, without asking SQLite again; a check made after the request began is as fresh as the answer
# needs. A write transaction forgets it (``forget_checked``): it may have committed since.
_CHECKED: ContextVar[SqliteCurrentReads | None] = ContextVar("fhirbridge_sqlite_checked", default=None)


def forget_checked() -> None:
    """After a commit: the request's next question goes to SQLite again."""
    _CHECKED.set(None)


class SqliteCurrentReads:
    def __init__(self, engine: Engine, sql: str, to_version: Callable[[Row], StoredVersion], *, max_bytes: int) -> None:
        self._sql = sql
        self._to_version = to_version
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        # Held for the repository's life (returned to the pool by close); the pool's connect hook has
        # set the same pragmas on it as on every other connection.
        self._pooled = engine.raw_connection()
        self._connection: Any = self._pooled.driver_connection
        self._data_version: int | None = None
        self._epochs: dict[tuple[str, ...], int] = {}  # epochs of sets of types as of _data_version
        self._cache: dict[tuple[str, str], StoredVersion] = {}
        self._cached_bytes = 0

    def read(self, resource_type: str, id: str) -> StoredVersion | None:
        key = (resource_type, id)
        with self._lock:
            self._drop_if_changed()
            _CHECKED.set(self)
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            row: Row | None = self._connection.execute(self._sql, key).fetchone()
            if row is None:
                return None
            version = self._to_version(row)
            self._keep(key, version)
            return version

    def generation(self) -> int:
        """A number that changes whenever anyone has committed to the database since it was last asked
        (what else the server keeps while nothing changes, such as a caller's relations, keys on it)."""
        with self._lock:
            self._drop_if_changed()
            assert self._data_version is not None
            return int(self._data_version)

    def epoch(self, resource_types: tuple[str, ...]) -> int:
        """How many transactions that wrote one of ``resource_types`` have committed (schema.type_epochs),
        read again only when someone has committed."""
        with self._lock:
            if _CHECKED.get() is not self:
                self._drop_if_changed()
            known = self._epochs.get(resource_types)
            if known is None:
                marks = ", ".join("?" for _ in resource_types)
                sql = f"SELECT coalesce(sum(epoch), 0) FROM type_epochs WHERE resource_type IN ({marks})"
                known = self._epochs[resource_types] = int(self._connection.execute(sql, resource_types).fetchone()[0])
            return known

    def _drop_if_changed(self) -> None:
        data_version = self._connection.execute("PRAGMA data_version").fetchone()[0]
        if data_version != self._data_version:
            self._data_version = data_version
            self._cache.clear()
            self._cached_bytes = 0
            self._epochs.clear()

    def _keep(self, key: tuple[str, str], version: StoredVersion) -> None:
        size = len(version.content or b"")
        if size > self._max_bytes:
            return
        while self._cached_bytes + size > self._max_bytes:
            oldest = next(iter(self._cache))
            self._cached_bytes -= len(self._cache.pop(oldest).content or b"")
        self._cache[key] = version
        self._cached_bytes += size

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self._pooled.close()


__all__ = ["SqliteCurrentReads", "forget_checked"]
