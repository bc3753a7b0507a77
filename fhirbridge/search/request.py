"""What a search asks for, read from its parameters as sent: checked against the search limits, the
result parameters (``_count``, ``_sort``, ``_include`` and ``_revinclude``, ``_total``, ``_summary``,
``_elements``, the page cursor) taken out, the criteria left for the conditions.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from fhirbridge.errors import BadRequest
from fhirbridge.search.criteria import split_values
from fhirbridge.search.definitions import parameter
from fhirbridge.search.elements import Shaping

__all__ = [
    "CURSOR_PARAM",
    "DEFAULT_COUNT",
    "DEFAULT_LIMITS",
    "MAX_COUNT",
    "MAX_SORT_KEYS",
    "TRANSPORT_PARAMS",
    "UNCOUNTED_PARAMS",
    "UNSUPPORTED_RESULT_PARAMS",
    "SearchLimits",
    "SearchRequest",
    "check_request",
    "encode_cursor",
    "in_request_order",
    "parse_controls",
    "refuse",
    "reject",
    "requested_types",
]

DEFAULT_COUNT = 20
MAX_COUNT = 1000
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


@dataclass
class SearchRequest:
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


def reject(strict: bool, request: SearchRequest, name: str, reason: str) -> None:
    if strict:
        raise BadRequest(reason, expression=name, code="not-supported")
    request.ignored.append(name)


def refuse(name: str, reason: str) -> BadRequest:
    """What the server cannot honour is refused in every mode (R4 3.1.1.5)."""
    return BadRequest(reason, expression=name, code="not-supported")


def check_request(params: list[tuple[str, str]], limits: SearchLimits) -> None:
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
        values += (value.count(",") + 1) if "\\" not in value else len(split_values(value))
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


def parse_controls(resource_type: str | None, params: list[tuple[str, str]], strict: bool) -> SearchRequest:
    request = SearchRequest()
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
                    raise refuse(name, f"Unsupported {base} '{spec}': Type:parameter[:TargetType] of a reference")
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
            reject(strict, request, name, f"Search parameter '{name}' is not supported")
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
            raise refuse("_sort", f"Cannot sort by '{code}': it is no sortable search parameter of {where}")
        keys.append((code, item.strip().startswith("-")))
    return keys


# --- cursors -----------------------------------------------------------------------------------------


def encode_cursor(data: dict[str, Any]) -> str:
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
    """A sort value the database can compare: what page put there (text, an integer, a number, none)."""
    if isinstance(key, str):
        return "\x00" not in key
    return key is None or (type(key) is int and key in _INT64) or type(key) is float


def requested_types(resource_type: str | None, params: list[tuple[str, str]]) -> list[str]:
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


def in_request_order(applied: list[tuple[str, str]], params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    by_pair = {pair: i for i, pair in reversed(list(enumerate(params)))}
    by_name = {name: i for i, (name, _) in reversed(list(enumerate(params)))}
    return sorted(applied, key=lambda pair: by_pair.get(pair, by_name.get(pair[0], len(params))))
