"""Statements sent to the DBAPI driver directly, inside the transaction SQLAlchemy manages.

The write path runs a handful of fixed statements per stored resource (the current row, the version,
one batch of search-index rows per table). Through SQLAlchemy Core each of them is built, cache-keyed
and has its parameters processed on every call, which cost more than the database's own work
(docs/benchmarks.md). These helpers write them once, in the driver's placeholder style, and run them
on the DBAPI cursor of the same connection, so they stay inside the same transaction.

The driver is also where a statement's cost is bounded (``install_statement_budget``): PostgreSQL stops
a statement itself past ``statement_timeout``; SQLite has no such setting, so a progress handler checks
the statement's deadline every few thousand VM steps and interrupts it. A ``QueryCancellation`` stops
the statements of a request whose client went away, and ``refusal`` says which database errors the
client caused (too costly, a value no column can hold) rather than the server.
"""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, event
from sqlalchemy.exc import DBAPIError

from fhirbridge.errors import BadRequest, FhirError, RequestCancelled, TooCostly, Unavailable

T = TypeVar("T")


@cache
def _placeholder(paramstyle: str) -> str:
    if paramstyle == "qmark":
        return "?"
    if paramstyle in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(f"DBAPI paramstyle {paramstyle}")


def driver_sql(sql: str, dialect: Dialect) -> str:
    """``sql`` written with ``?`` placeholders, in the dialect's driver's own style (``%s`` for psycopg)."""
    return _in_style(sql, str(dialect.paramstyle))


@cache
def _in_style(sql: str, paramstyle: str) -> str:
    mark = _placeholder(paramstyle)
    return sql if mark == "?" else sql.replace("?", mark)


@cache
def insert_sql(table: str, columns: tuple[str, ...], paramstyle: str) -> str:
    mark = _placeholder(paramstyle)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)})"


def cursor(conn: Connection) -> Any:
    """A DBAPI cursor on ``conn``'s connection, in its current transaction."""
    return conn.connection.cursor()


def execute(conn: Connection, sql: str, params: Sequence[Any]) -> Any:
    """Run one driver statement; returns its cursor (for ``fetchone`` or ``lastrowid``), which the caller closes."""
    _statement_starts(conn)
    driver_cursor = cursor(conn)
    driver_cursor.execute(sql, params)
    return driver_cursor


def insert_rows(conn: Connection, table: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``table`` with one ``executemany``."""
    if not rows:
        return
    _statement_starts(conn)
    driver_cursor = cursor(conn)
    try:
        driver_cursor.executemany(insert_sql(table, columns, str(conn.dialect.paramstyle)), rows)
    finally:
        driver_cursor.close()


def insert_values(conn: Connection, table: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` into ``table`` with one multi-row ``INSERT ... VALUES (...), (...)``: one statement
    for the database to run, where ``executemany`` runs one per row."""
    if not rows:
        return
    mark = _placeholder(str(conn.dialect.paramstyle))
    one = f"({', '.join(mark for _ in columns)})"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(one for _ in rows)}"
    _statement_starts(conn)
    driver_cursor = cursor(conn)
    try:
        driver_cursor.execute(sql, [value for row in rows for value in row])
    finally:
        driver_cursor.close()


# --- what a statement may cost -----------------------------------------------------------------------

BUDGET_KEY = "fhirbridge.statement_budget"  # in the pool's record of each DBAPI connection
# An execution option: the connection's statements run without a deadline (schema migrations).
UNBOUNDED_OPTION = "fhirbridge_unbounded"
# SQLite VM instructions between two looks at the deadline: well under a millisecond of work.
SQLITE_PROGRESS_STEPS = 10_000
# How long a PostgreSQL cancel request may take to get through (it opens a connection of its own).
CANCEL_TIMEOUT_SECONDS = 5.0

_current_cancellation: contextvars.ContextVar[QueryCancellation | None] = contextvars.ContextVar(
    "fhirbridge_query_cancellation", default=None
)


class StatementBudget:
    """The deadline of the statement running on one DBAPI connection, and the request it runs for.

    On SQLite the progress handler asks ``spent`` every SQLITE_PROGRESS_STEPS VM instructions; a true
    answer interrupts the statement. PostgreSQL keeps its own deadline (``statement_timeout``), so
    there ``seconds`` is 0 and the budget only carries the request's cancellation.
    """

    __slots__ = ("cancellation", "deadline", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline: float | None = None
        self.cancellation: QueryCancellation | None = None

    def start(self, unbounded: bool = False) -> None:
        self.deadline = None if unbounded or self.seconds <= 0 else time.monotonic() + self.seconds

    def stop(self) -> None:
        self.deadline = None

    def spent(self) -> bool:
        if self.cancellation is not None and self.cancellation.cancelled:
            return True
        return self.deadline is not None and time.monotonic() > self.deadline


def _budget(conn: Connection) -> StatementBudget | None:
    budget: StatementBudget | None = conn.connection.info.get(BUDGET_KEY)
    return budget


def _statement_starts(conn: Connection) -> None:
    budget = _budget(conn)
    if budget is not None:
        if budget.cancellation is not None and budget.cancellation.cancelled:
            raise RequestCancelled("The client went away; its request was stopped")
        budget.start(bool(conn.get_execution_options().get(UNBOUNDED_OPTION)))


def install_statement_budget(engine: Engine, seconds: float) -> None:
    """Bound each statement on ``engine``'s connections to ``seconds`` (0: no bound) on SQLite, and let a
    ``QueryCancellation`` stop them on either backend. PostgreSQL's own bound is set at connect time."""
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "connect")
    def _give_budget(dbapi_connection: Any, record: Any) -> None:
        budget = record.info[BUDGET_KEY] = StatementBudget(seconds if sqlite else 0)
        if sqlite:
            dbapi_connection.set_progress_handler(budget.spent, SQLITE_PROGRESS_STEPS)

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Connection, *_: Any) -> None:
        _statement_starts(conn)

    # Ending a transaction or handing the connection back is no statement of the request's.
    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(conn: Connection) -> None:
        budget = _budget(conn)
        if budget is not None:
            budget.stop()

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        _returned(connection_record)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, connection_record: Any) -> None:
        _returned(connection_record)


