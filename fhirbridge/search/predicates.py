"""Turn one search parameter (name and value as sent) into an SQL condition on ``resources``.

Every condition is expressed against a ``resources`` table (or alias) passed in, so the same code
serves a plain search, a chained one (the condition applies to the referenced resources) and a
reverse chain (``_has``, the condition applies to the referring ones). Commas in a value are OR; the
caller ANDs repeated parameters. A parameter the type does not have raises ``UnknownParameter`` (the
caller may skip it); one used in a way that cannot be honoured raises ``UnsupportedSearch`` (never
skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table

from fhirbridge.errors import BadRequest
from fhirbridge.search import values
from fhirbridge.search.definitions import SearchParamInfo, compartment_params, parameter, parameters_for
from fhirbridge.search.tables import (
    INDEX_TABLES,
    search_composite,
    search_date,
    search_number,
    search_quantity,
    search_reference,
    search_string,
    search_token,
    search_uri,
)
from fhirbridge.storage.clock import now_micros
from fhirbridge.storage.schema import resources

# Conditions are built on table aliases whose columns SQLAlchemy types as Any.
Condition = Any
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MAX_CHAIN_DEPTH = 4


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


def _split_pipe(value: str) -> list[str]:
    return value.split("|")


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(message, expression=name, code="invalid")


# --- entry point -------------------------------------------------------------------------------------


def condition(resource_type: str | None, name: str, raw_value: str, r: Any, ctx: Context, depth: int = 0) -> Condition:
    """The condition for ``name=raw_value`` on resources ``r`` of ``resource_type``."""
    if depth > MAX_CHAIN_DEPTH:
        raise _bad(name, f"Search parameter '{name}' chains deeper than {MAX_CHAIN_DEPTH} levels")
    if name.startswith("_has:"):
        return _reverse_chain(resource_type, name, raw_value, r, ctx, depth)
    head, _, chain = name.partition(".")
    code, _, modifier = head.partition(":")
    if code == "_id":
        return _resource_id(name, modifier, raw_value, r)
    if code == "_lastUpdated":
        return _last_updated(name, modifier, raw_value, r)
    info = parameter(resource_type, code)
    if info is None:
        where = resource_type or "a system-wide search"
        reason = f"Unknown search parameter '{code}' for {where}"
        if chain or depth:  # only a plain parameter may be skipped, never a link of a chain
            raise UnsupportedSearch(name, reason)
        raise UnknownParameter(name, reason)
    if chain:
        if info.type != "reference":
            raise UnsupportedSearch(name, f"Search parameter '{code}' is not a reference and cannot be chained")
        return _chain(resource_type, info, modifier, chain, raw_value, r, ctx, depth)
    if modifier == "missing":
        return _missing(resource_type, info, name, raw_value, r, ctx)
    builder = _BUILDERS[info.type]
    return builder(resource_type, info, name, modifier, raw_value, r, ctx)


def compartment_condition(compartment: tuple[str, str], resource_type: str, r: Any) -> Condition:
    """Resources of ``resource_type`` in the compartment of ``compartment_type/id``."""
    compartment_type, compartment_id = compartment
    codes = compartment_params(compartment_type, resource_type)
    if not codes:
        return sa.false()
    t = search_reference
    inner = sa.select(t.c.resource_pk).where(
        t.c.resource_type == resource_type,
        t.c.param.in_(codes),
        t.c.target_id == compartment_id,
        t.c.target_type == compartment_type,
    )
    return r.c.pk.in_(inner)


# --- helpers -----------------------------------------------------------------------------------------


def _index_match(table: Table, resource_type: str | None, code: str, r: Any, ctx: Context, *where: Any) -> Condition:
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


def _any(conditions: list[Condition]) -> Condition:
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def _no_modifier(info: SearchParamInfo, name: str, modifier: str, allowed: tuple[str, ...] = ()) -> None:
    if modifier and modifier not in allowed:
        raise UnsupportedSearch(name, f"Modifier ':{modifier}' is not supported on {info.type} parameter '{info.code}'")


def _missing(
    resource_type: str | None, info: SearchParamInfo, name: str, raw_value: str, r: Any, ctx: Context
) -> Condition:
    if raw_value not in ("true", "false"):
        raise _bad(name, f"':missing' takes true or false, not '{raw_value}'")
    present = _index_match(INDEX_TABLES[info.type], resource_type, info.code, r, ctx)
    return sa.not_(present) if raw_value == "true" else present


def _prefix_range(name: str, raw: str) -> tuple[str, int, int]:
    prefix = raw[:2] if raw[:2] in PREFIXES else "eq"
    text = raw[2:] if raw[:2] in PREFIXES else raw
    found = values.date_range(text)
    if found is None:
        raise _bad(name, f"'{raw}' is not a valid date for search parameter '{name}'")
    return prefix, found[0], found[1]


def date_condition(prefix: str, low: Any, high: Any, start: int, end: int) -> Condition:
    """Range comparison of a target ``[low, high]`` with a search value ``[start, end]`` (R4 search)."""
    if prefix == "eq":
        return sa.and_(low >= start, high <= end)
    if prefix == "ne":
        return sa.or_(low < start, high > end)
    if prefix == "gt":
        return high > end
    if prefix == "lt":
        return low < start
    if prefix == "ge":
        return high >= start
    if prefix == "le":
        return low <= end
    if prefix == "sa":
        return low > end
    if prefix == "eb":
        return high < start
    # ap: overlap with the value widened by a tenth of its distance from now (at least a day)
    widen = max(abs(now_micros() - start) // 10, 86_400_000_000)
    return sa.and_(low <= end + widen, high >= start - widen)


# --- per type ----------------------------------------------------------------------------------------


def _resource_id(name: str, modifier: str, raw_value: str, r: Any) -> Condition:
    if modifier == "missing":
        return sa.false() if raw_value == "true" else sa.true()
    if modifier == "not":
        return r.c.id.not_in(split_values(raw_value))
    if modifier:
        raise UnsupportedSearch(name, f"Modifier ':{modifier}' is not supported on '_id'")
    return r.c.id.in_(split_values(raw_value))


def _last_updated(name: str, modifier: str, raw_value: str, r: Any) -> Condition:
    if modifier == "missing":
        return sa.false() if raw_value == "true" else sa.true()
    if modifier:
        raise UnsupportedSearch(name, f"Modifier ':{modifier}' is not supported on '_lastUpdated'")
    parts = []
    for raw in split_values(raw_value):
        prefix, start, end = _prefix_range(name, raw)
        parts.append(date_condition(prefix, r.c.last_updated, r.c.last_updated, start, end))
    return _any(parts)


def _token(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    _no_modifier(info, name, modifier, ("not", "text", "of-type"))
    t = search_token
    parts: list[Condition] = []
    for value in split_values(raw):
        if modifier == "text":
            parts.append(_prefix(t.c.text, values.normalize(value)))
            continue
        if modifier == "of-type":
            pieces = _split_pipe(value)
            if len(pieces) != 3 or not all(pieces):
                raise _bad(name, f"':of-type' takes system|code|value, not '{value}'")
            parts.append(sa.and_(t.c.type_system == pieces[0], t.c.type_code == pieces[1], t.c.code == pieces[2]))
            continue
        parts.append(_token_parts(t.c.system, t.c.code, value))
    matched = _index_match(t, resource_type, info.code, r, ctx, _any(parts))
    return sa.not_(matched) if modifier == "not" else matched


def _prefix(column: Any, prefix: str) -> Condition:
    """``column`` starts with ``prefix``, as an index range (byte-wise ordered columns)."""
    if not prefix:
        return column.is_not(None)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return sa.and_(column >= prefix, column < upper)


def _string(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    _no_modifier(info, name, modifier, ("exact", "contains"))
    t = search_string
    parts: list[Condition] = []
    for value in split_values(raw):
        if modifier == "exact":
            parts.append(t.c.exact == value)
        elif modifier == "contains":
            needle = values.normalize(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parts.append(t.c.norm.like(f"%{needle}%", escape="\\"))
        else:
            parts.append(_prefix(t.c.norm, values.normalize(value)))
    return _index_match(t, resource_type, info.code, r, ctx, _any(parts))


def _reference_value(info: SearchParamInfo, name: str, modifier: str, value: str, ctx: Context) -> Condition:
    t = search_reference
    base = ctx.base_url.rstrip("/")
    if base and value.startswith(base + "/"):
        value = value[len(base) + 1 :]
    if not value:
        raise _bad(name, f"Search parameter '{name}' needs a reference")
    target_type: str | None
    target_id: str | None
    if "/" not in value and ":" not in value:  # a bare id
        target_type, target_id = (modifier or None), value
    else:
        target_type, target_id, url = values.split_reference(value)
        if url is not None or target_id is None:
            return t.c.url == (url or value)
    if modifier and target_type != modifier:
        return sa.false()
    if target_type is None:
        return t.c.target_id == target_id
    return sa.and_(t.c.target_id == target_id, t.c.target_type == target_type)


def _reference(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    if modifier == "identifier":
        t = search_token
        matches = [_token_parts(t.c.system, t.c.code, value) for value in split_values(raw)]
        return _index_match(t, resource_type, f"{info.code}:identifier", r, ctx, _any(matches))
    if modifier and modifier not in info.target and not (modifier[:1].isupper() and not info.target):
        raise UnsupportedSearch(name, f"Modifier ':{modifier}' is not supported on reference parameter '{info.code}'")
    parts = [_reference_value(info, name, modifier, value, ctx) for value in split_values(raw)]
    return _index_match(search_reference, resource_type, info.code, r, ctx, _any(parts))


def _chain(
    resource_type: str | None,
    info: SearchParamInfo,
    modifier: str,
    chain: str,
    raw: str,
    r: Any,
    ctx: Context,
    depth: int,
) -> Condition:
    targets = [modifier] if modifier else list(info.target)
    t = search_reference
    parts: list[Condition] = []
    chained_code = chain.partition(".")[0].partition(":")[0]
    for target in targets:
        if chained_code not in parameters_for(target) and chained_code not in ("_id", "_lastUpdated"):
            continue
        if not chained_code.startswith("_has") and target not in _known_types():
            continue
        referenced = resources.alias()
        inner = sa.select(referenced.c.id).where(
            referenced.c.resource_type == target,
            referenced.c.deleted.is_(False),
            condition(target, chain, raw, referenced, replace(ctx, drive=True), depth + 1),
            *visible_to(ctx, target, referenced),
        )
        parts.append(sa.and_(t.c.target_type == target, t.c.target_id.in_(inner)))
    if not parts:
        raise UnsupportedSearch(
            f"{info.code}.{chain}", f"Chained parameter '{chain}' is unknown for the targets of '{info.code}'"
        )
    return _index_match(t, resource_type, info.code, r, ctx, _any(parts))


def _known_types() -> set[str]:
    from fhirbridge.search.definitions import searchable_types

    return set(searchable_types())


def _reverse_chain(resource_type: str | None, name: str, raw: str, r: Any, ctx: Context, depth: int) -> Condition:
    # _has:Observation:patient:code=1234: resources an Observation with code 1234 refers to via patient
    pieces = name.split(":", 3)
    if len(pieces) != 4 or not all(pieces[1:]):
        raise _bad(name, f"'{name}' is not a valid _has parameter (_has:Type:reference:parameter)")
    _, source_type, reference_code, rest = pieces
    info = parameter(source_type, reference_code)
    if info is None or info.type != "reference" or source_type not in _known_types():
        raise UnsupportedSearch(name, f"'{source_type}:{reference_code}' is not a reference parameter")
    if resource_type is None:
        raise UnsupportedSearch(name, "'_has' needs a resource type")
    source = resources.alias()
    referring = sa.select(source.c.pk).where(
        source.c.resource_type == source_type,
        source.c.deleted.is_(False),
        condition(source_type, rest, raw, source, replace(ctx, drive=True), depth + 1),
        *visible_to(ctx, source_type, source),
    )
    t = search_reference
    targets = sa.select(t.c.target_id).where(
        t.c.resource_type == source_type,
        t.c.param == reference_code,
        t.c.target_type == resource_type,
        t.c.resource_pk.in_(referring),
    )
    return r.c.id.in_(targets)


def _number_condition(column: Any, prefix: str, number: Decimal) -> Condition:
    low, high = values.precision_range(number)
    if prefix == "eq":
        return sa.and_(column >= float(low), column < float(high))
    if prefix == "ne":
        return sa.or_(column < float(low), column >= float(high))
    if prefix in ("gt", "sa"):
        return column > float(number)
    if prefix in ("lt", "eb"):
        return column < float(number)
    if prefix == "ge":
        return column >= float(number)
    if prefix == "le":
        return column <= float(number)
    margin = abs(number) / 10  # ap: within 10%
    return sa.and_(column >= float(number - margin), column <= float(number + margin))


def _prefixed_number(name: str, raw: str) -> tuple[str, Decimal]:
    prefix = raw[:2] if raw[:2] in PREFIXES else "eq"
    text = raw[2:] if raw[:2] in PREFIXES else raw
    number = values.decimal_value(text)
    if number is None or not number.is_finite():
        raise _bad(name, f"'{raw}' is not a number for search parameter '{name}'")
    return prefix, number


def _number(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    _no_modifier(info, name, modifier)
    t = search_number
    parts = [_number_condition(t.c.value, *_prefixed_number(name, value)) for value in split_values(raw)]
    return _index_match(t, resource_type, info.code, r, ctx, _any(parts))


def _quantity(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    _no_modifier(info, name, modifier)
    t = search_quantity
    parts: list[Condition] = []
    for value in split_values(raw):
        pieces = _split_pipe(value)
        if len(pieces) not in (1, 3):
            raise _bad(name, f"'{value}' is not a quantity (number|system|code) for '{name}'")
        clauses = [_number_condition(t.c.value, *_prefixed_number(name, pieces[0]))]
        if len(pieces) == 3:
            system, code = pieces[1], pieces[2]
            if system:
                clauses.append(t.c.system == system)
            if code:
                clauses.append(sa.or_(t.c.code == code, t.c.unit == code) if not system else t.c.code == code)
        parts.append(sa.and_(*clauses))
    return _index_match(t, resource_type, info.code, r, ctx, _any(parts))


def _uri(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    _no_modifier(info, name, modifier, ("below", "above"))
    t = search_uri
    parts: list[Condition] = []
    for value in split_values(raw):
        if modifier == "below":
            parts.append(_prefix(t.c.uri, value))
        elif modifier == "above":
            # every ancestor of the value at a path boundary, the value itself included
            ancestors = {value[:i] for i, char in enumerate(value) if char == "/" and i > 0} | {value}
            parts.append(t.c.uri.in_(sorted(ancestors)))
        else:
            parts.append(t.c.uri == value)
    return _index_match(t, resource_type, info.code, r, ctx, _any(parts))


def _token_parts(system_column: Any, code_column: Any, value: str) -> Condition:
    if "|" not in value:
        return code_column == value
    system, _, code = value.partition("|")
    if not system:
        return sa.and_(system_column.is_(None), code_column == code)
    if not code:
        return system_column == system
    return sa.and_(system_column == system, code_column == code)


def _composite(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    _no_modifier(info, name, modifier)
    t = search_composite
    second_type = info.components[1][1]
    parts: list[Condition] = []
    for value in split_values(raw):
        first, separator, second = value.partition("$")
        if not separator or not first or not second:
            raise _bad(name, f"'{value}' is not a composite value (first$second) for '{name}'")
        clauses = [_token_parts(t.c.system, t.c.code, first)]
        if second_type == "token":
            clauses.append(_token_parts(t.c.system2, t.c.code2, second))
        elif second_type == "quantity":
            pieces = _split_pipe(second)
            clauses.append(_number_condition(t.c.value2, *_prefixed_number(name, pieces[0])))
            if len(pieces) == 3 and pieces[1]:
                clauses.append(t.c.system2 == pieces[1])
            if len(pieces) == 3 and pieces[2]:
                clauses.append(t.c.code2 == pieces[2])
        elif second_type == "date":
            prefix, start, end = _prefix_range(name, second)
            clauses.append(date_condition(prefix, t.c.low2, t.c.high2, start, end))
        else:
            clauses.append(_prefix(t.c.norm2, values.normalize(second)))
        parts.append(sa.and_(*clauses))
    return _index_match(t, resource_type, info.code, r, ctx, _any(parts))


Builder = Callable[[str | None, SearchParamInfo, str, str, str, Any, Context], Condition]


def _date_builder(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    _no_modifier(info, name, modifier)
    t = search_date
    parts = []
    for value in split_values(raw):
        prefix, start, end = _prefix_range(name, value)
        parts.append(date_condition(prefix, t.c.low, t.c.high, start, end))
    return _index_match(t, resource_type, info.code, r, ctx, _any(parts))


_BUILDERS: dict[str, Builder] = {
    "token": _token,
    "string": _string,
    "reference": _reference,
    "date": _date_builder,
    "number": _number,
    "quantity": _quantity,
    "uri": _uri,
    "composite": _composite,
}

__all__ = [
    "PREFIXES",
    "Context",
    "UnknownParameter",
    "UnsupportedSearch",
    "compartment_condition",
    "condition",
    "date_condition",
    "split_values",
]
