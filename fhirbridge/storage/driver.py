"""Statements sent to the DBAPI driver directly, inside the transaction SQLAlchemy manages.

The write path runs a handful of fixed statements per stored resource (the current row, the version,
one batch of search-index rows per table). Through SQLAlchemy Core each of them is built, cache-keyed
and has its parameters processed on every call, which cost more than the database's own work
(docs/benchmarks.md). These helpers write them once, in the driver's placeholder style, and run them
on the DBAPI cursor of the same connection, so they stay inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Dialect


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
    driver_cursor = cursor(conn)
    driver_cursor.execute(sql, params)
    return driver_cursor


def insert_rows(conn: Connection, table: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``table`` with one ``executemany``."""
    if not rows:
        return
    driver_cursor = cursor(conn)
    try:
        driver_cursor.executemany(insert_sql(table, columns, str(conn.dialect.paramstyle)), rows)
    finally:
        driver_cursor.close()


__all__ = ["cursor", "driver_sql", "execute", "insert_rows", "insert_sql"]
