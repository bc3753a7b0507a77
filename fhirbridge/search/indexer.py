"""Extract index values on write and store them in the same transaction as the resource."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.classification import (
    CLASS_PARAM,
    LABEL_PARAM,
    PARTY_PARAM,
    PATIENT_PARAM,
    information_class,
    parties,
    sensitivity_labels,
)
from fhirbridge.compartment import compartment_patients
from fhirbridge.formats.json import loads_stored
from fhirbridge.search import values
from fhirbridge.search.definitions import RESOURCE_COLUMN_PARAMS, SearchParamInfo, parameters_for
from fhirbridge.search.paths import Evaluator, Item, compile_expression, compile_relative
from fhirbridge.search.tables import INDEX_TABLES
from fhirbridge.storage.driver import cursor, insert_rows
from fhirbridge.storage.schema import resources
from fhirbridge.storage.transaction_state import transaction_state

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


def _composite_maker(info: SearchParamInfo) -> RowMaker:
    (_, _, first_path), (_, second_type, second_path) = info.components
    first, second = compile_relative(first_path), compile_relative(second_path)

    def make(item: Any, _type: str | None) -> list[Any]:
        codes = [row for value, tag in first(item) for row in values.token_rows(value, tag)]
        return values.composite_rows(codes, second_type, second(item)) if codes else []

    return make


@cache
def _plan(resource_type: str) -> tuple[tuple[str, str, Evaluator, RowMaker], ...]:
    """(code, type, evaluator, row maker) for every indexed parameter of a type, compiled once."""
    return tuple(
        (
            info.code,
            info.type,
            compile_expression(info.expression),
            _composite_maker(info) if info.type == "composite" else _ROW_MAKERS[info.type],
        )
        for info in parameters_for(resource_type).values()
        if info.code not in RESOURCE_COLUMN_PARAMS and (info.type in _ROW_MAKERS or info.type == "composite")
    )


def extract(resource: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Index rows by parameter type (without the owning resource columns)."""
    resource_type = resource["resourceType"]
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in INDEX_TABLES}
    for code, kind, evaluate, make in _plan(resource_type):
        items: list[Item] = evaluate(resource)
        if not items:
            continue
        seen: set[Any] = set()
        for value, type_name in items:
            for row in make(value, type_name):
                if row in seen:
                    continue
                seen.add(row)
                rows[kind].append(_fit(kind, {"param": code, **vars(row)}))
            if kind == "reference" and isinstance(value, dict) and isinstance(value.get("identifier"), dict):
                # Reference.identifier, for ``param:identifier``, is kept with the tokens under its own key.
                for token in values.token_rows(value["identifier"], "Identifier"):
                    if token.code is not None:
                        rows["token"].append(_fit("token", {"param": f"{code}:identifier", **vars(token)}))
    tokens, references = access_rows(resource)
    rows["token"] += tokens
    rows["reference"] += references
    return rows


