"""Keyset paging over the sort keys plus ``resources.pk``: the sort keys, the snapshot bound, and one
page of rows with the cursors of the pages around it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.errors import BadRequest
from fhirbridge.search.definitions import parameter
from fhirbridge.search.request import CURSOR_PARAM, SearchRequest, encode_cursor
from fhirbridge.search.tables import INDEX_TABLES
from fhirbridge.search.values import MAX_MICROS, MIN_MICROS
from fhirbridge.storage.schema import resources

__all__ = ["Snapshot", "page"]


# --- sort keys ---------------------------------------------------------------------------------------


def _sort_column(resource_type: str | None, code: str, descending: bool, r: Any) -> Any:
    if code == "_id":
        return r.c.id
    if code == "_lastUpdated":
        return r.c.last_updated
    info = parameter(resource_type, code)
    assert info is not None
    table = INDEX_TABLES[info.type]
    column_name = {"date": "high" if descending else "low", "string": "norm", "token": "code"}.get(info.type)
    column = table.c[column_name or {"reference": "target_id", "uri": "uri"}.get(info.type, "value")]
    numeric = info.type in ("date", "number", "quantity")
    sentinel_low: Any = (MIN_MICROS if info.type == "date" else -1e300) if numeric else ""
    sentinel_high: Any = (MAX_MICROS if info.type == "date" else 1e300) if numeric else "\uffff"
    aggregate = sa.func.max(column) if descending else sa.func.min(column)
    value = sa.select(aggregate).where(table.c.resource_pk == r.c.pk, table.c.param == code).scalar_subquery()
    # Resources without a value sort last either way.
    return sa.func.coalesce(value, sentinel_low if descending else sentinel_high)


def _after(keys: list[tuple[Any, bool]], values: list[Any], forward: bool) -> Any:
    """Rows strictly after ``values`` in the order of ``keys`` (or before, when not ``forward``)."""
    alternatives = []
    for i, (column, descending) in enumerate(keys):
        greater = (not descending) == forward
        step = column > values[i] if greater else column < values[i]
        equal_prefix = [keys[j][0] == values[j] for j in range(i)]
        alternatives.append(sa.and_(*equal_prefix, step))
    return sa.or_(*alternatives)


class Snapshot:
    """The paging snapshot bound (highest pk), read from the database only when first needed."""

    def __init__(self, conn: Connection, max_pk: int | None) -> None:
        self._conn = conn
        self.max_pk = max_pk

    def bound(self) -> int:
        if self.max_pk is None:
            query = sa.select(sa.func.coalesce(sa.func.max(resources.c.pk), 0))
            self.max_pk = int(self._conn.execute(query).scalar_one())
        return self.max_pk


def page(
    conn: Connection, resource_type: str | None, request: SearchRequest, conditions: list[Any], snapshot: Snapshot
) -> tuple[list[Any], str | None, str | None]:
    """One page of matching rows in sort order, with the cursors of the pages around it."""
    r = resources
    keys = [(_sort_column(resource_type, code, desc, r), desc) for code, desc in request.sort]
    keys.append((r.c.pk, False))
    cursor = request.cursor
    forward = cursor is None or cursor.get("d", "n") == "n"
    page_conditions = list(conditions)
    if cursor is not None:
        if len(cursor["k"]) != len(keys):
            raise BadRequest("The paging cursor does not belong to this search", expression=CURSOR_PARAM)
        page_conditions.append(_after(keys, cursor["k"], forward))
    # Walking backwards reads the reversed order, then flips the page.
    order = [c.desc() if d == forward else c.asc() for c, d in keys]
    labelled = [c.label(f"k{i}") for i, (c, _) in enumerate(keys)]
    query = (
        sa.select(r.c.resource_type, r.c.id, r.c.content, *labelled)
        .where(*page_conditions)
        .order_by(*order)
        .limit(request.count + 1)
    )
    rows = list(conn.execute(query).all())
    more = len(rows) > request.count
    rows = rows[: request.count]
    if not forward:
        rows.reverse()
    if not rows:
        return rows, None, None

    def cursor_at(row: Any, direction: str) -> str:
        return encode_cursor(
            {"k": [getattr(row, f"k{i}") for i in range(len(keys))], "m": snapshot.bound(), "d": direction}
        )

    has_next = more if forward else True
    has_previous = (cursor is not None) if forward else more
    return (
        rows,
        cursor_at(rows[-1], "n") if has_next else None,
        cursor_at(rows[0], "p") if has_previous else None,
    )
