"""The condition a search parameter of each type sets (token, string, reference, date, number, quantity,
uri, composite), with its modifiers and prefixes, on the rows of the type's index table.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from fhirbridge.search import values
from fhirbridge.search.criteria import (
    PREFIXES,
    Condition,
    Context,
    UnsupportedSearch,
    any_of,
    bad_parameter,
    index_match,
    no_modifier,
    split_pipe,
    split_values,
)
from fhirbridge.search.definitions import SearchParamInfo
from fhirbridge.search.tables import (
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

__all__ = ["BUILDERS", "Builder", "date_condition", "prefix_range"]


def prefix_range(name: str, raw: str) -> tuple[str, int, int]:
    prefix = raw[:2] if raw[:2] in PREFIXES else "eq"
    text = raw[2:] if raw[:2] in PREFIXES else raw
    found = values.date_range(text)
    if found is None:
        raise bad_parameter(name, f"'{raw}' is not a valid date for search parameter '{name}'")
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


def _token(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    no_modifier(info, name, modifier, ("not", "text", "of-type"))
    t = search_token
    parts: list[Condition] = []
    for value in split_values(raw):
        if modifier == "text":
            parts.append(_prefix(t.c.text, values.normalize(value)))
            continue
        if modifier == "of-type":
            pieces = split_pipe(value)
            if len(pieces) != 3 or not all(pieces):
                raise bad_parameter(name, f"':of-type' takes system|code|value, not '{value}'")
            parts.append(sa.and_(t.c.type_system == pieces[0], t.c.type_code == pieces[1], t.c.code == pieces[2]))
            continue
        parts.append(_token_parts(t.c.system, t.c.code, value))
    matched = index_match(t, resource_type, info.code, r, ctx, any_of(parts))
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
    no_modifier(info, name, modifier, ("exact", "contains"))
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
    return index_match(t, resource_type, info.code, r, ctx, any_of(parts))


def _reference_value(info: SearchParamInfo, name: str, modifier: str, value: str, ctx: Context) -> Condition:
    t = search_reference
    base = ctx.base_url.rstrip("/")
    if base and value.startswith(base + "/"):
        value = value[len(base) + 1 :]
    if not value:
        raise bad_parameter(name, f"Search parameter '{name}' needs a reference")
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
        return index_match(t, resource_type, f"{info.code}:identifier", r, ctx, any_of(matches))
    if modifier and modifier not in info.target and not (modifier[:1].isupper() and not info.target):
        raise UnsupportedSearch(name, f"Modifier ':{modifier}' is not supported on reference parameter '{info.code}'")
    parts = [_reference_value(info, name, modifier, value, ctx) for value in split_values(raw)]
    return index_match(search_reference, resource_type, info.code, r, ctx, any_of(parts))


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
        raise bad_parameter(name, f"'{raw}' is not a number for search parameter '{name}'")
    return prefix, number


def _number(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    no_modifier(info, name, modifier)
    t = search_number
    parts = [_number_condition(t.c.value, *_prefixed_number(name, value)) for value in split_values(raw)]
    return index_match(t, resource_type, info.code, r, ctx, any_of(parts))


def _quantity(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    no_modifier(info, name, modifier)
    t = search_quantity
    parts: list[Condition] = []
    for value in split_values(raw):
        pieces = split_pipe(value)
        if len(pieces) not in (1, 3):
            raise bad_parameter(name, f"'{value}' is not a quantity (number|system|code) for '{name}'")
        clauses = [_number_condition(t.c.value, *_prefixed_number(name, pieces[0]))]
        if len(pieces) == 3:
            system, code = pieces[1], pieces[2]
            if system:
                clauses.append(t.c.system == system)
            if code:
                clauses.append(sa.or_(t.c.code == code, t.c.unit == code) if not system else t.c.code == code)
        parts.append(sa.and_(*clauses))
    return index_match(t, resource_type, info.code, r, ctx, any_of(parts))


def _uri(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    no_modifier(info, name, modifier, ("below", "above"))
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
    return index_match(t, resource_type, info.code, r, ctx, any_of(parts))


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
    no_modifier(info, name, modifier)
    t = search_composite
    second_type = info.components[1][1]
    parts: list[Condition] = []
    for value in split_values(raw):
        first, separator, second = value.partition("$")
        if not separator or not first or not second:
            raise bad_parameter(name, f"'{value}' is not a composite value (first$second) for '{name}'")
        clauses = [_token_parts(t.c.system, t.c.code, first)]
        if second_type == "token":
            clauses.append(_token_parts(t.c.system2, t.c.code2, second))
        elif second_type == "quantity":
            pieces = split_pipe(second)
            clauses.append(_number_condition(t.c.value2, *_prefixed_number(name, pieces[0])))
            if len(pieces) == 3 and pieces[1]:
                clauses.append(t.c.system2 == pieces[1])
            if len(pieces) == 3 and pieces[2]:
                clauses.append(t.c.code2 == pieces[2])
        elif second_type == "date":
            prefix, start, end = prefix_range(name, second)
            clauses.append(date_condition(prefix, t.c.low2, t.c.high2, start, end))
        else:
            clauses.append(_prefix(t.c.norm2, values.normalize(second)))
        parts.append(sa.and_(*clauses))
    return index_match(t, resource_type, info.code, r, ctx, any_of(parts))


Builder = Callable[[str | None, SearchParamInfo, str, str, str, Any, Context], Condition]


def _date_builder(
    resource_type: str | None, info: SearchParamInfo, name: str, modifier: str, raw: str, r: Any, ctx: Context
) -> Condition:
    no_modifier(info, name, modifier)
    t = search_date
    parts = []
    for value in split_values(raw):
        prefix, start, end = prefix_range(name, value)
        parts.append(date_condition(prefix, t.c.low, t.c.high, start, end))
    return index_match(t, resource_type, info.code, r, ctx, any_of(parts))


BUILDERS: dict[str, Builder] = {
    "token": _token,
    "string": _string,
    "reference": _reference,
    "date": _date_builder,
    "number": _number,
    "quantity": _quantity,
    "uri": _uri,
    "composite": _composite,
}