def access_rows(resource: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the access policy decides on, kept with the index under reserved parameter names: the
    resource's sensitivity labels and information class (tokens), and the children whose Patient
    compartment holds it (references), each computed by the same function the policy uses in Python."""
    found = [(LABEL_PARAM, label) for label in sorted(sensitivity_labels(resource))]
    kind = information_class(resource)
    if kind is not None:
        found.append((CLASS_PARAM, kind))
    tokens = [_fit("token", {"param": param, **vars(values.TokenRow(None, code))}) for param, code in found]
    references = [
        _fit("reference", {"param": PATIENT_PARAM, **vars(values.ReferenceRow("Patient", child, None))})
        for child in sorted(compartment_patients(resource))
    ]
    for party in sorted(parties(resource)):
        party_type, _, party_id = party.partition("/")
        row = values.ReferenceRow(party_type, party_id, None)
        references.append(_fit("reference", {"param": PARTY_PARAM, **vars(row)}))
    return tokens, references


# PostgreSQL refuses b-tree entries over about 2.7 kB; long values are cut (they still match by prefix).
MAX_INDEXED_BYTES = 2000


@cache
def _limits(kind: str) -> dict[str, int]:
    table = INDEX_TABLES[kind]
    lengths = {c.name: getattr(c.type, "length", None) for c in table.columns}
    return {name: length for name, length in lengths.items() if isinstance(length, int)}


def _fit(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """Cut string values to their column, so no resource is ever refused for a long value."""
    if kind == "reference" and row["target_id"] is not None and len(row["target_id"]) > _limits(kind)["target_id"]:
        row["url"] = f"{row['target_type']}/{row['target_id']}"
        row["target_type"] = row["target_id"] = None
    for name, limit in _limits(kind).items():
        value = row.get(name)
        # A character is at most 4 bytes in UTF-8: only long strings need encoding to be measured.
        if isinstance(value, str) and (
            len(value) > limit or (len(value) > MAX_INDEXED_BYTES // 4 and len(value.encode()) > MAX_INDEXED_BYTES)
        ):
            value = value[:limit]
            while len(value.encode()) > MAX_INDEXED_BYTES:
                value = value[: len(value) - 64]
            row[name] = value
    return row


class SearchIndexer:
    """The ``Indexer`` of ``fhirbridge.storage``: keeps the index tables in step with each write.

    A transaction's rows are inserted together, one ``executemany`` per table, when it commits or
    before anything searches inside it (``flush``, called by storage and by ``search``/``match_ids``):
    a 100-entry transaction Bundle made some 400 separate inserts before.
    """

    def reindex(
        self,
        conn: Connection,
        resource_pk: int,
        resource_type: str,
        resource: dict[str, Any] | None,
        *,
        fresh: bool = False,
    ) -> None:
        pending = _pending(conn)
        if not fresh:  # a resource's first version has no index rows to replace
            pending.pop(resource_pk, None)
            self._delete_rows(conn, resource_pk)
        if resource is not None:
            pending[resource_pk] = (resource_type, extract(resource))

    def flush(self, conn: Connection) -> None:
        flush_index(conn)

    @staticmethod
    def _delete_rows(conn: Connection, resource_pk: int) -> None:
        if conn.dialect.name == "postgresql":
            # One round trip for all the deletes: a write's cost on PostgreSQL is mostly round trips.
            conn.execute(_DELETE_ALL_POSTGRES, {"pk": resource_pk})
            return
        driver_cursor = cursor(conn)
        try:
            for statement in _deletes_sqlite():
                driver_cursor.execute(statement, (resource_pk,))
        finally:
            driver_cursor.close()


def _delete_all_postgres() -> sa.TextClause:
    names = [table.name for table in INDEX_TABLES.values()]
    steps = [f"d{i} AS (DELETE FROM {name} WHERE resource_pk = :pk)" for i, name in enumerate(names[:-1])]
    return sa.text(f"WITH {', '.join(steps)} DELETE FROM {names[-1]} WHERE resource_pk = :pk")


_DELETE_ALL_POSTGRES = _delete_all_postgres()


# The rows of the current transaction waiting to be inserted, by resource pk: (type, rows by kind).
PendingRows = dict[int, tuple[str, dict[str, list[dict[str, Any]]]]]
_PENDING_KEY = "fhirbridge.pending_index_rows"


def _pending(conn: Connection) -> PendingRows:
    """This transaction's pending rows; a rolled-back transaction's are never seen again."""
    rows: PendingRows = transaction_state(conn, _PENDING_KEY, dict)
    return rows


def flush_index(conn: Connection) -> None:
    """Insert the pending index rows of ``conn``'s transaction: one ``executemany`` per table."""
    pending = _pending(conn)
    if not pending:
        return
    batches: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
    for resource_pk, (resource_type, rows) in pending.items():
        for kind, kind_rows in rows.items():
            if kind_rows:
                # The rows of one kind share their columns: the fields of that kind's row type.
                columns = ("resource_pk", "resource_type", *kind_rows[0])
                batch = batches.setdefault((kind, columns), [])
                batch.extend((resource_pk, resource_type, *row.values()) for row in kind_rows)
    pending.clear()
    for (kind, columns), batch_rows in batches.items():
        insert_rows(conn, INDEX_TABLES[kind].name, columns, batch_rows)


def index_access_attributes(conn: Connection, batch: int = 1000) -> None:
    """Add the access rows of every current resource (migration 4: stores indexed before they existed)."""
    query = sa.select(resources.c.pk, resources.c.resource_type, resources.c.content).where(
        resources.c.deleted.is_(False)
    )
    for chunk in conn.execute(query.order_by(resources.c.pk)).partitions(batch):
        for row in chunk:
            tokens, references = access_rows(loads_stored(bytes(row.content)))
            _pending(conn)[row.pk] = (row.resource_type, {"token": tokens, "reference": references})
        flush_index(conn)


@cache
def _deletes_sqlite() -> tuple[str, ...]:
    return tuple(f"DELETE FROM {table.name} WHERE resource_pk = ?" for table in INDEX_TABLES.values())


__all__ = ["SearchIndexer", "extract", "flush_index"]
