"""The structure check of FHIR JSON on write, compiled from the R4 type table.

Every element of a resource is looked up in the table the StructureDefinitions give
(``_fhir_types``): an element the type does not have is unknown; an array where one value belongs (or
the reverse), a JSON value of the wrong kind for its primitive, a malformed date or code, two types of
one choice (``valueString`` and ``valueBoolean``), or a required element left out is invalid.

It replaces building the ``fhir.resources`` model of every resource written, which costs several times
more than the whole check, and it follows the JSON format where the models are lenient: a boolean is
``true`` or ``false``, not ``"yes"``; numbers are JSON numbers; ``positiveInt`` starts at 1. Each
problem names its element as a FHIRPath (``Patient.contact[0].name.family``); paths are only built
for problems, so a valid resource pays for none.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from fhirbridge.formats._fhir_types import ElementInfo, Form, is_resource_type, resource_types, type_info


class Fault(Enum):
    UNKNOWN = "unknown"  # not an element of the type: the body is malformed
    INVALID = "invalid"  # an element of the type with a value it cannot have
    REQUIRED = "required"  # a required element is missing


@dataclass(frozen=True, slots=True)
class Problem:
    fault: Fault
    path: str
    message: str


# A primitive checker: a message when the JSON value is not a valid primitive of the type, else None.
PrimitiveCheck = Callable[[Any], str | None]

_DATE = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
# The regular expressions of the FHIR R4 primitive types (datatypes, section 2.24.0.1), for full matches.
PRIMITIVE_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(_DATE + r")?)?"),
    "dateTime": re.compile(_DATE + rf"(T{_TIME}{_ZONE})?)?)?"),
    "instant": re.compile(_DATE + rf"T{_TIME}{_ZONE}))"),
    "time": re.compile(_TIME),
    "code": re.compile(r"[^\s]+( [^\s]+)*"),
    "id": re.compile(r"[A-Za-z0-9\-\.]{1,64}"),
    "oid": re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"),
    "uuid": re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "uri": re.compile(r"\S*"),
    "url": re.compile(r"\S*"),
    "canonical": re.compile(r"\S*"),
    "base64Binary": re.compile(r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+"),
}
# The forms checked on write: those the fhir.resources models checked too (URIs, OIDs and UUIDs they
# let through, and clients send them loosely; base64 is decoded instead).
_CHECKED_ON_WRITE = frozenset({"date", "dateTime", "instant", "time", "code", "id"})
_CALENDAR_TYPES = frozenset({"date", "dateTime", "instant"})
_INTEGER_MINIMUM = {"integer": -(2**31), "unsignedInt": 0, "positiveInt": 1}
_INTEGER_MAXIMUM = 2**31 - 1


def _boolean(value: Any) -> str | None:
    return None if type(value) is bool else f"must be a JSON boolean (true or false), not {value!r}"


def _integer_check(type_name: str) -> PrimitiveCheck:
    minimum = _INTEGER_MINIMUM[type_name]

    def check(value: Any) -> str | None:
        if type(value) is not int:
            return f"must be a JSON integer, not {value!r}"
        if not minimum <= value <= _INTEGER_MAXIMUM:
            return f"{value} is outside the range of {type_name} ({minimum} to {_INTEGER_MAXIMUM})"
        return None

    return check


def _decimal(value: Any) -> str | None:
    if type(value) is bool or not isinstance(value, int | float | Decimal):
        return f"must be a JSON number, not {value!r}"
    return None


def _string_check(type_name: str) -> PrimitiveCheck:
    pattern = PRIMITIVE_PATTERNS[type_name] if type_name in _CHECKED_ON_WRITE else None
    calendar = type_name in _CALENDAR_TYPES

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a JSON string, not {value!r}"
        if pattern is not None and not pattern.fullmatch(value):
            return f"'{value}' is not a valid {type_name}"
        if calendar and len(value) >= 10 and not _real_date(value[:10]):
            return f"'{value}' is not a date of the calendar"
        return None

    return check


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _base64(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a JSON string, not {value!r}"
    try:
        # Whitespace may wrap the text (R4 allows it); what remains must decode, padding and all.
        binascii.a2b_base64("".join(value.split()).encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return "is not valid base64"
    return None


@cache
def _primitive_check(type_name: str, form: Form) -> PrimitiveCheck:
    if form is not Form.PRIMITIVE:  # Element.id, Extension.url, the narrative's div: strings
        return _string_check("string")
    if type_name == "boolean":
        return _boolean
    if type_name == "decimal":
        return _decimal
    if type_name in _INTEGER_MINIMUM:
        return _integer_check(type_name)
    if type_name == "base64Binary":
        return _base64
    return _string_check(type_name)


@dataclass(frozen=True, slots=True)
class _Element:
    name: str
    repeats: bool
    form: Form
    type_key: str
    check: PrimitiveCheck | None  # for primitives, attributes and XHTML


@dataclass(frozen=True, slots=True)
class _Shape:
    """One type's elements, compiled for the check."""

    name: str
    is_resource: bool
    elements: dict[str, _Element]
    primitives: dict[str, _Element]  # by ``_name``: the element whose id and extensions it carries
    choices: dict[str, int]  # choice element name -> its position (shared by the choice's types)
    # Required elements: the JSON names that satisfy each (a choice's types, a primitive's ``_name``).
    required: tuple[tuple[str, tuple[str, ...]], ...]


