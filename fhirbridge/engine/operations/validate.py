"""``$validate``: check a resource against R4, its declared profiles and any profile the caller names;
a QuestionnaireResponse also against its Questionnaire, as a write checks it (``check_response``).

The answer is always an OperationOutcome (HTTP 200): a resource that fails validation is a result of
the operation, not a failure of it. Only input the operation cannot read is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirbridge.assessment import check_response, definition
from fhirbridge.errors import BadRequest, Issue, Unprocessable, operation_outcome
from fhirbridge.validation import validate_resource

# The Questionnaire a canonical names, or None when it is not known.
QuestionnaireLookup = Callable[[str], dict[str, Any] | None]

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


def published_questionnaire(canonical: str) -> dict[str, Any] | None:
    """A Questionnaire fhirbridge publishes (the needs assessment, the screening), by canonical URL."""
    found = definition(canonical)
    return found if found is not None and found.get("resourceType") == "Questionnaire" else None


def validate_outcome(
    resource: dict[str, Any],
    profiles: list[str],
    *,
    expected_type: str,
    questionnaires: QuestionnaireLookup = published_questionnaire,
) -> dict[str, Any]:
    """The OperationOutcome of ``$validate``; ``questionnaires`` finds the Questionnaire a
    QuestionnaireResponse answers (by default among those fhirbridge publishes)."""
    if resource.get("resourceType") != expected_type:
        raise BadRequest(
            f"The resource is a {resource.get('resourceType')}, not a {expected_type}", expression="resourceType"
        )
    issues = validate_resource(resource, profiles=profiles)
    if expected_type == "QuestionnaireResponse":
        issues += answer_issues(resource, questionnaires)
    if not issues:
        issues = [Issue("No issues found", code="informational", severity="information")]
    return operation_outcome(issues)


def answer_issues(response: dict[str, Any], questionnaires: QuestionnaireLookup) -> list[Issue]:
    """A response measured against its Questionnaire as a write measures it; a note when the
    Questionnaire is not known (the answers are then not checked)."""
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        return []
    questionnaire = questionnaires(canonical)
    if questionnaire is None:
        return [
            Issue(
                f"The Questionnaire '{canonical}' is not known here: the answers are not checked against it",
                code="informational",
                severity="information",
                expression=("QuestionnaireResponse.questionnaire",),
            )
        ]
    return check_response(questionnaire, response)


def check_declared_profiles(_previous: dict[str, Any] | None, resource: dict[str, Any]) -> None:
    """Write rule (when enabled): a resource claiming profiles in ``meta.profile`` must conform to them."""
    if not (resource.get("meta") or {}).get("profile"):
        return
    errors = [issue for issue in validate_resource(resource) if issue.severity in ("error", "fatal")]
    if errors:
        raise Unprocessable(issues=errors)


__all__ = [
    "QuestionnaireLookup",
    "answer_issues",
    "check_declared_profiles",
    "published_questionnaire",
    "validate_outcome",
    "validation_input",
]
