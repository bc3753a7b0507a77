"""``$validate``: check a resource against R4, its declared profiles and any profile the caller names.

The answer is always an OperationOutcome (HTTP 200): a resource that fails validation is a result of
the operation, not a failure of it. Only input the operation cannot read is an error.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import BadRequest, Issue, Unprocessable, operation_outcome
from fhirbridge.validation import validate_resource

PROFILE_VALUE_KEYS = ("valueUri", "valueCanonical", "valueString")


def validation_input(body: Any, query_profiles: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The resource and profiles from a ``$validate`` body: the resource itself, or Parameters."""
    if not isinstance(body, dict):
        raise BadRequest("$validate takes a resource or a Parameters resource", code="structure")
    profiles = list(query_profiles)
    if body.get("resourceType") != "Parameters":
        return body, profiles
    resource = None
    for parameter in body.get("parameter") or []:
        name = parameter.get("name")
        if name == "resource":
            resource = parameter.get("resource")
        elif name == "profile":
            profiles += [parameter[key] for key in PROFILE_VALUE_KEYS if key in parameter]
    if not isinstance(resource, dict):
        raise BadRequest("The Parameters carry no 'resource' to validate", expression="Parameters.parameter")
    return resource, profiles


def validate_outcome(resource: dict[str, Any], profiles: list[str], *, expected_type: str) -> dict[str, Any]:
    if resource.get("resourceType") != expected_type:
        raise BadRequest(
            f"The resource is a {resource.get('resourceType')}, not a {expected_type}", expression="resourceType"
        )
    issues = validate_resource(resource, profiles=profiles)
    if not issues:
        issues = [Issue("No issues found", code="informational", severity="information")]
    return operation_outcome(issues)


def check_declared_profiles(_previous: dict[str, Any] | None, resource: dict[str, Any]) -> None:
    """Write rule (when enabled): a resource claiming profiles in ``meta.profile`` must conform to them."""
    if not (resource.get("meta") or {}).get("profile"):
        return
    errors = [issue for issue in validate_resource(resource) if issue.severity in ("error", "fatal")]
    if errors:
        raise Unprocessable(issues=errors)


__all__ = ["check_declared_profiles", "validate_outcome", "validation_input"]
