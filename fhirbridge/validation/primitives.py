"""Checks of FHIR primitive values as they appear in JSON (FHIR R4 datatypes, section 2.24).

The R4B models coerce some wrong JSON (``"active": "yes"`` becomes ``True``), so the JSON type and the
lexical form of each primitive are checked here against the regular expressions of the specification.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_DATE = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_DATE_TIME = (
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    rf"(T{_TIME}{_ZONE})?)?)?"
)
_INSTANT = (
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
    rf"T{_TIME}{_ZONE}"
)

PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "date": _DATE,
        "dateTime": _DATE_TIME,
        "instant": _INSTANT,
        "time": _TIME,
        "id": r"[A-Za-z0-9\-\.]{1,64}",
        "code": r"[^\s]+( [^\s]+)*",
        "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
        "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "uri": r"\S*",
        "url": r"\S*",
        "canonical": r"\S*",
        "base64Binary": r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+",
    }.items()
}

INTEGER_TYPES = {"integer": None, "positiveInt": 1, "unsignedInt": 0}
STRING_TYPES = frozenset(
    {
        "string",
        "markdown",
        "code",
        "id",
        "uri",
        "url",
        "canonical",
        "oid",
        "uuid",
        "base64Binary",
        "date",
        "dateTime",
        "instant",
        "time",
        "xhtml",
    }
)
PRIMITIVE_TYPES = frozenset({"boolean", "decimal", *INTEGER_TYPES, *STRING_TYPES})
MAX_INTEGER = 2**31 - 1


def primitive_problem(type_code: str, value: Any) -> str | None:
    """Why ``value`` is not a valid JSON ``type_code``, or None when it is."""
    if type_code == "boolean":
        return (
            None
            if isinstance(value, bool)
            else f"Error parsing JSON: the primitive value must be a boolean, not {value!r}"
        )
    if type_code in INTEGER_TYPES:
        if isinstance(value, bool) or (
            not isinstance(value, int)
            and not (
                isinstance(value, Decimal) and value == value.to_integral_value() and "." not in str(value)
            )
        ):
            return f"Error parsing JSON: the primitive value must be a number, not {value!r}"
        minimum = INTEGER_TYPES[type_code]
        if minimum is not None and int(value) < minimum:
            return f"The value {value} is not a valid {type_code} (must be at least {minimum})"
        if abs(int(value)) > MAX_INTEGER:
            return f"The value {value} is outside the range of a 32-bit integer"
        return None
    if type_code == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return f"Error parsing JSON: the primitive value must be a number, not {value!r}"
        return None
    if type_code in STRING_TYPES:
        if not isinstance(value, str):
            return f"Error parsing JSON: the primitive value must be a string, not {value!r}"
        if value == "" or (value.strip() == "" and type_code != "string"):
            return "@value cannot be empty"
        pattern = PATTERNS.get(type_code)
        if pattern is not None and not pattern.fullmatch(value):
            return f"The value '{value}' is not a valid {type_code}"
    return None


__all__ = ["PRIMITIVE_TYPES", "primitive_problem"]
