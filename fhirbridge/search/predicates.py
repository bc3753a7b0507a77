"""Turn one search parameter (name and value as sent) into an SQL condition on ``resources``.

Every condition is expressed against a ``resources`` table (or alias) passed in, so the same code
serves a plain search, a chained one (the condition applies to the referenced resources) and a
reverse chain (``_has``, the condition applies to the referring ones). Commas in a value are OR; the
caller ANDs repeated parameters. A parameter the type does not have raises ``UnknownParameter`` (the
caller may skip it); one used in a way that cannot be honoured raises ``UnsupportedSearch`` (never
skipped). What each parameter type adds is in ``type_predicates``; what every condition is built with
(the context, the errors, index matching) in ``criteria``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from fhirbridge.search.criteria import (
    Condition,
    Context,
    RowFilter,
    UnknownParameter,
    UnsupportedSearch,
    any_of,
    bad_parameter,
    index_match,
    split_values,
    visible_to,
)
from fhirbridge.search.definitions import SearchParamInfo, compartment_params, parameter, parameters_for
from fhirbridge.search.tables import INDEX_TABLES, search_reference
from fhirbridge.search.type_predicates import BUILDERS, date_condition, prefix_range
from fhirbridge.storage.schema import resources

__all__ = [
    "MAX_CHAIN_DEPTH",
    "Context",
    "RowFilter",
    "UnknownParameter",
    "UnsupportedSearch",
    "compartment_condition",
    "condition",
]

MAX_CHAIN_DEPTH = 4


# --- entry point -------------------------------------------------------------------------------------


def condition(resource_type: str | None, name: str, raw_value: str, r: Any, ctx: Context, depth: int = 0) -> Condition:
    """The condition for ``name=raw_value`` on resources ``r`` of ``resource_type``."""
    if depth > MAX_CHAIN_DEPTH:
        raise bad_parameter(name, f"Search parameter '{name}' chains deeper than {MAX_CHAIN_DEPTH} levels")
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
    builder = BUILDERS[info.type]
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


# --- :missing, and the _id and _lastUpdated every resource has ---------------------------------------


def _missing(
    resource_type: str | None, info: SearchParamInfo, name: str, raw_value: str, r: Any, ctx: Context
) -> Condition:
    if raw_value not in ("true", "false"):
        raise bad_parameter(name, f"':missing' takes true or false, not '{raw_value}'")
    present = index_match(INDEX_TABLES[info.type], resource_type, info.code, r, ctx)
    return sa.not_(present) if raw_value == "true" else present


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
        prefix, start, end = prefix_range(name, raw)
        parts.append(date_condition(prefix, r.c.last_updated, r.c.last_updated, start, end))
    return any_of(parts)


# --- chains and reverse chains -----------------------------------------------------------------------


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
    return index_match(t, resource_type, info.code, r, ctx, any_of(parts))


def _known_types() -> set[str]:
    from fhirbridge.search.definitions import searchable_types

    return set(searchable_types())


def _reverse_chain(resource_type: str | None, name: str, raw: str, r: Any, ctx: Context, depth: int) -> Condition:
    # _has:Observation:patient:code=1234: resources an Observation with code 1234 refers to via patient
    pieces = name.split(":", 3)
    if len(pieces) != 4 or not all(pieces[1:]):
        raise bad_parameter(name, f"'{name}' is not a valid _has parameter (_has:Type:reference:parameter)")
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
