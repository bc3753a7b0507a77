"""Run a FHIR search: criteria, sort, keyset paging, totals and includes, below HTTP.

What the search asks for is read in ``request``, each criterion's condition built in ``predicates``.
Paging (``paging``) is keyset paging over the sort keys plus ``resources.pk`` (a resource keeps its pk
across versions), with a snapshot bound ``pk <= max_pk`` taken on the first page: resources created while
a client walks the pages do not shift or duplicate entries, and each page is an index seek rather than
an ever-growing OFFSET.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.errors import BadRequest
from fhirbridge.search import predicates
from fhirbridge.search.definitions import parameter, parameters_for
from fhirbridge.search.elements import shape
from fhirbridge.search.indexer import flush_index
from fhirbridge.search.paging import Snapshot, page
from fhirbridge.search.request import (
    DEFAULT_LIMITS,
    SearchLimits,
    SearchRequest,
    check_request,
    in_request_order,
    parse_controls,
    refuse,
    reject,
    requested_types,
)
from fhirbridge.search.tables import search_reference
from fhirbridge.storage.schema import resources

__all__ = ["DEFAULT_LIMITS", "SearchEntry", "SearchLimits", "SearchResult", "match_ids", "search"]

MAX_INCLUDED = 1000
MAX_ITERATE_ROUNDS = 4


@dataclass(frozen=True)
class SearchEntry:
    resource_type: str
    id: str
    content: bytes
    mode: Literal["match", "include"]


@dataclass(frozen=True)
class SearchResult:
    """One page of a search. ``applied`` holds exactly the parameters honoured (for the self link)."""

    resource_type: str | None
    entries: list[SearchEntry]
    total: int | None
    applied: list[tuple[str, str]]
    ignored: list[str] = field(default_factory=list)
    next_cursor: str | None = None
    previous_cursor: str | None = None

    @property
    def matches(self) -> list[SearchEntry]:
        return [e for e in self.entries if e.mode == "match"]


# --- the search --------------------------------------------------------------------------------------


def _criteria(
    resource_type: str | None,
    request: SearchRequest,
    r: Any,
    strict: bool,
    ctx: predicates.Context,
    driven: bool = False,
) -> list[Any]:
    conditions: list[Any] = [r.c.deleted.is_(False)]
    selective = driven
    driver = None if driven else _driver(resource_type, request.criteria)
    for position, (name, value) in enumerate(request.criteria):
        drive = replace(ctx, drive=position == driver)
        try:
            conditions.append(predicates.condition(resource_type, name, value, r, drive))
        except predicates.UnsupportedSearch as exc:
            raise refuse(name, exc.reason) from None
        except predicates.UnknownParameter as exc:
            reject(strict, request, exc.name, exc.reason)
            continue
        request.applied.append((name, value))
        selective = selective or _selective(name)
    if resource_type is not None:
        # With a selective index criterion the matching pks drive the query; SQLite without statistics
        # would otherwise walk the whole type through the type index, so the type test is kept out of it.
        column = r.c.resource_type.concat("") if selective else r.c.resource_type
        conditions.append(column == resource_type)
    return conditions


# Which kind of criterion narrows the most, typically: a patient reference before a category token.
_DRIVE_PRIORITY = {"reference": 0, "token": 1, "uri": 2, "string": 3, "date": 4, "quantity": 5, "number": 6}


def _driver(resource_type: str | None, criteria: list[tuple[str, str]]) -> int | None:
    """The position of the criterion whose index lookup drives the query (None: no selective one)."""
    best: tuple[int, int] | None = None
    for position, (name, _) in enumerate(criteria):
        if not _selective(name):
            continue
        code = name.partition(".")[0].partition(":")[0]
        info = parameter(resource_type, code)
        rank = -1 if code in ("_id", "_has") else _DRIVE_PRIORITY.get(info.type, 9) if info else 9
        if best is None or rank < best[0]:
            best = (rank, position)
    return best[1] if best else None


def _selective(name: str) -> bool:
    """A criterion naming a few resources through an index lookup (not a negation or a time range)."""
    head = name.partition(".")[0]
    code, _, modifier = head.partition(":")
    return code != "_lastUpdated" and modifier not in ("not", "missing", "contains")


def search(
    conn: Connection,
    resource_type: str | None,
    params: list[tuple[str, str]],
    *,
    strict: bool = False,
    base_url: str = "",
    compartment: tuple[str, str] | None = None,
    visible: predicates.RowFilter | None = None,
    limits: SearchLimits = DEFAULT_LIMITS,
    within: predicates.RowFilter | None = None,
) -> SearchResult:
    """Search ``resource_type`` (None: all types) with ``params`` as sent (name, value), in order.

    ``compartment`` restricts to a compartment, e.g. ``("Patient", "123")``. Unknown parameters raise
    ``BadRequest`` when ``strict``, else they are skipped and listed in ``SearchResult.ignored``; what
    cannot be honoured (an unsupported modifier, a chain through a parameter that does not exist, an
    unknown ``_include``, ``_revinclude`` or ``_sort``) and what goes beyond ``limits`` always raise it.
    ``visible`` is the caller's row filter: every row the search reads (matches, the targets of chains
    and ``_has``, included resources) must meet it, so counts and paging see only what the caller may.
    ``within`` is a condition on the matches alone (not on chain targets or includes): the population a
    bulk export is drawn from (fhirbridge/bulk), such as the children of a Group.
    """
    check_request(params, limits)
    flush_index(conn)  # inside a write transaction, what it wrote so far is found too
    types = requested_types(resource_type, params)
    if len(types) == 1:  # a system search for one type is a search of that type
        resource_type = types[0]
    request = parse_controls(resource_type, params, strict)
    ctx = predicates.Context(base_url=base_url, visible=visible)
    r = resources
    if compartment is not None and resource_type is None:
        raise BadRequest("A compartment search needs a resource type")
    conditions = _criteria(resource_type, request, r, strict, ctx, driven=compartment is not None)
    if len(types) > 1:
        conditions.append(r.c.resource_type.in_(types))
    conditions += _visible_rows(resource_type, types, r, visible)
    if within is not None and resource_type is not None:
        conditions.append(within(resource_type, r))
    request.applied = in_request_order(request.applied, params)
    if compartment is not None and resource_type is not None:
        conditions.append(predicates.compartment_condition(compartment, resource_type, r))

    if request.shaping.summary == "count" or request.count == 0:
        counted_all = conn.execute(sa.select(sa.func.count()).select_from(r).where(*conditions)).scalar_one()
        return SearchResult(resource_type, [], counted_all, request.applied, request.ignored)

    # Later pages keep to the snapshot the first one took (the highest pk then), so rows written
    # meanwhile do not shift them. The first page needs the snapshot only when there is a next one.
    snapshot = Snapshot(conn, request.cursor["m"] if request.cursor is not None else None)
    if snapshot.max_pk is not None:
        conditions.append(r.c.pk <= snapshot.max_pk)
    rows, next_cursor, previous_cursor = page(conn, resource_type, request, conditions, snapshot)
    total: int | None = None
    if request.total != "none":
        if request.cursor is None and next_cursor is None:
            total = len(rows)  # the whole result is on this page: no need to count it again
        else:
            counted = [*conditions, r.c.pk <= snapshot.bound()] if request.cursor is None else conditions
            total = conn.execute(sa.select(sa.func.count()).select_from(r).where(*counted)).scalar_one()
    shaping = request.shaping
    entries = [
        SearchEntry(row.resource_type, row.id, shape(bytes(row.content), row.resource_type, shaping), "match")
        for row in rows
    ]
    entries += _included(conn, entries, request, visible)
    return SearchResult(resource_type, entries, total, request.applied, request.ignored, next_cursor, previous_cursor)


def _visible_rows(
    resource_type: str | None, types: list[str], r: Any, visible: predicates.RowFilter | None
) -> list[Any]:
    if visible is None:
        return []
    if resource_type is not None:
        return [visible(resource_type, r)]
    # A search across types: each row meets its own type's filter; no type named, nothing is seen.
    return [sa.or_(*(sa.and_(r.c.resource_type == t, visible(t, r)) for t in types))] if types else [sa.false()]


def _included(
    conn: Connection, matches: list[SearchEntry], request: SearchRequest, visible: predicates.RowFilter | None
) -> list[SearchEntry]:
    if not (request.includes or request.revincludes) or not matches:
        return []
    seen = {(e.resource_type, e.id) for e in matches}
    found: list[SearchEntry] = []
    frontier = list(matches)
    for round_number in range(MAX_ITERATE_ROUNDS):
        first = round_number == 0
        includes = [s for s, iterate in request.includes if first or iterate]
        revincludes = [s for s, iterate in request.revincludes if first or iterate]
        if not (includes or revincludes) or not frontier:
            break
        added: list[SearchEntry] = []
        for row in _fetch_includes(conn, frontier, includes, revincludes, visible):
            if (row.resource_type, row.id) in seen or len(found) + len(added) >= MAX_INCLUDED:
                continue
            seen.add((row.resource_type, row.id))
            added.append(SearchEntry(row.resource_type, row.id, bytes(row.content), "include"))
        found += added
        frontier = added
    return found


def _fetch_includes(
    conn: Connection,
    sources: list[SearchEntry],
    includes: list[str],
    revincludes: list[str],
    visible: predicates.RowFilter | None,
) -> list[Any]:
    r, t = resources, search_reference
    wanted: list[Any] = []
    by_type: dict[str, list[str]] = {}
    for entry in sources:
        by_type.setdefault(entry.resource_type, []).append(entry.id)
    for spec in includes:
        source_type, code, *target = spec.split(":")
        if source_type not in by_type:
            continue
        source = r.alias()
        refs = (
            sa.select(t.c.target_type, t.c.target_id)
            .join(source, source.c.pk == t.c.resource_pk)
            .where(t.c.resource_type == source_type, t.c.param == code, source.c.id.in_(by_type[source_type]))
        )
        if target:
            refs = refs.where(t.c.target_type == target[0])
        pairs = list(conn.execute(refs).all())
        for target_type, ids in _group(pairs).items():
            wanted.append(
                sa.and_(r.c.resource_type == target_type, r.c.id.in_(ids), *_visible_rows(target_type, [], r, visible))
            )
    for spec in revincludes:
        source_type, code, *target = spec.split(":")
        for target_type, ids in by_type.items():
            if target and target[0] != target_type:
                continue
            referring = sa.select(t.c.resource_pk).where(
                t.c.resource_type == source_type,
                t.c.param == code,
                t.c.target_type == target_type,
                t.c.target_id.in_(ids),
            )
            wanted.append(sa.and_(r.c.pk.in_(referring), *_visible_rows(source_type, [], r, visible)))
    if not wanted:
        return []
    query = (
        sa.select(r.c.resource_type, r.c.id, r.c.content)
        .where(r.c.deleted.is_(False), sa.or_(*wanted))
        .order_by(r.c.pk)
        .limit(MAX_INCLUDED)
    )
    return list(conn.execute(query).all())


def _group(pairs: list[Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for target_type, target_id in pairs:
        if target_type and target_id:
            grouped.setdefault(target_type, []).append(target_id)
    return grouped


def match_ids(
    conn: Connection,
    resource_type: str,
    params: list[tuple[str, str]],
    *,
    base_url: str = "",
    visible: predicates.RowFilter | None = None,
    limits: SearchLimits = DEFAULT_LIMITS,
) -> list[str]:
    """Ids of the current resources matching ``params`` (conditional create, update and delete), among
    those ``visible`` lets the caller see: a match it may not see is no match.

    Strict: an unknown parameter raises ``BadRequest`` rather than widening the match. Paging and
    result parameters are not allowed here.
    """
    if not params:
        raise BadRequest("A conditional interaction needs search parameters")
    check_request(params, limits)
    flush_index(conn)
    request = SearchRequest()
    for name, _ in params:
        if (
            name.startswith("_")
            and name.partition(":")[0] not in parameters_for(resource_type)
            and not (name.startswith(("_id", "_lastUpdated", "_has:")))
        ):
            raise BadRequest(f"'{name}' cannot be used in a conditional interaction", expression=name)
    request.criteria = list(params)
    ctx = predicates.Context(base_url=base_url, visible=visible)
    conditions = _criteria(resource_type, request, resources, True, ctx)
    conditions += _visible_rows(resource_type, [], resources, visible)
    query = sa.select(resources.c.id).where(*conditions).order_by(resources.c.pk)
    return list(conn.execute(query).scalars())
