"""Where a client's read goes when the primary has streaming replicas (replicas.py tells why and when):
a replica that has replayed the client's read position, else the primary. Used by ``SqlRepository``
(sql.py), which asks the router for every read a client's request makes."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.exc import OperationalError

from fhirbridge.storage.driver import driver_sql
from fhirbridge.storage.epochs import READ_EPOCH
from fhirbridge.storage.postgres_reads import PostgresPointReads
from fhirbridge.storage.replicas import (
    CREATE_POSITIONS_SQL,
    POSITION_SQL,
    RECORD_POSITION_SQL,
    REPLAYED_NOW_SQL,
    ReadingClient,
    Replica,
    ReplicaSet,
    current_client,
    writing_client,
)


class ReadPositionLost(RuntimeError):
    """A write committed, but the client's read position could not be recorded (replicas.py). The write is
    not acknowledged (the client gets an error, as when a commit's answer is lost): acknowledged, it could
    be followed by a replica's read that does not see it. Never retried: the write is already stored."""


def create_positions_table(engine: Engine) -> None:
    """The clients' read positions, on the primary: made before its point-read connections prepare
    statements on it."""
    with engine.begin() as conn:
        conn.exec_driver_sql(CREATE_POSITIONS_SQL)


def record_position(conn: Connection) -> None:
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


class ReplicaRouter:
    """The reads of the client of the current request (``current_client``), routed over ``replicas``;
    ``primary_reads``: the primary's point reads, which also answer the client's read position."""

    def __init__(self, replicas: ReplicaSet, primary_reads: PostgresPointReads, dialect: Dialect) -> None:
        self._replicas = replicas
        self._primary_reads = primary_reads
        self._position_sql = driver_sql(POSITION_SQL, dialect)

    def _position(self, client: ReadingClient) -> int:
        """The LSN the client's reads must see, asked of the primary once per request."""
        if client.position is None:
            row = self._primary_reads.fetch_one(self._position_sql, (client.key,))
            client.position = int(row[0]) if row is not None else 0
        return client.position

    def _ready_replica(self, client: ReadingClient) -> tuple[Replica | None, list[Replica]]:
        """(a replica that serves this client now, or None; the fresh replicas)."""
        if not self._replicas.fresh():
            return None, []  # nothing to ask the primary about
        self._position(client)
        return self._replicas.choose(client)

    def point_read(self, sql: str, params: tuple[Any, ...]) -> tuple[bool, tuple[Any, ...] | None]:
        """(whether a replica answered, its row)."""
        client = current_client()
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
            self._replicas.mark_down(replica, exc)
            return True
        return False

    def connection(self) -> Connection | None:
        """A replica's connection for the client's reads (searches, history); None: the primary's."""
        client = current_client()
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
            self._replicas.mark_down(candidate, exc)
            return None
        client.replica = candidate
        return conn

    async def read_current(self, resource_type: str, id: str) -> tuple[bool, tuple[Any, ...] | None]:
        """(whether a replica's answer serves the client, its row). The primary is asked the client's
        position with the epoch (one round trip) while a fresh replica is asked the read; the replica's
        row serves when the replica had replayed the position before it was asked (its last poll)."""
        client = current_client()
        if client is None:
            return False, None
        fresh = self._replicas.fresh()
        if not fresh:
            return False, None
        replica = client.replica if client.replica in fresh else fresh[hash(id) % len(fresh)]
        replayed = replica.replayed  # before the replica's snapshot is taken: a lower bound of what it sees
        position, answer = await asyncio.gather(
            self._primary_reads.read_position(client.key),
            replica.reads.read_current(resource_type, id),
            return_exceptions=True,
        )
        if isinstance(position, BaseException):
            raise position  # the primary's failure is the read's, as without replicas
        epoch, lsn = position
        READ_EPOCH.set(epoch)  # the caller's relations are kept by the primary's epoch
        client.position = max(client.position or 0, lsn)
        if isinstance(answer, BaseException):
            if not isinstance(answer, psycopg.Error) or not self._replica_failure(replica, answer):
                raise answer
            return False, None
        if replayed < client.position:
            return False, None  # it may not show the client's last write: asked of the primary
        client.replica = replica
        return True, answer[0]


__all__ = ["ReadPositionLost", "ReplicaRouter", "create_positions_table", "record_position"]
