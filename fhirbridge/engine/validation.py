"""Validation on write: the R4 definitions decide what a resource may contain.

An element the type does not have is a malformed body (400); a value the element cannot have, or a
required element left out, is a resource that fails validation (422). Either way each issue's
``expression`` names the element, e.g. ``Patient.contact[0].foo``. No empty objects, arrays or strings
and no nulls outside primitive arrays are checked first. The structure check compiled from the R4 type
table (``formats.structure``) covers every R4 resource; the few types R4B added are left to their
``fhir.resources`` models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhirbridge.engine.resource_types import require_id, resource_types
from fhirbridge.errors import BadRequest, Issue, Unprocessable
from fhirbridge.formats.structure import Fault, Problem, structure_problems


def check_resource(resource: Any, *, expected_type: str | None = None) -> str:
    """Validate ``resource`` (a parsed JSON object); returns its resource type."""
    if not isinstance(resource, dict):
        raise BadRequest("The body must be a JSON object holding a FHIR resource", code="structure")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise BadRequest("The resource has no resourceType", expression="resourceType", code="required")
    if resource_type not in resource_types():
        raise BadRequest(f"Unknown resource type '{resource_type}'", expression="resourceType")
    if expected_type is not None and resource_type != expected_type:
        raise BadRequest(
            f"The body holds a {resource_type} but the URL names {expected_type}", expression="resourceType"
        )
    if "id" in resource:
        if not isinstance(resource["id"], str):
            raise BadRequest("id must be a string", expression=f"{resource_type}.id")
        require_id(resource["id"], expression=f"{resource_type}.id")
    if _has_empty_values(resource):  # the fast check first: the walk naming each path costs more
        raise Unprocessable(issues=list(_empty_values(resource, resource_type)))
    problems = structure_problems(resource)
    if problems:
        raise _refusal(problems)
    if problems is None:
        _check_with_model(resource, resource_type)
    return resource_type


def _refusal(problems: list[Problem]) -> BadRequest | Unprocessable:
    unknown = [
        Issue(f"Unknown element '{p.path}'", code="structure", expression=(p.path,))
        for p in problems
        if p.fault is Fault.UNKNOWN
    ]
    invalid = [
        Issue(f"{p.path}: {p.message}", code="required" if p.fault is Fault.REQUIRED else "value", expression=(p.path,))
        for p in problems
        if p.fault is not Fault.UNKNOWN
    ]
    if unknown:
        return BadRequest(issues=unknown + invalid)
    return Unprocessable(issues=invalid)


def _check_with_model(resource: dict[str, Any], resource_type: str) -> None:
    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        raise _translate(resource_type, exc) from None
    except (ValueError, TypeError) as exc:
        raise Unprocessable(f"The {resource_type} is not valid: {exc}", expression=resource_type) from None


def _translate(resource_type: str, exc: ValidationError) -> BadRequest | Unprocessable:
    problems = []
    for error in exc.errors():
        kind = error["type"]
        fault = Fault.UNKNOWN if kind == "extra_forbidden" else Fault.REQUIRED if "missing" in kind else Fault.INVALID
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(Problem(fault, element_path(resource_type, error["loc"]), message))
    return _refusal(problems)


def element_path(resource_type: str, location: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into a FHIRPath: ``('name', 0, 'family')`` -> ``Patient.name[0].family``."""
    path = resource_type
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            # The models suffix names that clash with Python keywords (``class__fhir``).
            path += "." + str(part).removesuffix("__fhir")
    return path


def _has_empty_values(node: Any) -> bool:
    """Whether ``_empty_values`` would find anything (without building a path for every element)."""
    kind = type(node)
    if kind is dict:
        if not node:
            return True
        for key, value in node.items():
            if key == "resourceType":
                continue
            if value is None or value == "" or (type(value) in _CONTAINERS and _has_empty_values(value)):
                return True
        return False
    if kind is list:
        if not node:
            return True
        for value in node:
            if value is not None and ((type(value) in _CONTAINERS and _has_empty_values(value)) or value == ""):
                return True
        return False
    return isinstance(node, str) and not node


_CONTAINERS = (dict, list)


def _empty_values(node: Any, path: str) -> Iterator[Issue]:
    if isinstance(node, dict):
        if not node:
            yield Issue(f"{path}: an object must not be empty", code="value", expression=(path,))
        for key, value in node.items():
            if key == "resourceType":
                continue
            child = f"{path}.{key}"
            if value is None:
                yield Issue(f"{child}: null is not allowed", code="value", expression=(child,))
            else:
                yield from _empty_values(value, child)
    elif isinstance(node, list):
        if not node:
            yield Issue(f"{path}: an array must not be empty", code="value", expression=(path,))
        for index, value in enumerate(node):
            # Nulls pad arrays of primitives and their `_element` twins; elsewhere they are empty values.
            if value is not None:
                yield from _empty_values(value, f"{path}[{index}]")
    elif isinstance(node, str) and not node:
        yield Issue(f"{path}: a string must not be empty", code="value", expression=(path,))


__all__ = ["check_resource", "element_path"]
