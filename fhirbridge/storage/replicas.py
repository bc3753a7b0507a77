"""Reads from PostgreSQL streaming replicas, never older than what the reading client has written.

Only ``SqlRepository`` (sql.py) knows about this module: the engine and the access policy ask the
repository as before, and the repository decides, for each read, where it is asked.

Where a read goes
  * A read outside any client's request (background work: notification delivery, start-up, the command
    line), or while a write transaction is open in the same context, goes to the primary.
  * A client's read goes to a replica whose replay is fresh (below) and has replayed the client's read
    position; otherwise to the primary.

Read-your-writes across workers
  After each write transaction of a client commits, the primary's WAL insert position (an LSN past the
  commit record) is stored, in its own small statement on the primary, as that client's read position
  (``replica_read_positions``, keyed by a hash of the principal), before the write is acknowledged. A
  worker serving the client's next read, whichever it is, looks the position up on the primary once per
  request (the point read asks it together with the relations' epoch, in one round trip) and reads from a
  replica only once that replica has replayed it. A position kept in the database is seen by every worker of
  every machine; a header or cookie would have to be echoed by clients, which FHIR clients do not do.

Freshness
  A monitor thread polls, once a second, the primary's WAL insert position and each replica's replay
  position. A replica is "fresh as of" the latest moment at which the primary had inserted no more than the
  replica has now replayed: everything committed before that moment is visible on it. It serves reads while
  that moment is at most ``max_lag_seconds`` old, judged when each read is routed, so a replica that stops
  replaying, or stops answering the monitor, drops out by itself within the bound. Replay positions are
  known from the last poll (a lower bound, as replay only moves forward); a search whose client needs more
  asks the replica first (``REPLAYED_NOW_SQL``), in a statement before its own (READ COMMITTED: every later
  statement's snapshot includes what was replayed by then).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine

from fhirbridge.storage.postgres_reads import PostgresPointReads

log = logging.getLogger("fhirbridge.storage")

POSITIONS_TABLE = "replica_read_positions"
# Created here rather than by a migration: it holds nothing but read positions, which mean something only
# while replicas are configured, and a store without replicas never has it.
CREATE_POSITIONS_SQL = (
    f"CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} (client int8 PRIMARY KEY, lsn int8 NOT NULL, "
    "written_at timestamptz NOT NULL DEFAULT now())"
)
# Taken after the commit: the insert position is past the end of every record inserted so far, the
# commit record included, whatever synchronous_commit is.
RECORD_POSITION_SQL = (
    f"INSERT INTO {POSITIONS_TABLE} (client, lsn) VALUES (%s, (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8) "
    f"ON CONFLICT (client) DO UPDATE SET lsn = greatest({POSITIONS_TABLE}.lsn, excluded.lsn), written_at = now() "
    "RETURNING lsn"
)
POSITION_SQL = f"SELECT lsn FROM {POSITIONS_TABLE} WHERE client = ?"
PRIMARY_LSN_SQL = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8"
REPLAY_LSN_SQL = "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8"
REPLAYED_NOW_SQL = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8"
POLL_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 2
# Marks a replica's connections in pg_stat_activity (and lets a test count what each one served).
APPLICATION_NAME = "fhirbridge-replica-read"


@dataclass
class ReadingClient:
    """The client a request reads for, once per request (a mutable holder: the threads a request's work
    runs in see one another's changes)."""

    key: int
    # The LSN this client's reads must see; None until looked up (on the primary) or written.
    position: int | None = None
    # The replica this request has read from: later reads of the request stay on it while it serves the
    # client (paging through a history snapshot, several statements of one operation).
    replica: Replica | None = None


_CLIENT: ContextVar[ReadingClient | None] = ContextVar("fhirbridge_reading_client", default=None)
# Set while a write transaction is open, and by ``on_primary``: reads go to the primary.
_ON_PRIMARY: ContextVar[bool] = ContextVar("fhirbridge_reads_on_primary", default=False)


def client_key(principal: str) -> int:
    """The key of a principal in the positions table: a hash, so the table names nobody. Two principals
    sharing a key only read from the primary more often."""
    digest = hashlib.blake2b(principal.encode(), digest_size=8, person=b"fhirbridge-read").digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def reading_for(principal: str) -> Iterator[ReadingClient]:
    """Reads in this context are ``principal``'s (the server marks each request with its caller)."""
    client = ReadingClient(client_key(principal))
    token = _CLIENT.set(client)
    try:
        yield client
    finally:
        _CLIENT.reset(token)


@contextlib.contextmanager
def on_primary() -> Iterator[None]:
    """Reads in this context go to the primary (write transactions; readiness checks)."""
    token = _ON_PRIMARY.set(True)
    try:
        yield
    finally:
        _ON_PRIMARY.reset(token)


def current_client() -> ReadingClient | None:
    """The client whose reads may go to a replica now; None: read from the primary."""
    return None if _ON_PRIMARY.get() else _CLIENT.get()


def writing_client() -> ReadingClient | None:
    """The client a committed write is recorded for (None: no client's request, nothing to record)."""
    return _CLIENT.get()


@dataclass(eq=False)
class Replica:
    name: str  # host:port/database, for logs (no password)
    engine: Engine
    reads: PostgresPointReads
    up: bool = False
    # The replay position at the last poll (only grows while the replica runs).
    replayed: int = -1
    # time.monotonic() of the latest moment all the primary had committed by then was replayed.
    fresh_as_of: float = float("-inf")
    _monitor: Any = field(default=None, repr=False)

    def fresh(self, now: float, max_lag: float) -> bool:
        return self.up and now - self.fresh_as_of <= max_lag

    def dispose(self) -> None:
        self.reads.close()
        self.engine.dispose()
        if self._monitor is not None:
            with contextlib.suppress(Exception):
                self._monitor.close()
            self._monitor = None


class ReplicaSet:
    """The replicas of one primary, their freshness, and the clients' read positions."""

    def __init__(
        self, primary: Engine, replicas: list[Replica], *, max_lag_seconds: float, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.max_lag_seconds = max_lag_seconds
        self.poll_seconds = poll_seconds
        self._turn = itertools.count()
        # (time before asking, primary insert LSN) of the recent polls, oldest first.
        self._samples: deque[tuple[float, int]] = deque(maxlen=max(8, int(max_lag_seconds / poll_seconds) + 8))
        self._primary_monitor: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- routing -------------------------------------------------------------------------------------

    def fresh(self) -> list[Replica]:
        now = time.monotonic()
        return [replica for replica in self.replicas if replica.fresh(now, self.max_lag_seconds)]

    def choose(self, client: ReadingClient) -> tuple[Replica | None, list[Replica]]:
        """(a fresh replica known to have replayed the client's position, or None; the fresh ones).
        ``client.position`` must be known."""
        assert client.position is not None
        fresh = self.fresh()
        ready = [replica for replica in fresh if replica.replayed >= client.position]
        if client.replica in ready:
            return client.replica, fresh
        if not ready:
            return None, fresh
        return ready[next(self._turn) % len(ready)], fresh

    def mark_down(self, replica: Replica, exc: BaseException) -> None:
        if replica.up:
            log.warning("replica %s failed a read, reads go elsewhere until it answers again: %s", replica.name, exc)
        replica.up = False
        replica.fresh_as_of = float("-inf")

    # -- the monitor ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fhirbridge-replica-monitor", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.poll_seconds)

    def poll(self) -> None:
        """One round: the primary's insert position, then each replica's replay position."""
        asked_at = time.monotonic()
        try:
            self._primary_monitor = self._primary_monitor or _monitor_connection(self.primary)
            row = self._primary_monitor.execute(PRIMARY_LSN_SQL).fetchone()
            self._samples.append((asked_at, int(row[0])))
        except psycopg.Error as exc:
            # Without the primary's position no replica's freshness can be told: they age out.
            log.warning("replica monitor: the primary's position could not be read: %s", exc)
            self._primary_monitor = _closed(self._primary_monitor)
        for replica in self.replicas:
            self._poll_replica(replica)

    def _poll_replica(self, replica: Replica) -> None:
        try:
            replica._monitor = replica._monitor or _monitor_connection(replica.engine)
            in_recovery, replayed = replica._monitor.execute(REPLAY_LSN_SQL).fetchone()
        except psycopg.Error as exc:
            if replica.up:
                log.warning("replica %s does not answer, reads go to the primary: %s", replica.name, exc)
            replica.up = False
            replica._monitor = _closed(replica._monitor)
            return
        if not in_recovery or replayed is None:
            # Promoted, or not a standby at all: its data is not the primary's.
            if replica.up:
                log.warning("replica %s is not replaying the primary's WAL; it serves no reads", replica.name)
            replica.up = False
            return
        if not replica.up:
            log.info(
                "replica %s answers; it serves reads while it lags by %ss at most", replica.name, self.max_lag_seconds
            )
        replica.up = True
        replica.replayed = max(replica.replayed, int(replayed))
        caught_up = [moment for moment, lsn in self._samples if lsn <= replica.replayed]
        if caught_up:
            replica.fresh_as_of = max(replica.fresh_as_of, caught_up[-1])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._primary_monitor = _closed(self._primary_monitor)
        for replica in self.replicas:
            replica.dispose()


def _monitor_connection(engine: Engine) -> Any:
    _, options = engine.dialect.create_connect_args(engine.url)
    options = {**options, "connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return psycopg.connect(autocommit=True, **options)


def _closed(connection: Any) -> Any:
    """Close ``connection`` if there is one; None, to forget it."""
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()
    return None


__all__ = [
    "APPLICATION_NAME",
    "CREATE_POSITIONS_SQL",
    "POSITIONS_TABLE",
    "POSITION_SQL",
    "RECORD_POSITION_SQL",
    "REPLAYED_NOW_SQL",
    "ReadingClient",
    "Replica",
    "ReplicaSet",
    "client_key",
    "current_client",
    "on_primary",
    "reading_for",
    "writing_client",
]
