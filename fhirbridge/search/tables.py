"""Search index tables: one per parameter type, each row one value of one parameter of one resource.

Every table leads with ``resource_type`` and ``param`` in its lookup index, so a condition such as
``Observation.patient = Patient/1`` is one index range scan yielding ``resource_pk`` values.
Rows are replaced wholesale whenever the resource is written (see ``SearchIndexer``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Float, ForeignKey, Index, String, Table

from fhirbridge.storage.schema import metadata

# Byte-wise ordering on PostgreSQL so prefix ranges (``norm >= 'abc' AND norm < 'abd'``) use the index
# and agree with SQLite, whose default collation is byte-wise too.
Text = String(255).with_variant(String(255, collation="C"), "postgresql")
LongText = String(2048).with_variant(String(2048, collation="C"), "postgresql")


def _owner() -> list[Column[int] | Column[str]]:
    return [
        Column("resource_pk", BigInteger, ForeignKey("resources.pk"), nullable=False),
        Column("resource_type", String(64), nullable=False),
        Column("param", String(100), nullable=False),
    ]


search_token = Table(
    "search_token",
    metadata,
    *_owner(),
    Column("system", LongText, nullable=True),
    Column("code", Text, nullable=True),
    Column("text", Text, nullable=True),
    Column("type_system", LongText, nullable=True),
    Column("type_code", Text, nullable=True),
)
Index("ix_search_token_code", search_token.c.resource_type, search_token.c.param, search_token.c.code)
Index("ix_search_token_pk", search_token.c.resource_pk, search_token.c.param)

search_string = Table(
    "search_string",
    metadata,
    *_owner(),
    Column("norm", Text, nullable=False),
    Column("exact", Text, nullable=False),
)
Index("ix_search_string_norm", search_string.c.resource_type, search_string.c.param, search_string.c.norm)
Index("ix_search_string_pk", search_string.c.resource_pk, search_string.c.param)

search_reference = Table(
    "search_reference",
    metadata,
    *_owner(),
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("url", LongText, nullable=True),
)
Index(
    "ix_search_reference_target",
    search_reference.c.resource_type,
    search_reference.c.param,
    search_reference.c.target_id,
    search_reference.c.target_type,
)
Index("ix_search_reference_reverse", search_reference.c.target_id, search_reference.c.target_type)
Index(
    "ix_search_reference_url",
    search_reference.c.resource_type,
    search_reference.c.param,
    search_reference.c.url,
)
Index("ix_search_reference_pk", search_reference.c.resource_pk, search_reference.c.param)

search_date = Table(
    "search_date",
    metadata,
    *_owner(),
    Column("low", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
)
Index("ix_search_date_low", search_date.c.resource_type, search_date.c.param, search_date.c.low)
Index("ix_search_date_high", search_date.c.resource_type, search_date.c.param, search_date.c.high)
Index("ix_search_date_pk", search_date.c.resource_pk, search_date.c.param)

search_quantity = Table(
    "search_quantity",
    metadata,
    *_owner(),
    Column("value", Float, nullable=False),
    Column("system", LongText, nullable=True),
    Column("code", Text, nullable=True),
    Column("unit", Text, nullable=True),
)
Index(
    "ix_search_quantity_value",
    search_quantity.c.resource_type,
    search_quantity.c.param,
    search_quantity.c.value,
)
Index("ix_search_quantity_pk", search_quantity.c.resource_pk, search_quantity.c.param)

search_number = Table(
    "search_number",
    metadata,
    *_owner(),
    Column("value", Float, nullable=False),
)
Index("ix_search_number_value", search_number.c.resource_type, search_number.c.param, search_number.c.value)
Index("ix_search_number_pk", search_number.c.resource_pk, search_number.c.param)

search_uri = Table(
    "search_uri",
    metadata,
    *_owner(),
    Column("uri", LongText, nullable=False),
)
Index("ix_search_uri_uri", search_uri.c.resource_type, search_uri.c.param, search_uri.c.uri)
Index("ix_search_uri_pk", search_uri.c.resource_pk, search_uri.c.param)

# A composite value: a token (first component) paired with a token, quantity, date or string.
search_composite = Table(
    "search_composite",
    metadata,
    *_owner(),
    Column("system", LongText, nullable=True),
    Column("code", Text, nullable=True),
    Column("system2", LongText, nullable=True),
    Column("code2", Text, nullable=True),
    Column("norm2", Text, nullable=True),
    Column("low2", BigInteger, nullable=True),
    Column("high2", BigInteger, nullable=True),
    Column("value2", Float, nullable=True),
)
Index(
    "ix_search_composite_code",
    search_composite.c.resource_type,
    search_composite.c.param,
    search_composite.c.code,
)
Index("ix_search_composite_pk", search_composite.c.resource_pk, search_composite.c.param)

INDEX_TABLES: dict[str, Table] = {
    "token": search_token,
    "string": search_string,
    "reference": search_reference,
    "date": search_date,
    "quantity": search_quantity,
    "number": search_number,
    "uri": search_uri,
    "composite": search_composite,
}


def create_search_tables(conn: Connection) -> None:
    """Migration 2: the search index tables and their indexes."""
    for table in INDEX_TABLES.values():
        table.create(conn)


__all__ = [
    "INDEX_TABLES",
    "create_search_tables",
    "search_composite",
    "search_date",
    "search_number",
    "search_quantity",
    "search_reference",
    "search_string",
    "search_token",
    "search_uri",
]
