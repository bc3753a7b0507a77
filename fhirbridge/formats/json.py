"""FHIR JSON that gives back exactly what the client sent.

Decimals are parsed as ``decimal.Decimal`` so ``1.50`` stays ``1.50`` (FHIR decimals carry their
precision), and written back verbatim through ``orjson.Fragment``. Nesting depth is bounded so a
hostile body cannot exhaust the stack.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from fhirbridge.errors import BadRequest

MAX_DEPTH = 64


class SourceDecimal(Decimal):
    """A decimal that remembers how the client wrote it (``2e3`` stays ``2e3``)."""

    __slots__ = ("source",)
    source: str

    def __new__(cls, source: str) -> SourceDecimal:
        value = super().__new__(cls, source)
        value.source = source
        return value


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse FHIR JSON; a body that is not JSON, or nests too deep, is a 400."""
    try:
        value = json.loads(body, parse_float=SourceDecimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}", code="structure") from exc
    _check_depth(value, max_depth)
    return value


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, default=_fragment, option=option)


def _fragment(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(getattr(value, "source", None) or str(value))
    raise TypeError(f"cannot write {type(value).__name__} as FHIR JSON")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_depth(value: Any, max_depth: int) -> None:
    # Iterative, so the check itself cannot overflow.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise BadRequest(f"The JSON nests deeper than {max_depth} levels", code="too-costly")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))


__all__ = ["MAX_DEPTH", "SourceDecimal", "dumps", "loads"]
