"""Conditions of the stratification rules file, evaluated against a response's enabled answers.

A condition is either ``{"linkId": ..., "operator": ..., "value": ...}`` or ``{"any": [...]}`` /
``{"all": [...]}``. Operators: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in`` (value is a list) and
``exists`` (value true or false). Choice answers compare by code, numbers as numbers, booleans and text
as themselves. Like ``enableWhen``, a comparison holds when any answer satisfies it (``!=``: when none
equals) and never holds for an unanswered item, except ``exists: false``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from fhirbridge.assessment.answers import answer_key

Resource = dict[str, Any]
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "in", "exists")


class RuleError(ValueError):
    """A rules file that cannot be evaluated (unknown operator, malformed condition)."""


def holds(condition: Mapping[str, Any], answers: Mapping[str, Sequence[Resource]]) -> bool:
    """Whether ``condition`` holds for ``answers`` (enabled answers by linkId)."""
    if "any" in condition:
        return any(holds(part, answers) for part in condition["any"])
    if "all" in condition:
        return all(holds(part, answers) for part in condition["all"])
    link_id = condition.get("linkId")
    operator = condition.get("operator")
    if not isinstance(link_id, str) or operator not in OPERATORS:
        raise RuleError(f"malformed condition {dict(condition)!r}")
    values = [answer_key(answer) for answer in answers.get(link_id, [])]
    values = [value for value in values if value is not None]
    expected = condition.get("value")
    if operator == "exists":
        return bool(values) == bool(expected if expected is not None else True)
    if not values:
        return False
    if operator == "in":
        if not isinstance(expected, list):
            raise RuleError(f"'in' needs a list of values: {dict(condition)!r}")
        return any(_equal(value, option) for value in values for option in expected)
    if operator == "=":
        return any(_equal(value, expected) for value in values)
    if operator == "!=":
        return not any(_equal(value, expected) for value in values)
    return any(_ordered(value, expected, operator) for value in values)


def referenced_link_ids(condition: Mapping[str, Any]) -> set[str]:
    """Every linkId a condition reads (to check a rules file against its questionnaire)."""
    if "any" in condition or "all" in condition:
        parts = condition.get("any") or condition.get("all") or []
        return set().union(*(referenced_link_ids(part) for part in parts))
    return {str(condition.get("linkId"))}


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and bool(value == expected)
    if _is_number(value) and _is_number(expected):
        return Decimal(str(value)) == Decimal(str(expected))
    return bool(value == expected)


def _ordered(value: Any, expected: Any, operator: str) -> bool:
    left: Decimal | str
    right: Decimal | str
    if _is_number(value) and _is_number(expected):
        left, right = Decimal(str(value)), Decimal(str(expected))
    elif isinstance(value, str) and isinstance(expected, str):
        left, right = value, expected  # ISO dates and times order as text
    else:
        return False
    if operator == ">":
        return bool(left > right)  # type: ignore[operator]
    if operator == ">=":
        return bool(left >= right)  # type: ignore[operator]
    if operator == "<":
        return bool(left < right)  # type: ignore[operator]
    return bool(left <= right)  # type: ignore[operator]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


__all__ = ["OPERATORS", "RuleError", "holds", "referenced_link_ids"]