@cache
def _shape(key: str) -> _Shape:
    info = type_info(key)
    is_resource = is_resource_type(key)
    elements: dict[str, _Element] = {}
    by_position: dict[int, list[ElementInfo]] = {}
    for name, element in info.elements.items():
        check = None
        if element.form not in (Form.COMPLEX, Form.RESOURCE):
            # Resource.id is an id, though the definitions type it as a plain string.
            check = _primitive_check("id" if is_resource and name == "id" else element.type_key, element.form)
        elements[name] = _Element(name, element.repeats, element.form, element.type_key, check)
        by_position.setdefault(element.position, []).append(element)
    choices = {e.name: position for position, group in by_position.items() if len(group) > 1 for e in group}
    required = tuple((_label(group), _names(group)) for group in by_position.values() if group[0].required)
    return _Shape(
        name=key,
        is_resource=is_resource,
        elements=elements,
        primitives={"_" + e.name: e for e in elements.values() if e.form is Form.PRIMITIVE},
        choices=choices,
        required=required,
    )


def _label(group: list[ElementInfo]) -> str:
    """How a problem names the element: ``status``, or ``value[x]`` for a choice."""
    if len(group) == 1:
        return group[0].name
    first = group[0]
    return first.name[: len(first.name) - len(first.type_key)] + "[x]"


def _names(group: list[ElementInfo]) -> tuple[str, ...]:
    """The JSON names any of which satisfies the element: a primitive may carry only its extensions."""
    names = [e.name for e in group]
    names += ["_" + e.name for e in group if e.form is Form.PRIMITIVE]
    return tuple(names)


def structure_problems(resource: dict[str, Any]) -> list[Problem] | None:
    """The problems of a resource whose type the R4 definitions know; None for a type they do not
    (fhirbridge also serves the few resource types R4B added, which its models validate)."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not is_resource_type(resource_type):
        return None
    problems: list[Problem] = []
    _check_object(resource, _shape(resource_type), resource_type, problems)
    return problems


def _check_object(node: dict[str, Any], shape: _Shape, path: str, problems: list[Problem]) -> None:
    elements = shape.elements
    chosen: dict[int, str] | None = None
    for key, value in node.items():
        element = elements.get(key)
        if element is None:
            _check_other(key, value, shape, path, problems)
            continue
        if shape.choices and key in shape.choices:
            position = shape.choices[key]
            chosen = chosen if chosen is not None else {}
            if position in chosen:
                message = f"only one type of a choice is allowed, but both {chosen[position]} and {key} are present"
                problems.append(Problem(Fault.INVALID, f"{path}.{key}", message))
            chosen[position] = key
        if element.repeats:
            if type(value) is not list:
                problems.append(Problem(Fault.INVALID, f"{path}.{key}", "must be an array (the element repeats)"))
                continue
            for index, item in enumerate(value):
                if item is None and element.check is not None:
                    continue  # a gap in a primitive array, kept for its ``_name`` twin
                _check_value(item, element, path, key, index, problems)
        elif type(value) is list:
            problems.append(Problem(Fault.INVALID, f"{path}.{key}", "must be a single value, not an array"))
        else:
            _check_value(value, element, path, key, None, problems)
    for label, names in shape.required:
        if not any(name in node for name in names):
            problems.append(Problem(Fault.REQUIRED, f"{path}.{label}", "is required"))


def _check_value(
    value: Any, element: _Element, path: str, key: str, index: int | None, problems: list[Problem]
) -> None:
    check = element.check
    if check is not None:
        message = check(value)
        if message is not None:
            problems.append(Problem(Fault.INVALID, _step(path, key, index), message))
        return
    if type(value) is not dict:
        problems.append(Problem(Fault.INVALID, _step(path, key, index), f"must be a JSON object, not {value!r}"))
        return
    if element.form is Form.RESOURCE:
        _check_resource(value, _step(path, key, index), problems)
    else:
        _check_object(value, _shape(element.type_key), _step(path, key, index), problems)


def _check_resource(value: dict[str, Any], path: str, problems: list[Problem]) -> None:
    """A resource inside another: contained, a Bundle entry's, a Parameters parameter's."""
    resource_type = value.get("resourceType")
    if not isinstance(resource_type, str):
        problems.append(Problem(Fault.REQUIRED, f"{path}.resourceType", "a resource here must name its type"))
    elif not is_resource_type(resource_type):
        problems.append(Problem(Fault.INVALID, f"{path}.resourceType", f"unknown resource type '{resource_type}'"))
    else:
        _check_object(value, _shape(resource_type), path, problems)


def _check_other(key: str, value: Any, shape: _Shape, path: str, problems: list[Problem]) -> None:
    """A key that names no element: the type marker, a primitive's ``_name`` twin, or an unknown one."""
    if key == "resourceType" and shape.is_resource:
        return
    primitive = shape.primitives.get(key)
    if primitive is None:
        problems.append(Problem(Fault.UNKNOWN, f"{path}.{key}", f"is not an element of {shape.name}"))
    elif primitive.repeats:
        if type(value) is not list:
            problems.append(Problem(Fault.INVALID, f"{path}.{key}", "must be an array (the element repeats)"))
            return
        for index, item in enumerate(value):
            if item is not None:
                _check_twin(item, f"{path}.{key}[{index}]", problems)
    else:
        _check_twin(value, f"{path}.{key}", problems)


def _check_twin(value: Any, path: str, problems: list[Problem]) -> None:
    """The id and extensions of a primitive value, in its ``_name`` twin."""
    if type(value) is not dict:
        problems.append(Problem(Fault.INVALID, path, f"must be a JSON object, not {value!r}"))
    else:
        _check_object(value, _shape("Element"), path, problems)


def _step(path: str, key: str, index: int | None) -> str:
    return f"{path}.{key}" if index is None else f"{path}.{key}[{index}]"


__all__ = ["PRIMITIVE_PATTERNS", "Fault", "Problem", "resource_types", "structure_problems"]
