"""SQLAlchemy engines for the store: SQLite tuned for one writer at a time, PostgreSQL with a statement
budget, and the engines of PostgreSQL read replicas (replicas.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url

from fhirbridge.storage.driver import install_statement_budget
from fhirbridge.storage.postgres_reads import PostgresPointReads
from fhirbridge.storage.replicas import APPLICATION_NAME, Replica

# An execution option of the connections that write: on SQLite their transactions BEGIN IMMEDIATE.
WRITE_OPTION = "fhirbridge_write"
SQLITE_CACHE_KIB = 32 * 1024  # page cache per connection
SQLITE_MMAP_BYTES = 256 * 1024 * 1024


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


def is_sqlite_file(engine: Engine) -> bool:
    url = engine.url
    in_memory = not url.database or url.database == ":memory:" or url.query.get("mode") == "memory"
    return url.get_backend_name() == "sqlite" and not in_memory


def open_replica(url: str, *, query_timeout_seconds: float, pool_size: int, max_overflow: int) -> Replica:
    """A PostgreSQL streaming replica's engine and point reads; ``pool_size``, ``max_overflow`` and
    ``query_timeout_seconds`` as for its primary (``create_sql_engine``)."""
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
    "SQLITE_CACHE_KIB",
    "SQLITE_MMAP_BYTES",
    "WRITE_OPTION",
    "create_sql_engine",
    "is_sqlite_file",
    "open_replica",
]
