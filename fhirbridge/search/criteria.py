"""What the condition of every search criterion is built with: the context it is built in (the base URL,
the caller's row filter, whether it drives the query), the two errors a parameter the search cannot use
raises, splitting a value on its commas and pipes, and matching a parameter's rows in its index table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection, Table

from fhirbridge.errors import BadRequest
from fhirbridge.search.definitions import SearchParamInfo

__all__ = [
    "PREFIXES",
    "Condition",
    "Context",
    "RowFilter",
    "UnknownParameter",
    "UnsupportedSearch",
    "Viewer",
    "any_of",
    "bad_parameter",
    "index_match",
    "no_modifier",
    "split_pipe",
    "split_values",
    "visible_to",
]

# Conditions are built on table aliases whose columns SQLAlchemy types as Any.
Condition = Any
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


class UnknownParameter(Exception):
    """The type has no parameter of this name: skipped and reported when lenient, 400 when strict."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason


class UnsupportedSearch(UnknownParameter):
    """A parameter used in a way the server cannot honour: a modifier it does not support, a chain
    through a parameter that does not exist or is no reference. Always 400 (R4 3.1.1.5): skipping it
    would answer another question than the one asked (``Goal?subject.foo=x``: every Goal)."""


# (resource type, the resources table or an alias) -> the condition a row must meet to be seen by the
# caller; every resource a search reads (matches, chained and _has targets, includes) passes through it.
RowFilter = Callable[[str, Any], Any]


class Viewer(Protocol):
    """Whom a read is for, as the access policy's row filter (``fhirbridge.security.access.Access`` is one;
    None: everything). ``conn``: the connection the read runs on, whose view of the caller's relations (a
    write transaction's own writes included) the filter then follows."""

    def row_filter(self, conn: Connection | None = None) -> RowFilter | None: ...


@dataclass(frozen=True)
class Context:
    base_url: str = ""
    visible: RowFilter | None = None
    # The one criterion that drives the query is an ``IN`` over its index; the others are correlated
    # ``EXISTS`` probes, so SQLite (which has no statistics) never materialises a large match list.
    drive: bool = True


def split_values(raw: str) -> list[str]:
    """Split on commas that are not escaped (``\\,``); unescape ``\\,`` ``\\|`` ``\\$`` ``\\\\``."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in raw:
        if escaped:
            current.append(char if char in ",|$\\" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def split_pipe(value: str) -> list[str]:
    return value.split("|")


def bad_parameter(name: str, message: str) -> BadRequest:
    return BadRequest(message, expression=name, code="invalid")


def index_match(table: Table, resource_type: str | None, code: str, r: Any, ctx: Context, *where: Any) -> Condition:
    if ctx.drive:
        inner = sa.select(table.c.resource_pk).where(table.c.param == code, *where)
        if resource_type is not None:
            inner = inner.where(table.c.resource_type == resource_type)
        return r.c.pk.in_(inner)
    # A probe of one resource's rows. It leaves out resource_type (the row's pk already fixes it) so that
    # the value indexes, which lead with resource_type, cannot be chosen: SQLite plans without
    # statistics and would otherwise scan every row holding the value once per candidate resource.
    return sa.exists().where(table.c.resource_pk == r.c.pk, table.c.param == code, *where)


def visible_to(ctx: Context, resource_type: str, r: Any) -> list[Condition]:
    """The caller's row filter for rows ``r`` of ``resource_type`` (nothing to add when unrestricted)."""
    return [] if ctx.visible is None else [ctx.visible(resource_type, r)]


def any_of(conditions: list[Condition]) -> Condition:
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def no_modifier(info: SearchParamInfo, name: str, modifier: str, allowed: tuple[str, ...] = ()) -> None:
    if modifier and modifier not in allowed:
        raise UnsupportedSearch(name, f"Modifier ':{modifier}' is not supported on {info.type} parameter '{info.code}'")
