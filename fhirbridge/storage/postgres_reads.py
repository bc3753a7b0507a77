"""Point reads on PostgreSQL through one autocommit connection of their own.

A read checked out of the pool pays a round trip for the pre-ping and SQLAlchemy's pool bookkeeping
before it asks its own question, more than the question costs. read and vread (the interactions
clients make most) use one connection kept for them instead: detached from the pool, in autocommit
(so no snapshot is held between reads), with psycopg preparing the two statements after a few uses.
A broken connection is replaced and the read asked again once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine


class PostgresPointReads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._connection: Any = None
        self._broken: type[Exception] = engine.dialect.loaded_dbapi.OperationalError

    def fetch_one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        with self._lock:
            for attempt in range(2):
                connection = self._connection or self._connect()
                try:
                    row: tuple[Any, ...] | None = connection.execute(sql, params).fetchone()
                    return row
                except self._broken:
                    self._discard()
                    if attempt:
                        raise
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        pooled = self._engine.raw_connection()
        connection = pooled.driver_connection
        assert connection is not None
        pooled.detach()  # ours from now on: the pool neither resets nor reuses it
        connection.autocommit = True
        self._connection = connection
        return connection

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(self._broken):
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._discard()


__all__ = ["PostgresPointReads"]
