"""FHIR JSON that gives back exactly what the client sent.

Decimals are parsed as ``decimal.Decimal`` so ``1.50`` stays ``1.50`` (FHIR decimals carry their
precision), and written back verbatim through ``orjson.Fragment``. Nesting depth is bounded so a
hostile body cannot exhaust the stack, and text no store can hold is refused: a NUL character (FHIR
strings may not hold it, and PostgreSQL text cannot) and a lone surrogate (``"\\ud800"`` is valid JSON
but no Unicode character; it cannot be written as UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

from fhirbridge.errors import BadRequest

MAX_DEPTH = 64
ORJSON_MAX_DEPTH = 1024  # orjson refuses deeper nesting itself ("depth limit exceeded")


class SourceDecimal(Decimal):
    """A decimal that remembers how the client wrote it (``2e3`` stays ``2e3``)."""

    __slots__ = ("source",)
    source: str

    def __new__(cls, source: str) -> SourceDecimal:
        value = super().__new__(cls, source)
        value.source = source
        return value


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse FHIR JSON; a body that is not JSON, nests too deep or holds text no store can keep is a 400."""
    # orjson first: several times faster, and exact for everything but non-integer numbers and
    # integers too long for 64 bits. A body holding any of those (found while checking the depth) is
    # parsed again keeping their text.
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if exc.msg == "depth limit exceeded" and max_depth < ORJSON_MAX_DEPTH:
            raise _too_deep(max_depth) from None  # no need to recurse that deep in Python too
        # The standard parser gives the verdict and the message. What it reads that orjson refused may
        # be a lone surrogate (escaped, or encoded as UTF-8 bytes, which it lets pass): look at all text.
        value = _loads_exact(body, max_depth)
        _check_text(value)
        return value
    if _check_depth(value, max_depth):
        value = _loads_exact(body, max_depth, depth_checked=True)
    if _may_hold_nul(body):  # only an escape can put a NUL in a string: JSON forbids raw control characters
        _check_text(value)
    return value


def loads_stored(content: bytes) -> Any:
    """Parse JSON this module wrote (stored resources): trusted, so no depth check, and usually orjson alone.

    A number orjson reads as a float keeps its text when writing it back gives the very same bytes (a
    float prints as its shortest form, and the stored text is compact); only a resource where some
    decimal was written otherwise (``1.50``, ``2e3``) is parsed again keeping the text of each.
    """
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:  # an integer beyond 64 bits
        return _loads_exact(content, MAX_DEPTH)
    if orjson.dumps(value) == content:
        return value
    return _loads_exact(content, MAX_DEPTH, depth_checked=True)


def _loads_exact(body: bytes | str, max_depth: int, *, depth_checked: bool = False) -> Any:
    """``depth_checked``: the same text has been parsed and its depth checked already."""
    try:
        value = json.loads(body, parse_float=SourceDecimal, parse_int=_integer, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise _too_deep(max_depth) from exc
    except ValueError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}", code="structure") from exc
    if not depth_checked:
        _check_depth(value, max_depth)
    return value


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, default=_fragment, option=option)


def copy_tree(value: Any) -> Any:
    """A copy of parsed JSON: new dicts and lists, the (immutable) scalars shared. Much faster than deepcopy."""
    if isinstance(value, dict):
        return {key: copy_tree(item) if isinstance(item, (dict, list)) else item for key, item in value.items()}
    if isinstance(value, list):
        return [copy_tree(item) if isinstance(item, (dict, list)) else item for item in value]
    return value


def _fragment(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(getattr(value, "source", None) or str(value))
    raise TypeError(f"cannot write {type(value).__name__} as FHIR JSON")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# JSON allows any length of integer; orjson writes 64 bits at most. Longer ones (a decimal written
# without a fraction, say) are kept as their text, like every other decimal.
_INTEGER_RANGE = range(-(2**63), 2**63)


def _integer(text: str) -> int | SourceDecimal:
    value = int(text)
    return value if value in _INTEGER_RANGE else SourceDecimal(text)


def _check_depth(value: Any, max_depth: int) -> bool:
    """Refuse nesting deeper than ``max_depth``; returns whether a number needing its text was seen."""
    return _walk([value], 0, max_depth)  # the body itself sits at depth 0 of a one-item list


def _too_deep(max_depth: int) -> BadRequest:
    return BadRequest(f"The JSON nests deeper than {max_depth} levels", code="too-costly")


def _walk(node: dict[str, Any] | list[Any], depth: int, max_depth: int) -> bool:
    # Recursion stops at max_depth + 1, far inside Python's own limit.
    if depth > max_depth:
        raise _too_deep(max_depth)
    inexact = False
    children: Iterable[Any] = node.values() if type(node) is dict else node
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            inexact = _walk(child, depth + 1, max_depth) or inexact
        elif kind is float or (kind is int and child not in _INTEGER_RANGE):
            inexact = True
    return inexact


def _may_hold_nul(body: bytes | str) -> bool:
    return (b"\\u0000" in body) if isinstance(body, bytes) else ("\\u0000" in body)


def _check_text(value: Any) -> None:
    """Refuse a key or string holding a NUL or a lone surrogate, naming where it is."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while pending:  # depth was bounded already; a loop all the same, as this runs on unusual bodies only
        node, path = pending.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                _check_string(key, value, path)
                pending.append((child, (*path, key)))
        elif isinstance(node, list):
            pending.extend((child, (*path, index)) for index, child in enumerate(node))
        elif isinstance(node, str):
            _check_string(node, value, path)


def _check_string(text: str, root: Any, path: tuple[str | int, ...]) -> None:
    problem = None
    if "\x00" in text:
        problem = "a NUL character (\\u0000), which FHIR strings cannot hold"
    elif not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            problem = "a lone surrogate (\\ud800 to \\udfff without its pair), which is no Unicode character"
    if problem is not None:
        where = _expression(root, path)
        raise BadRequest(f"The body holds {problem} at {where}", code="value", expression=where)


def _expression(root: Any, path: tuple[str | int, ...]) -> str:
    """``Patient.name[0].family`` for the path ``("name", 0, "family")`` in a Patient."""
    kind = root.get("resourceType") if isinstance(root, dict) else None
    text = kind if isinstance(kind, str) and kind.isalnum() else "$this"
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step.encode('utf-8', 'backslashreplace').decode()}"
    return text.replace("\x00", "\\u0000")


__all__ = ["MAX_DEPTH", "SourceDecimal", "copy_tree", "dumps", "loads", "loads_stored"]
