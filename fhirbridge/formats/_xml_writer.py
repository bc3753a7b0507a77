"""The FHIR JSON shape -> FHIR XML text, by string assembly.

No DOM: each object's keys are sorted by the definition-order position of their element (XML requires
definition order, JSON does not), and tags are appended to one list of strings. ``nl`` is the newline
plus indentation before a tag (empty when not pretty), ``step`` the indentation one level adds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from fhirbridge.formats._fhir_types import FHIR_NAMESPACE, Form, TypeInfo, is_resource_type, type_info
from fhirbridge.formats._narrative import div_from_string
from fhirbridge.formats._xml_support import ElementProblem, escape_attribute

_NAMESPACE_ATTRIBUTE = f' xmlns="{FHIR_NAMESPACE}"'


def write_resource(out: list[str], resource: Any, nl: str, step: str, *, root: bool = False) -> None:
    if not isinstance(resource, dict):
        raise ElementProblem("A resource must be a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not is_resource_type(resource_type):
        raise ElementProblem(f"Unknown resource type {resource_type!r}", code="not-supported")
    namespace = _NAMESPACE_ATTRIBUTE if root else ""
    _write_complex(out, resource, type_info(resource_type), resource_type, nl, step, namespace)


def _write_complex(
    out: list[str], value: Any, info: TypeInfo, tag: str, nl: str, step: str, attributes: str = ""
) -> None:
    if not isinstance(value, dict):
        raise ElementProblem(f"'{tag}' must be a JSON object")
    order = info.order
    try:
        keys = sorted(value, key=order.__getitem__)
    except KeyError:
        unknown = next(key for key in value if key not in order)
        raise ElementProblem(f"Unknown element '{unknown}'", step=unknown) from None
    for name in info.attributes:
        attribute = value.get(name)
        if attribute is not None:
            if not isinstance(attribute, str):
                raise ElementProblem(f"'{name}' must be a string", step=name)
            attributes += f' {name}="{escape_attribute(attribute)}"'
    opening = len(out)
    out.append(f"{nl}<{tag}{attributes}>")
    inner = nl + step
    elements = info.elements
    previous = ""
    for key in keys:
        name = key[1:] if key[0] == "_" else key
        if name == previous:
            continue  # the other half of a primitive's value / _value pair
        previous = name
        element = elements.get(name)
        if element is None:  # resourceType: XML says it with the tag
            continue
        form = element.form
        if form is Form.PRIMITIVE:
            _write_primitives(out, value, name, element.repeats, inner, step)
        elif form is Form.ATTRIBUTE:
            continue
        elif form is Form.COMPLEX:
            child_info = type_info(element.type_key)
            child = value[name]
            if element.repeats:
                for index, item in enumerate(_as_list(child, name)):
                    try:
                        _write_complex(out, item, child_info, name, inner, step)
                    except ElementProblem as problem:
                        problem.steps.append(f"{name}[{index}]")
                        raise
            else:
                try:
                    _write_complex(out, child, child_info, name, inner, step)
                except ElementProblem as problem:
                    problem.steps.append(name)
                    raise
        elif form is Form.RESOURCE:
            child = value[name]
            items = _as_list(child, name) if element.repeats else [child]
            for index, item in enumerate(items):
                try:
                    out.append(f"{inner}<{name}>")
                    write_resource(out, item, inner + step, step)
                    out.append(f"{inner}</{name}>")
                except ElementProblem as problem:
                    problem.steps.append(f"{name}[{index}]" if element.repeats else name)
                    raise
        else:
            div = value[name]
            try:
                if not isinstance(div, str):
                    raise ElementProblem("The narrative must be a string of XHTML")
                out.append(inner + div_from_string(div))
            except ElementProblem as problem:
                problem.steps.append(name)
                raise
    if len(out) == opening + 1:
        out[opening] = f"{nl}<{tag}{attributes}/>"
    else:
        out.append(f"{nl}</{tag}>")


def _write_primitives(out: list[str], value: dict[str, Any], name: str, repeats: bool, nl: str, step: str) -> None:
    primitive = value.get(name)
    extra = value.get("_" + name)
    if not repeats:
        try:
            _write_primitive(out, name, primitive, extra, nl, step)
        except ElementProblem as problem:
            problem.steps.append(name)
            raise
        return
    primitives = _as_list(primitive, name) if primitive is not None else []
    extras = _as_list(extra, "_" + name) if extra is not None else []
    if primitives and extras and len(primitives) != len(extras):
        raise ElementProblem(f"'{name}' and '_{name}' must have the same length", step=name)
    for index in range(max(len(primitives), len(extras))):
        try:
            _write_primitive(
                out,
                name,
                primitives[index] if primitives else None,
                extras[index] if extras else None,
                nl,
                step,
            )
        except ElementProblem as problem:
            problem.steps.append(f"{name}[{index}]")
            raise


def _write_primitive(out: list[str], name: str, primitive: Any, extra: Any, nl: str, step: str) -> None:
    if extra is None:
        if primitive is None:
            raise ElementProblem(f"'{name}' is null without an extension", code="required")
        out.append(f'{nl}<{name} value="{_primitive_text(primitive)}"/>')
        return
    if not isinstance(extra, dict) or any(key not in ("id", "extension") for key in extra):
        raise ElementProblem(f"'_{name}' may hold only 'id' and 'extension'")
    attributes = ""
    element_id = extra.get("id")
    if element_id is not None:
        if not isinstance(element_id, str):
            raise ElementProblem("'id' must be a string", step="id")
        attributes = f' id="{escape_attribute(element_id)}"'
    if primitive is not None:
        attributes += f' value="{_primitive_text(primitive)}"'
    extensions = extra.get("extension")
    if not extensions:
        if primitive is None and element_id is None:
            raise ElementProblem(f"'{name}' is null without an extension", code="required")
        out.append(f"{nl}<{name}{attributes}/>")
        return
    out.append(f"{nl}<{name}{attributes}>")
    extension_info = type_info("Extension")
    for index, extension in enumerate(_as_list(extensions, "extension")):
        try:
            _write_complex(out, extension, extension_info, "extension", nl + step, step)
        except ElementProblem as problem:
            problem.steps.append(f"extension[{index}]")
            raise
    out.append(f"{nl}</{name}>")


def _primitive_text(value: Any) -> str:
    if isinstance(value, str):
        return escape_attribute(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ElementProblem(f"{value} is not a FHIR decimal", code="value")
        source: str | None = getattr(value, "source", None)
        return source or str(value)
    if isinstance(value, float):
        return orjson.dumps(value).decode()  # as the JSON format writes it: 1e-7, not Python's 1e-07
    raise ElementProblem(f"A {type(value).__name__} is not a FHIR primitive value", code="value")


def _as_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ElementProblem(f"'{name}' repeats: it must be a JSON array", step=name)
    return value


__all__ = ["write_resource"]
