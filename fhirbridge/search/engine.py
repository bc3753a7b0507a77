"""Run a FHIR search: criteria, sort, keyset paging, totals and includes, below HTTP.

Paging is keyset paging over the sort keys plus ``resources.pk`` (a resource keeps its pk across
versions), with a snapshot bound ``pk <= max_pk`` taken on the first page: resources created while a
client walks the pages do not shift or duplicate entries, and each page is an index seek rather than
an ever-growing OFFSET.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.errors import BadRequest
from fhirbridge.search import predicates
from fhirbridge.search.definitions import parameter, parameters_for
from fhirbridge.search.elements import Shaping, shape
from fhirbridge.search.indexer import flush_index
from fhirbridge.search.tables import INDEX_TABLES, search_reference
from fhirbridge.search.values import MAX_MICROS, MIN_MICROS
from fhirbridge.storage.schema import resources

DEFAULT_COUNT = 20
MAX_COUNT = 1000
MAX_INCLUDED = 1000
MAX_ITERATE_ROUNDS = 4
# Each sort key is a correlated subquery per row, and a later page compares them pairwise (quadratic).
MAX_SORT_KEYS = 10
CURSOR_PARAM = "_cursor"
# Parameters the HTTP layer deals with: neither criteria nor unknown.
TRANSPORT_PARAMS = frozenset({"_format", "_pretty"})
UNSUPPORTED_RESULT_PARAMS = frozenset(
    {"_contained", "_containedType", "_graph", "_text", "_content", "_list", "_query"}
)


@dataclass(frozen=True)
class SearchLimits:
    """How much one search may ask for (Settings.max_search_parameters, Settings.max_search_values).

    Every parameter becomes a condition, every comma-separated value an alternative: on PostgreSQL a
    hundred parameters took 15 s to plan, and on SQLite a thousand values went past its limit on
    expression depth. ``max_values`` counts across all parameters (``_sort`` keys and ``_include``
    specs too); the format and paging parameters the HTTP layer adds do not count.
    """

    max_parameters: int = 50
    max_values: int = 200


DEFAULT_LIMITS = SearchLimits()
# Not the client's criteria: the format the HTTP layer answers in, and the cursor its own links carry.
UNCOUNTED_PARAMS = frozenset({*TRANSPORT_PARAMS, CURSOR_PARAM})
# Cursor keys are sort values and pks: 64-bit integers on both backends.
_INT64 = range(-(2**63), 2**63)


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


@dataclass
class _Request:
    criteria: list[tuple[str, str]] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (code, descending)
    includes: list[tuple[str, bool]] = field(default_factory=list)  # (spec, iterate)
    revincludes: list[tuple[str, bool]] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    total: str = "accurate"
    shaping: Shaping = field(default_factory=Shaping)
    cursor: dict[str, Any] | None = None
    applied: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _reject(strict: bool, request: _Request, name: str, reason: str) -> None:
    if strict:
        raise BadRequest(reason, expression=name, code="not-supported")
    request.ignored.append(name)


def _refuse(name: str, reason: str) -> BadRequest:
    """What the server cannot honour is refused in every mode (R4 3.1.1.5)."""
    return BadRequest(reason, expression=name, code="not-supported")


def _check_request(params: list[tuple[str, str]], limits: SearchLimits) -> None:
    """Refuse, before any SQL is built, a search beyond the limits or holding what no column can."""
    counted = values = 0
    for name, value in params:
        _check_text(name, value)
        if name in UNCOUNTED_PARAMS:
            continue
        counted += 1
        if counted > limits.max_parameters:
            message = f"A search takes at most {limits.max_parameters} parameters"
            raise BadRequest(message, expression=name, code="too-costly")
        # The count of split_values, without splitting megabytes of a value character by character.
        values += (value.count(",") + 1) if "\\" not in value else len(predicates.split_values(value))
        if values > limits.max_values:
            message = (
                f"A search takes at most {limits.max_values} values across its parameters "
                "(each comma-separated alternative, _sort key and _include counts one)"
            )
            raise BadRequest(message, expression=name, code="too-costly")


def _check_text(name: str, value: str) -> None:
    for text in (name, value):
        storable = "\x00" not in text and (text.isascii() or _encodes(text))
        if not storable:
            shown = name.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")
            message = f"Search parameter '{shown}' holds a NUL character or a lone surrogate; no stored value can"
            raise BadRequest(message, expression=shown, code="value")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_controls(resource_type: str | None, params: list[tuple[str, str]], strict: bool) -> _Request:
    request = _Request()
    for name, value in params:
        base = name.partition(":")[0]
        if name in TRANSPORT_PARAMS:
            continue
        if name == "_type":
            request.applied.append((name, value))
            continue
        if name == CURSOR_PARAM:
            request.cursor = _decode_cursor(value)
        elif name == "_count":
            if not (value.isascii() and value.isdigit()):
                raise BadRequest(f"_count must be a non-negative integer, not '{value}'", expression="_count")
            request.count = min(int(value), MAX_COUNT)
            request.applied.append((name, str(request.count)))
        elif name == "_sort":
            request.sort = _parse_sort(resource_type, value)
            if request.sort:
                request.applied.append((name, ",".join(("-" if d else "") + c for c, d in request.sort)))
        elif base in ("_include", "_revinclude"):
            iterate = name.endswith((":iterate", ":recurse"))
            target = request.includes if base == "_include" else request.revincludes
            for spec in value.split(","):
                if not _valid_include(spec, base):
                    raise _refuse(name, f"Unsupported {base} '{spec}': Type:parameter[:TargetType] of a reference")
                target.append((spec, iterate))
                request.applied.append((name, spec))
        elif name == "_total":
            if value not in ("none", "estimate", "accurate"):
                message = f"_total must be none, estimate or accurate, not '{value}'"
                raise BadRequest(message, expression="_total")
            request.total = value
            request.applied.append((name, value))
        elif name == "_summary":
            if value not in ("true", "false", "count", "text", "data"):
                raise BadRequest(f"Unknown _summary '{value}'", expression="_summary")
            request.shaping = Shaping(summary=value, elements=request.shaping.elements)
            request.applied.append((name, value))
        elif name == "_elements":
            elements = tuple(e.strip() for e in value.split(",") if e.strip())
            request.shaping = Shaping(summary=request.shaping.summary, elements=elements)
            request.applied.append((name, value))
        elif base in UNSUPPORTED_RESULT_PARAMS:
            _reject(strict, request, name, f"Search parameter '{name}' is not supported")
        else:
            request.criteria.append((name, value))
    return request


def _valid_include(spec: str, kind: str) -> bool:
    pieces = spec.split(":")
    if len(pieces) not in (2, 3):
        return False
    info = parameter(pieces[0], pieces[1])
    return info is not None and info.type == "reference" and (len(pieces) == 2 or pieces[2][:1].isupper())


def _parse_sort(resource_type: str | None, value: str) -> list[tuple[str, bool]]:
    keys: list[tuple[str, bool]] = []
    items = value.split(",")
    if len(items) > MAX_SORT_KEYS:
        raise BadRequest(f"_sort takes at most {MAX_SORT_KEYS} keys", expression="_sort", code="too-costly")
    for item in items:
        code = item.strip().lstrip("-")
        info = parameter(resource_type, code)
        if not (code in ("_id", "_lastUpdated") or (info is not None and info.type not in ("composite", "special"))):
            where = resource_type or "every type"
            raise _refuse("_sort", f"Cannot sort by '{code}': it is no sortable search parameter of {where}")
        keys.append((code, item.strip().startswith("-")))
    return keys


# --- cursors -----------------------------------------------------------------------------------------


def _encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _decode_cursor(token: str) -> dict[str, Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise BadRequest("The paging cursor is not valid", expression=CURSOR_PARAM) from exc
    if not (
        isinstance(data, dict)
        and isinstance(data.get("k"), list)
        and type(data.get("m")) is int
        and data["m"] in _INT64
        and all(_cursor_key(key) for key in data["k"])
    ):
        raise BadRequest("The paging cursor is not valid", expression=CURSOR_PARAM)
    return data


def _cursor_key(key: Any) -> bool:
    """A sort value the database can compare: what _page put there (text, an integer, a number, none)."""
    if isinstance(key, str):
        return "\x00" not in key
    return key is None or (type(key) is int and key in _INT64) or type(key) is float


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


# --- the search --------------------------------------------------------------------------------------


def _criteria(
    resource_type: str | None,
    request: _Request,
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
            raise _refuse(name, exc.reason) from None
        except predicates.UnknownParameter as exc:
            _reject(strict, request, exc.name, exc.reason)
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


def _requested_types(resource_type: str | None, params: list[tuple[str, str]]) -> list[str]:
    """The types named by ``_type`` on a system-wide search."""
    values = [value for name, value in params if name == "_type"]
    if not values:
        return []
    if resource_type is not None:
        raise BadRequest("_type is only allowed on a system-wide search", expression="_type")
    types = sorted({t.strip() for value in values for t in value.split(",") if t.strip()})
    if not all(t[:1].isupper() and t.isalnum() for t in types):
        raise BadRequest(f"_type names resource types, not '{','.join(types)}'", expression="_type")
    return types


def _in_request_order(applied: list[tuple[str, str]], params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    by_pair = {pair: i for i, pair in reversed(list(enumerate(params)))}
    by_name = {name: i for i, (name, _) in reversed(list(enumerate(params)))}
    return sorted(applied, key=lambda pair: by_pair.get(pair, by_name.get(pair[0], len(params))))


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
    _check_request(params, limits)
    flush_index(conn)  # inside a write transaction, what it wrote so far is found too
    types = _requested_types(resource_type, params)
    if len(types) == 1:  # a system search for one type is a search of that type
        resource_type = types[0]
    request = _parse_controls(resource_type, params, strict)
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
    request.applied = _in_request_order(request.applied, params)
    if compartment is not None and resource_type is not None:
        conditions.append(predicates.compartment_condition(compartment, resource_type, r))

    if request.shaping.summary == "count" or request.count == 0:
        counted_all = conn.execute(sa.select(sa.func.count()).select_from(r).where(*conditions)).scalar_one()
        return SearchResult(resource_type, [], counted_all, request.applied, request.ignored)

    # Later pages keep to the snapshot the first one took (the highest pk then), so rows written
    # meanwhile do not shift them. The first page needs the snapshot only when there is a next one.
    snapshot = _Snapshot(conn, request.cursor["m"] if request.cursor is not None else None)
    if snapshot.max_pk is not None:
        conditions.append(r.c.pk <= snapshot.max_pk)
    rows, next_cursor, previous_cursor = _page(conn, resource_type, request, conditions, snapshot)
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


class _Snapshot:
    """The paging snapshot bound (highest pk), read from the database only when first needed."""

    def __init__(self, conn: Connection, max_pk: int | None) -> None:
        self._conn = conn
        self.max_pk = max_pk

    def bound(self) -> int:
        if self.max_pk is None:
            query = sa.select(sa.func.coalesce(sa.func.max(resources.c.pk), 0))
            self.max_pk = int(self._conn.execute(query).scalar_one())
        return self.max_pk


def _page(
    conn: Connection, resource_type: str | None, request: _Request, conditions: list[Any], snapshot: _Snapshot
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
        return _encode_cursor(
            {"k": [getattr(row, f"k{i}") for i in range(len(keys))], "m": snapshot.bound(), "d": direction}
        )

    has_next = more if forward else True
    has_previous = (cursor is not None) if forward else more
    return (
        rows,
        cursor_at(rows[-1], "n") if has_next else None,
        cursor_at(rows[0], "p") if has_previous else None,
    )


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
    conn: Connection, matches: list[SearchEntry], request: _Request, visible: predicates.RowFilter | None
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
    _check_request(params, limits)
    flush_index(conn)
    request = _Request()
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


__all__ = ["CURSOR_PARAM", "DEFAULT_LIMITS", "SearchEntry", "SearchLimits", "SearchResult", "match_ids", "search"]
