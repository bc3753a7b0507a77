"""Two children's records, as the tests of access control store them: the child of the practice and
what only these tests hold (consents, sensitive records); goals, plans, tasks and observations come
from tests/factories.py."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.classification import ACT_CODE
from tests.factories import care_plan, goal, observation, organization, patient, task
from tests.security.conftest import CHILD, OTHER_CHILD, put

PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


# The practice every child in these records belongs to, and the people of its treating team: the
# treating relationship comes from the data (the Patient names them; care_team adds others).
PRACTICE = "medical-home"
COORDINATOR = "Practitioner/coordinator-1"


def practice_child(id: str) -> dict[str, Any]:
    """A child of the practice: its managing organization and general practitioner make the
    coordinator's team a treating one."""
    return patient(
        id,
        family=id.title(),
        birth_date="2018-03-01",
        managingOrganization={"reference": f"Organization/{PRACTICE}"},
        generalPractitioner=[{"reference": COORDINATOR}],
    )


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
        put(ehr, practice_child(child))
        put(ehr, goal(f"{prefix}-goal", child))
        put(ehr, care_plan(f"{prefix}-plan", child))
        put(ehr, task(f"{prefix}-task", child))
        put(ehr, observation(f"{prefix}-weight", child))
        put(ehr, behavioral_condition(f"{prefix}-autism", child))
        put(ehr, psychosocial_answers(f"{prefix}-psychosocial", child))
    put(ehr, organization("medical-home"))
