"""Checks of FHIR primitive values as they appear in JSON (FHIR R4 datatypes, section 2.24).

The R4B models coerce some wrong JSON (``"active": "yes"`` becomes ``True``), so the JSON type and the
lexical form of each primitive are checked here against the regular expressions of the specification.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhirbridge.formats.structure import PRIMITIVE_PATTERNS

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
            and not (isinstance(value, Decimal) and value == value.to_integral_value() and "." not in str(value))
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
        pattern = PRIMITIVE_PATTERNS.get(type_code)
        if pattern is not None and not pattern.fullmatch(value):
            return f"The value '{value}' is not a valid {type_code}"
    return None


__all__ = ["PRIMITIVE_TYPES", "primitive_problem"]
