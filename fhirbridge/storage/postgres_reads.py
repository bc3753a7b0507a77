"""Point reads on PostgreSQL through connections of their own.

A read checked out of the pool pays a round trip for the pre-ping and SQLAlchemy's pool bookkeeping
before it asks its own question, more than the question costs. read and vread (the interactions
clients make most) use connections kept for them instead: detached from the pool, in autocommit (so
no snapshot is held between reads), with psycopg preparing the statements after a few uses. A broken
connection is replaced and the read asked again once.

Two kinds: one blocking connection for callers in threads, and, for the server's event loop, a few
asyncio connections: while PostgreSQL answers one read the loop serves other requests, instead of
waiting a round trip per read (the server process would otherwise sit idle for most of each read).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from sqlalchemy import Engine

T = TypeVar("T")
# Enough for the reads one process has in flight at once; each is a PostgreSQL backend.
ASYNC_CONNECTIONS = 4


class PostgresPointReads:
    """``epoch_types`` empty: a replica's reads, which bring back no epoch (sql.py keeps epochs on the
    primary). ``positions``: the name of the table of clients' read positions (replicas.py), on the primary
    when it has replicas: its async connections then also answer ``read_position``."""

    def __init__(self, engine: Engine, epoch_types: frozenset[str], *, positions: str | None = None) -> None:
        self._engine = engine
        self._epoch_types = epoch_types
        self._positions = positions
        self._lock = threading.Lock()
        self._connection: Any = None
        self._broken: type[Exception] = engine.dialect.loaded_dbapi.OperationalError
        self._async: _AsyncReads | None = None

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

    def _reads(self) -> _AsyncReads:
        loop = asyncio.get_running_loop()
        reads = self._async
        if reads is None or reads.loop is not loop:  # connections belong to the loop that made them
            if reads is not None:
                reads.abandon()
            reads = self._async = _AsyncReads(self._engine, loop, self._epoch_types, self._positions)
        return reads

    async def read_current(self, resource_type: str, id: str) -> tuple[tuple[Any, ...] | None, int]:
        """The current row (``resource_type, id, version_id, last_updated, deleted, content``; None when
        there is none) and the epoch of the epoch types as of the same snapshot, awaited."""
        return await self._reads().read_current(resource_type, id)

    async def read_position(self, client: int) -> tuple[int, int]:
        """The epoch of the epoch types and the read position of ``client`` (0: none recorded), in one
        snapshot, awaited (the primary of a store with replicas)."""
        return await self._reads().read_position(client)

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
        if self._async is not None:
            self._async.abandon()
            self._async = None


class _AsyncReads:
    """Up to ASYNC_CONNECTIONS asyncio connections of one event loop, one read at a time on each.

    The read itself goes through libpq (psycopg's ``pq``) with a prepared statement and binary
    results: psycopg's cursor machinery around it costs more than the question does.
    """

    def __init__(
        self, engine: Engine, loop: asyncio.AbstractEventLoop, epoch_types: frozenset[str], positions: str | None
    ) -> None:
        self.loop = loop
        self._prepare = [_prepare_read(epoch_types)]
        if positions is not None:
            self._prepare.append(_prepare_position(epoch_types, positions))
        _, self._options = engine.dialect.create_connect_args(engine.url)
        self._idle: list[_Channel] = []
        self._opened = 0
        self._waiting: list[asyncio.Future[None]] = []

    async def read_current(self, resource_type: str, id: str) -> tuple[tuple[Any, ...] | None, int]:
        return await self._on_channel(lambda channel: channel.read(resource_type, id))

    async def read_position(self, client: int) -> tuple[int, int]:
        return await self._on_channel(lambda channel: channel.position(client))

    async def _on_channel(self, ask: Callable[[_Channel], Awaitable[T]]) -> T:
        for attempt in range(2):
            channel = await self._checkout()
            reusable = False
            try:
                answer = await ask(channel)
                reusable = True
                return answer
            except psycopg.OperationalError:  # the connection broke: a new one, once
                if attempt:
                    raise
            finally:
                # A read that failed or was cancelled midway may leave an answer on the wire.
                self._checkin(channel, reusable)
        raise AssertionError("unreachable")

    async def _checkout(self) -> _Channel:
        while not self._idle and self._opened >= ASYNC_CONNECTIONS:
            turn: asyncio.Future[None] = self.loop.create_future()
            self._waiting.append(turn)
            await turn
        if self._idle:
            return self._idle.pop()
        self._opened += 1
        try:
            connection = await psycopg.AsyncConnection.connect(autocommit=True, **self._options)
            for statement in self._prepare:
                await connection.execute(statement)
        except BaseException:
            self._opened -= 1
            raise
        return _Channel(connection, self.loop)

    def _checkin(self, channel: _Channel, reusable: bool) -> None:
        if reusable and not channel.broken:
            self._idle.append(channel)
        else:
            self._opened -= 1
            channel.close()
        while self._waiting:
            turn = self._waiting.pop(0)
            if not turn.done():
                turn.set_result(None)
                break

    def abandon(self) -> None:
        """Close the idle connections; from another loop (or at shutdown) without awaiting."""
        idle, self._idle = self._idle, []
        for channel in idle:
            channel.close()


class _Channel:
    """One connection whose socket stays registered with the loop: no readiness call per read."""

    def __init__(self, connection: psycopg.AsyncConnection[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._connection = connection  # held: the psycopg object closes its libpq connection when collected
        self._pgconn = connection.pgconn
        self._loop = loop
        self._socket = self._pgconn.socket
        self._answer: asyncio.Future[list[Any]] | None = None
        self._results: list[Any] = []
        self.broken = False
        loop.add_reader(self._socket, self._readable)

    @property
    def backend_pid(self) -> int:
        return int(self._pgconn.backend_pid)

    async def read(self, resource_type: str, id: str) -> tuple[tuple[Any, ...] | None, int]:
        result = await self._ask(_READ_NAME, [resource_type.encode(), id.encode()])
        version_id, last_updated, deleted, content, epoch = (result.get_value(0, i) for i in range(5))
        if version_id is None:
            return None, _int8(epoch)
        row = (resource_type, id, _int8(version_id), _int8(last_updated), deleted == b"\x01", content)
        return row, _int8(epoch)

    async def position(self, client: int) -> tuple[int, int]:
        result = await self._ask(_POSITION_NAME, [str(client).encode()])
        epoch, lsn = result.get_value(0, 0), result.get_value(0, 1)
        return _int8(epoch), _int8(lsn) if lsn is not None else 0

    async def _ask(self, name: bytes, params: list[bytes]) -> Any:
        pgconn = self._pgconn
        pgconn.send_query_prepared(name, params, result_format=1)
        if pgconn.flush():  # a few dozen bytes always fit the socket buffer; treat the rest as broken
            self.broken = True
            raise psycopg.OperationalError("the point read could not be sent")
        self._results = []
        answer = self._answer = self._loop.create_future()
        result = (await answer)[-1]
        if result.status != pq.ExecStatus.TUPLES_OK:
            message = (result.error_message or b"").decode("utf-8", "replace")
            if pgconn.status != pq.ConnStatus.OK:  # the server ended the connection (a restart, say)
                self.broken = True
                raise psycopg.OperationalError(f"point read failed: {message}")
            raise psycopg.DatabaseError(f"point read failed: {message}")
        return result

    def _readable(self) -> None:
        answer = self._answer
        try:
            self._pgconn.consume_input()
            while not self._pgconn.is_busy():
                result = self._pgconn.get_result()
                if result is None:  # the answer is complete (or nothing was asked: a notice)
                    if answer is not None and self._results:
                        self._answer = None
                        if not answer.done():
                            answer.set_result(self._results)
                    return
                self._results.append(result)
        except psycopg.OperationalError as exc:
            self.broken = True
            self._loop.remove_reader(self._socket)  # a closed socket would be readable forever
            if answer is not None and not answer.done():
                answer.set_exception(exc)

    def close(self) -> None:
        self.broken = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._socket)
        with contextlib.suppress(Exception):
            self._pgconn.finish()


_READ_NAME = b"fhirbridge_point_read"
_POSITION_NAME = b"fhirbridge_read_position"


def _epoch_sql(epoch_types: frozenset[str]) -> str:
    if not epoch_types:  # a replica: the epoch is the primary's to tell
        return "SELECT 0::int8 AS epoch"
    types = ", ".join(f"'{resource_type}'" for resource_type in sorted(epoch_types))  # our own constants
    return f"SELECT coalesce(sum(epoch), 0)::int8 AS epoch FROM type_epochs WHERE resource_type IN ({types})"


def _prepare_read(epoch_types: frozenset[str]) -> str:
    """The point read, and in the same snapshot the epoch of ``epoch_types`` (sql.py epoch): one row,
    whose version columns are null when there is no such resource."""
    return (
        "PREPARE fhirbridge_point_read (text, text) AS SELECT r.version_id::int8, r.last_updated, r.deleted, "
        f"r.content, e.epoch FROM ({_epoch_sql(epoch_types)}) e "
        "LEFT JOIN resources r ON r.resource_type = $1 AND r.id = $2"
    )


def _prepare_position(epoch_types: frozenset[str], positions: str) -> str:
    """The epoch and a client's read position (replicas.py), in one snapshot of the primary."""
    return (
        f"PREPARE fhirbridge_read_position (int8) AS SELECT e.epoch, p.lsn FROM ({_epoch_sql(epoch_types)}) e "
        f"LEFT JOIN {positions} p ON p.client = $1"
    )


def _int8(value: bytes) -> int:
    return int.from_bytes(value, "big", signed=True)


__all__ = ["PostgresPointReads"]
