"""FHIR XML elements -> the FHIR JSON shape, guided by the StructureDefinition tables.

Each element is looked up by its XML tag in its parent type's table, which says whether it repeats
(JSON array), which JSON type its value takes, and whether it is a primitive (whose ``id`` and
extensions go to the ``_name`` sibling, null-padded in arrays as the JSON format requires).
"""

from __future__ import annotations

import re
from typing import Any

from fhirbridge.formats._fhir_types import (
    FHIR_TAG_PREFIX,
    ElementInfo,
    Form,
    JsonKind,
    TypeInfo,
    is_resource_type,
    type_info,
)
from fhirbridge.formats._narrative import div_to_string
from fhirbridge.formats._xml_support import ElementProblem
from fhirbridge.formats.json import SourceDecimal

_EXTENSION_TAG = FHIR_TAG_PREFIX + "extension"
_INTEGER = re.compile(r"-?(0|[1-9][0-9]{0,18})")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_BOOLEANS = {"true": True, "false": False}
_MAX_DECIMAL_LENGTH = 200


def read_resource(element: Any, resource_type: str, depth: int, max_depth: int) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": resource_type}
    return _read_complex(element, type_info(resource_type), resource, depth, max_depth)


def resource_type_of(element: Any) -> str:
    """The resource type an element names, or an ElementProblem naming what it is instead."""
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith(FHIR_TAG_PREFIX):
        raise ElementProblem(f"Expected a FHIR resource in the namespace http://hl7.org/fhir, found {tag}")
    name = tag[len(FHIR_TAG_PREFIX) :]
    if not is_resource_type(name):
        raise ElementProblem(f"Unknown resource type '{name}'", code="not-supported")
    return name


def _read_complex(element: Any, info: TypeInfo, target: dict[str, Any], depth: int, max_depth: int) -> dict[str, Any]:
    if depth > max_depth:
        raise ElementProblem(f"The XML nests deeper than {max_depth} elements", code="too-costly")
    if len(element.attrib):
        _read_attributes(element, info, target)
    _refuse_text(element.text)
    by_tag = info.by_tag
    repeating_primitives: list[str] = []
    for child in element:
        tag = child.tag
        child_info = by_tag.get(tag)
        if child_info is None:
            raise _unknown_element(tag)
        _refuse_text(child.tail)
        name = child_info.name
        form = child_info.form
        repeats = child_info.repeats
        try:
            if form is Form.PRIMITIVE:
                value, extra = _read_primitive(child, child_info, depth + 1, max_depth)
                if repeats:
                    values = target.get(name)
                    if values is None:
                        values = target[name] = []
                        target["_" + name] = []
                        repeating_primitives.append(name)
                    values.append(value)
                    target["_" + name].append(extra)
                    continue
                if name in target or "_" + name in target:
                    raise ElementProblem(f"'{name}' may appear only once")
                if value is not None:
                    target[name] = value
                if extra is not None:
                    target["_" + name] = extra
                continue
            if form is Form.COMPLEX:
                item: Any = _read_complex(child, type_info(child_info.type_key), {}, depth + 1, max_depth)
            elif form is Form.RESOURCE:
                item = _read_contained(child, depth + 1, max_depth)
            else:
                item = div_to_string(child, max_depth - depth)
        except ElementProblem as problem:
            problem.steps.append(_step(target, child_info))
            raise
        if repeats:
            items = target.get(name)
            if items is None:
                target[name] = [item]
            else:
                items.append(item)
        elif name in target:
            raise ElementProblem(f"'{name}' may appear only once", step=name)
        else:
            target[name] = item
    for name in repeating_primitives:
        # JSON pads with nulls only when some item needs the other array.
        if all(extra is None for extra in target["_" + name]):
            del target["_" + name]
        if all(value is None for value in target[name]):
            del target[name]
    return target


def _step(target: dict[str, Any], info: ElementInfo) -> str:
    if not info.repeats:
        return info.name
    # The failing item is the next one: it was not appended yet.
    count = len(target.get(info.name) or target.get("_" + info.name) or ())
    return f"{info.name}[{count}]"


