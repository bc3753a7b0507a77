"""Two children's records, as the tests of access control store them."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.classification import ACT_CODE
from tests.security.conftest import CHILD, OTHER_CHILD, put

PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


# The practice every child in these records belongs to, and the people of its treating team: the
# treating relationship comes from the data (the Patient names them; care_team adds others).
PRACTICE = "medical-home"
COORDINATOR = "Practitioner/coordinator-1"


def patient(id: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": id,
        "name": [{"family": id.title()}],
        "birthDate": "2018-03-01",
        "managingOrganization": {"reference": f"Organization/{PRACTICE}"},
        "generalPractitioner": [{"reference": COORDINATOR}],
    }


def care_team(id: str, child: str, *members: str) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": id,
        "status": "active",
        "subject": {"reference": f"Patient/{child}"},
        "participant": [{"member": {"reference": member}} for member in members],
    }


def goal(id: str, child: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": id,
        "lifecycleStatus": "active",
        "description": {"text": "walks to school with a walker"},
        "subject": {"reference": f"Patient/{child}"},
    }


def care_plan(id: str, child: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": id,
        "status": "active",
        "intent": "plan",
        "subject": {"reference": f"Patient/{child}"},
    }


def task(id: str, child: str) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": id,
        "status": "requested",
        "intent": "order",
        "for": {"reference": f"Patient/{child}"},
    }


def observation(id: str, child: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": f"Patient/{child}"},
    }


def behavioral_condition(id: str, child: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": id,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F84.0"}]},
        "subject": {"reference": f"Patient/{child}"},
    }


def psychosocial_answers(id: str, child: str) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": id,
        "meta": {"security": [{"system": ACT_CODE, "code": "SOC"}]},
        "status": "completed",
        "subject": {"reference": f"Patient/{child}"},
    }


def organization(id: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": id, "name": id}


def consent(
    id: str,
    child: str,
    org: str,
    *,
    status: str = "active",
    period: dict[str, str] | None = None,
    labels: tuple[str, ...] = (),
) -> dict[str, Any]:
    actor = {
        "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
        "reference": {"reference": f"Organization/{org}"},
    }
    provision: dict[str, Any] = {"type": "permit", "actor": [actor]}
    if period:
        provision["period"] = period
    if labels:
        provision["securityLabel"] = [{"system": ACT_CODE, "code": label} for label in labels]
    return {
        "resourceType": "Consent",
        "id": id,
        "status": status,
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": ACT_CODE, "code": "IDSCL"}]}],
        "patient": {"reference": f"Patient/{child}"},
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes", "code": "hipaa-auth"}]
        },
        "provision": provision,
    }


def seed_two_children(ehr: httpx.Client) -> None:
    """Ana's and Ben's records: the same kinds of resource for each, ids prefixed by the child."""
    for child, prefix in ((CHILD, "ana"), (OTHER_CHILD, "ben")):
        put(ehr, patient(child))
        put(ehr, goal(f"{prefix}-goal", child))
        put(ehr, care_plan(f"{prefix}-plan", child))
        put(ehr, task(f"{prefix}-task", child))
        put(ehr, observation(f"{prefix}-weight", child))
        put(ehr, behavioral_condition(f"{prefix}-autism", child))
        put(ehr, psychosocial_answers(f"{prefix}-psychosocial", child))
    put(ehr, organization("medical-home"))
