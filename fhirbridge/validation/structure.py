"""Structural validation with the R4B models of ``fhir.resources`` (R4's own definitions for the types R4B
dropped), errors named by FHIRPath.

Missing required elements are left to the cardinality check of the validator, which knows the
profile in force; everything else the models reject (unknown elements, wrong shapes, malformed
primitives) becomes a ``structure`` issue.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from fhirbridge.errors import Issue
from fhirbridge.formats.structure import Fault, resource_types, structure_problems

_SKIPPED_ERRORS = frozenset({"missing", "model_field_validation.missing"})


@cache
def _model(resource_type: str) -> type[Any] | None:
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None


def fhirpath_of(resource_type: str, location: tuple[int | str, ...]) -> str:
    """``("name", 0, "family")`` in a Patient is ``Patient.name[0].family``."""
    path = resource_type
    for step in location:
        if isinstance(step, int):
            path += f"[{step}]"
        elif step and not step.startswith("function-"):
            path += f".{step}"
    return path


def structure_issues(resource: dict[str, Any]) -> list[Issue]:
    resource_type = str(resource.get("resourceType"))
    model = _model(resource_type)
    if model is None:
        return _r4_only_issues(resource, resource_type)
    try:
        model.model_validate(resource)
    except pydantic.ValidationError as exc:
        return [
            Issue(_message(error), "structure", "error", (fhirpath_of(resource_type, error["loc"]),))
            for error in exc.errors()
            if error["type"] not in _SKIPPED_ERRORS and not _choice_companion(resource, error)
        ]
    except (TypeError, ValueError) as exc:
        return [Issue(f"The resource cannot be read: {exc}", "structure", "error", (resource_type,))]
    return []


def _r4_only_issues(resource: dict[str, Any], resource_type: str) -> list[Issue]:
    """A type R4 has and the R4B models do not (MedicinalProduct...): checked against R4's own definitions
    by the compiled structure check the write path uses."""
    if resource_type not in resource_types():
        return [Issue(f"Unknown resource type '{resource_type}'", "structure", "fatal", (resource_type,))]
    return [
        Issue(
            f"Unrecognized property '{problem.path}'" if problem.fault is Fault.UNKNOWN else problem.message,
            "structure",
            "error",
            (problem.path,),
        )
        for problem in structure_problems(resource) or ()
        if problem.fault is not Fault.REQUIRED  # cardinality is the validator's, against the profile in force
    ]


def _choice_companion(resource: dict[str, Any], error: Any) -> bool:
    """The models reject ``_valueBoolean`` (a choice primitive's id and extensions) although FHIR JSON
    allows it; the validator checks those extensions itself."""
    location = error["loc"]
    if error["type"] != "extra_forbidden" or not str(location[-1]).startswith("_"):
        return False
    parent: Any = resource
    for step in location[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(parent, dict) and str(location[-1])[1:] in parent


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return f"Unrecognized property '{error['loc'][-1]}'"
    return str(error["msg"])


__all__ = ["fhirpath_of", "structure_issues"]
