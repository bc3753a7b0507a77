"""Extract index values on write and store them in the same transaction as the resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.search import values
from fhirbridge.search.definitions import RESOURCE_COLUMN_PARAMS, parameters_for
from fhirbridge.search.paths import Evaluator, Item, compile_expression
from fhirbridge.search.tables import INDEX_TABLES

RowMaker = Callable[[Any, str | None], list[Any]]

_ROW_MAKERS: dict[str, RowMaker] = {
    "token": values.token_rows,
    "string": lambda value, _type: values.string_rows(value),
    "reference": lambda value, _type: values.reference_rows(value),
    "date": lambda value, _type: values.date_rows(value),
    "quantity": lambda value, _type: values.quantity_rows(value),
    "number": lambda value, _type: values.number_rows(value),
    "uri": lambda value, _type: values.uri_rows(value),
}


@cache
def _plan(resource_type: str) -> tuple[tuple[str, str, Evaluator], ...]:
    """(code, type, evaluator) for every indexed parameter of a type, compiled once."""
    return tuple(
        (info.code, info.type, compile_expression(info.expression))
        for info in parameters_for(resource_type).values()
        if info.code not in RESOURCE_COLUMN_PARAMS and info.type in _ROW_MAKERS
    )


def extract(resource: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Index rows by parameter type (without the owning resource columns)."""
    resource_type = resource["resourceType"]
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in INDEX_TABLES}
    for code, kind, evaluate in _plan(resource_type):
        items: list[Item] = evaluate(resource)
        if not items:
            continue
        make = _ROW_MAKERS[kind]
        seen: set[Any] = set()
        for value, type_name in items:
            for row in make(value, type_name):
                if row in seen:
                    continue
                seen.add(row)
                rows[kind].append({"param": code, **asdict(row)})
    return rows


class SearchIndexer:
    """The ``Indexer`` of ``fhirbridge.storage``: keeps the index tables in step with each write."""

    def reindex(self, conn: Connection, resource_pk: int, resource_type: str, resource: dict[str, Any] | None) -> None:
        for table in INDEX_TABLES.values():
            conn.execute(sa.delete(table).where(table.c.resource_pk == resource_pk))
        if resource is None:
            return
        for kind, rows in extract(resource).items():
            if rows:
                for row in rows:
                    row["resource_pk"] = resource_pk
                    row["resource_type"] = resource_type
                conn.execute(sa.insert(INDEX_TABLES[kind]), rows)


__all__ = ["SearchIndexer", "extract"]