def _read_attributes(element: Any, info: TypeInfo, target: dict[str, Any]) -> None:
    for attribute, value in element.attrib.items():
        if attribute in info.attributes:
            target[attribute] = value
        elif not attribute.startswith("{"):  # foreign attributes (xsi:schemaLocation) carry no FHIR data
            raise ElementProblem(f"Unknown attribute '{attribute}'", step=attribute)


def _read_primitive(element: Any, info: ElementInfo, depth: int, max_depth: int) -> tuple[Any, dict[str, Any] | None]:
    raw = element.get("value")
    extra: dict[str, Any] | None = None
    if len(element.attrib) != (raw is not None):
        for attribute, attribute_value in element.attrib.items():
            if attribute == "id":
                extra = {"id": attribute_value}
            elif attribute != "value" and not attribute.startswith("{"):
                raise ElementProblem(f"Unknown attribute '{attribute}'", step=attribute)
    _refuse_text(element.text)
    if len(element):
        if depth > max_depth:
            raise ElementProblem(f"The XML nests deeper than {max_depth} elements", code="too-costly")
        extension_info = type_info("Extension")
        extensions: list[dict[str, Any]] = []
        for child in element:
            if child.tag != _EXTENSION_TAG:
                raise _unknown_element(child.tag)
            _refuse_text(child.tail)
            try:
                extensions.append(_read_complex(child, extension_info, {}, depth + 1, max_depth))
            except ElementProblem as problem:
                problem.steps.append(f"extension[{len(extensions)}]")
                raise
        extra = extra or {}
        extra["extension"] = extensions
    if raw is None:
        if extra is None:
            raise ElementProblem(f"'{info.name}' has neither a value nor extensions", code="required")
        return None, extra
    return _json_value(raw, info), extra


def _json_value(raw: str, info: ElementInfo) -> Any:
    kind = info.kind
    if kind is JsonKind.STRING:
        return raw
    if kind is JsonKind.BOOLEAN:
        boolean = _BOOLEANS.get(raw)
        if boolean is None:
            raise ElementProblem(f"'{raw}' is not a boolean (true or false)", code="value")
        return boolean
    if kind is JsonKind.INTEGER:
        if _INTEGER.fullmatch(raw) is None:
            raise ElementProblem(f"'{raw}' is not an {info.type_key}", code="value")
        return int(raw)
    if len(raw) > _MAX_DECIMAL_LENGTH or _DECIMAL.fullmatch(raw) is None:
        raise ElementProblem(f"'{raw[:40]}' is not a decimal", code="value")
    # As the JSON reader does: a number without fraction or exponent is an int, otherwise the
    # decimal keeps its literal text (precision is meaningful in FHIR).
    if "." in raw or "e" in raw or "E" in raw:
        return SourceDecimal(raw)
    return int(raw)


def _read_contained(wrapper: Any, depth: int, max_depth: int) -> dict[str, Any]:
    if any(not attribute.startswith("{") for attribute in wrapper.attrib):
        raise ElementProblem("A resource container carries no attributes")
    _refuse_text(wrapper.text)
    children = list(wrapper)
    if len(children) != 1:
        raise ElementProblem(f"Expected exactly one resource, found {len(children)} elements")
    resource = children[0]
    _refuse_text(resource.tail)
    return read_resource(resource, resource_type_of(resource), depth + 1, max_depth)


def _refuse_text(text: str | None) -> None:
    if text is not None and not text.isspace():
        raise ElementProblem(f"Unexpected text '{text.strip()[:40]}': FHIR XML carries values in attributes")


def _unknown_element(tag: Any) -> ElementProblem:
    if not isinstance(tag, str):
        return ElementProblem("Unexpected XML node")
    if tag.startswith(FHIR_TAG_PREFIX):
        name = tag[len(FHIR_TAG_PREFIX) :]
        return ElementProblem(f"Unknown element '{name}'", step=name)
    return ElementProblem(f"Element {tag} is not in the FHIR namespace", step=tag.rpartition("}")[2])


__all__ = ["read_resource", "resource_type_of"]