def _returned(record: Any) -> None:
    budget: StatementBudget | None = record.info.get(BUDGET_KEY) if record is not None else None
    if budget is not None:
        budget.stop()


class QueryCancellation:
    """Stops the statements of one request when its client goes away (server/params.py).

    ``run(work)`` runs ``work`` with this cancellation current: the repository watches every connection
    it hands out meanwhile (the code in between, the search engine, knows nothing of HTTP or of this).
    ``cancel()`` sends PostgreSQL a cancel request for the statement running, makes SQLite's progress
    handler interrupt it, and refuses every later statement of the request before it starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: list[tuple[Any, StatementBudget | None]] = []
        self.cancelled = False

    def run(self, work: Callable[..., T], *args: Any) -> T:
        token = _current_cancellation.set(self)
        try:
            return work(*args)
        finally:
            _current_cancellation.reset(token)

    @contextmanager
    def watching(self, conn: Connection) -> Iterator[None]:
        """Watch ``conn`` while the block runs; the lock keeps ``cancel`` off it once it is handed back."""
        watched = (conn.connection.dbapi_connection, _budget(conn))
        with self._lock:
            self._watched.append(watched)
            if watched[1] is not None:
                watched[1].cancellation = self
        try:
            yield
        finally:
            with self._lock:
                self._watched.remove(watched)
                if watched[1] is not None:
                    watched[1].cancellation = None

    def cancel(self) -> None:
        """Stop the request's statements; blocks for a round trip on PostgreSQL (call it from a thread)."""
        with self._lock:
            self.cancelled = True
            for dbapi_connection, _ in self._watched:
                if isinstance(dbapi_connection, sqlite3.Connection):
                    continue  # its progress handler sees ``cancelled`` within a millisecond
                with suppress(Exception):  # the statement ended meanwhile, or the server is gone
                    if hasattr(dbapi_connection, "cancel_safe"):  # psycopg 3.2 and later
                        dbapi_connection.cancel_safe(timeout=CANCEL_TIMEOUT_SECONDS)
                    else:
                        dbapi_connection.cancel()


def current_cancellation() -> QueryCancellation | None:
    return _current_cancellation.get()


# Errors SQLite raises for a statement beyond its compile-time limits: the request asked too much.
_SQLITE_LIMITS = (
    "expression tree is too large",
    "too many sql variables",
    "parser stack overflow",
    "too many terms in compound select",
    "string or blob too big",
    "too many arguments on function",
)


def refusal(exc: BaseException, *, seconds: float, cancellation: QueryCancellation | None = None) -> FhirError | None:
    """The client-facing error for a database error the request caused, or None (the server's fault)."""
    if isinstance(exc, FhirError):
        return None
    original = getattr(exc, "orig", None) or exc
    if not _from_database(exc, original):
        return None
    if cancellation is not None and cancellation.cancelled:
        return RequestCancelled("The client went away; its request was stopped")
    sqlstate = str(getattr(original, "sqlstate", "") or "")
    message = str(original).lower()
    if sqlstate == "57014" or message == "interrupted":  # statement_timeout, or the progress handler
        limit = f"{seconds:g} s" if seconds > 0 else "its time limit"
        return TooCostly(
            f"The query ran longer than the server's limit of {limit}; narrow it (a patient, a date range, "
            "fewer alternatives) or ask for fewer results"
        )
    if sqlstate.startswith("54") or any(limit in message for limit in _SQLITE_LIMITS):
        return BadRequest("The request is too complex for the database; ask for less at once", code="too-costly")
    data_error = any(kind.__name__ == "DataError" for kind in type(original).__mro__)  # e.g. NUL in text
    if sqlstate.startswith("22") or data_error or isinstance(original, OverflowError):
        return BadRequest("The request holds a value the database cannot store or compare", code="value")
    if "database is locked" in message or sqlstate in ("40001", "40P01", "55P03"):
        return Unavailable("The database was busy with other writers; try again", code="lock-error")
    return None


def _from_database(exc: BaseException, original: BaseException) -> bool:
    """A DBAPI error (wrapped by SQLAlchemy or raw), or SQLite's refusal of a too-large integer."""
    if isinstance(original, OverflowError):
        return "sqlite" in str(original).lower()
    return isinstance(exc, DBAPIError) or type(original).__module__.startswith(("sqlite3", "psycopg"))


__all__ = [
    "BUDGET_KEY",
    "UNBOUNDED_OPTION",
    "QueryCancellation",
    "StatementBudget",
    "current_cancellation",
    "cursor",
    "driver_sql",
    "execute",
    "insert_rows",
    "insert_sql",
    "install_statement_budget",
    "refusal",
]
