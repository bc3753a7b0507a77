"""Responses to the published instruments, built from answers by linkId."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.assessment import LAST_REVIEW_EXTENSION, assessment_questionnaire, screening_questionnaire
from fhirbridge.assessment.screening import STEMS

CS = "http://fhirbridge.org/fhir/CodeSystem/care-coordination-assessment"
LOINC = "http://loinc.org"


def code(value: str, system: str = CS) -> dict[str, Any]:
    return {"valueCoding": {"system": system, "code": value}}


def loinc(value: str) -> dict[str, Any]:
    return code(value, LOINC)


def answer(value: Any) -> dict[str, Any]:
    """A plain Python value as a FHIR answer (codings pass through)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    return {"valueString": value}


def response_to(
    questionnaire: dict[str, Any],
    answers: dict[str, Any],
    *,
    repetitions: dict[str, list[dict[str, Any]]] | None = None,
    status: str = "completed",
    authored: str = "2026-03-02T15:00:00Z",
    subject: str = "Patient/maya",
    source: str | None = "RelatedPerson/maya-mother",
) -> dict[str, Any]:
    """A response with the items in questionnaire order; ``repetitions`` answers repeating groups."""
    repetitions = repetitions or {}

    def build(items: list[dict[str, Any]], given: dict[str, Any]) -> list[dict[str, Any]]:
        built: list[dict[str, Any]] = []
        for item in items:
            link_id = item["linkId"]
            if item["type"] == "group":
                for repetition in repetitions.get(link_id) or [given]:
                    children = build(item.get("item", []), repetition)
                    if children:
                        built.append({"linkId": link_id, "text": item["text"], "item": children})
                continue
            if link_id not in given:
                continue
            values = given[link_id] if isinstance(given[link_id], list) else [given[link_id]]
            built.append({"linkId": link_id, "text": item["text"], "answer": [answer(value) for value in values]})
        return built

    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": "maya-assessment-2026-03",
        "questionnaire": questionnaire["url"],
        "status": status,
        "subject": {"reference": subject},
        "authored": authored,
        "author": {"reference": "Practitioner/coordinator-lee"},
        "item": build(questionnaire["item"], answers),
    }
    if source:
        response["source"] = {"reference": source}
    return response


# A school-age child with cerebral palsy and a gastrostomy tube, an IEP, equipment needs and a family
# under financial and caregiving strain: the kind of child the medical home coordinates most for.
MAYA = {
    "child-name": "Maya Okafor",
    "child-birth-date": {"valueDate": "2017-05-14"},
    "respondent-relationship": code("mother"),
    "assessment-mode": code("mode-in-person"),
    "diagnoses": ["Spastic quadriplegic cerebral palsy", "Gastrostomy status", "Epilepsy"],
    "medications": ["Levetiracetam 250 mg twice daily", "Baclofen 5 mg three times daily"],
    "overall-health": code("health-fair"),
    "hospitalizations-12m": 2,
    "ed-visits-12m": 3,
    "specialist-count": 5,
    "care-team-members": ["Dr. Ana Ruiz (primary care)", "Dr. Chen (neurology)", "Dr. Patel (GI)"],
    "uses-equipment": True,
    "equipment": ["Gastrostomy tube and feeding pump", "Power wheelchair"],
    "medical-needs-met": code("met-partly"),
    "behavioral-concern": False,
    "dental-home": False,
    "last-dental-visit": code("dental-over-12m"),
    "dental-concern": True,
    "developmental-concern": True,
    "education-setting": code("setting-school"),
    "school-plan": code("plan-iep"),
    "school-performance": code("performance-below"),
    "school-days-missed": 12,
    "has-support-person": True,
    "support-people": ["Grandmother"],
    "isolation": code("often"),
    "family-to-family-interest": True,
    "insurance-coverage": code("coverage-public"),
    "coverage-gaps": True,
    "ssi-status": code("ssi-applied"),
    "financial-strain": code("strain-somewhat-hard"),
    "food-worry": loinc("LA6729-3"),
    "food-ran-out": loinc("LA28398-8"),
    "housing": code("housing-steady"),
    "transportation": loinc("LA33-6"),
    "caregiver-strain": code("strain-a-lot"),
    "work-impact": True,
    "other-dependents": False,
    "family-functioning": code("functioning-well"),
    "respite-need": True,
    "cultural-considerations": True,
    "cultural-description": "The family prefers that both parents are present for care decisions.",
    "preferred-language": {"valueCoding": {"system": "urn:ietf:bcp:47", "code": "en"}},
    "interpreter-needed": False,
    "child-strengths": "Maya loves music, is very social and communicates with her eye-gaze device.",
    "family-strengths": "A close extended family and a strong church community.",
    "information-readiness": code("readiness-some"),
    "information-format": [code("format-written"), code("format-conversation")],
    "information-topics": ["Transition to a new wheelchair", "Respite programs"],
}

MAYA_GOALS = [
    {
        "goal-description": "Maya gets a new power wheelchair that fits her",
        "goal-domain": code("domain-medical"),
        "goal-priority": {
            "valueCoding": {"system": "http://terminology.hl7.org/CodeSystem/goal-priority", "code": "high-priority"}
        },
        "goal-target-date": {"valueDate": "2026-09-01"},
    },
    {
        "goal-description": "Find a respite provider so Mom can rest one weekend a month",
        "goal-domain": code("domain-family"),
    },
]


def maya_response(**overrides: Any) -> dict[str, Any]:
    questionnaire = assessment_questionnaire()
    answers = {**MAYA, **overrides}
    return response_to(questionnaire, answers, repetitions={"family-goal": MAYA_GOALS})


def answered(subject: str = "Patient/maya") -> dict[str, object]:
    response = response_to(assessment_questionnaire(), MAYA, repetitions={"family-goal": MAYA_GOALS})
    response["subject"] = {"reference": subject}
    return response


def register_maya(client: httpx.Client, patient: dict[str, object]) -> None:
    """Maya, her mother who answers and the coordinator who records the answers (the response names them)."""
    for resource in (
        patient,
        {"resourceType": "RelatedPerson", "id": "maya-mother", "patient": {"reference": "Patient/maya"}},
        {"resourceType": "Practitioner", "id": "coordinator-lee", "name": [{"family": "Lee"}]},
    ):
        response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
        assert response.status_code == 201, response.text


def screened(**answers: object) -> dict[str, object]:
    """A screening of Maya: no to every stem unless ``answers`` say otherwise."""
    given: dict[str, object] = {f"screen-{stem}": False for stem in STEMS}
    given["screen-family-request"] = False
    given.update({name.replace("_", "-"): value for name, value in answers.items()})
    return response_to(screening_questionnaire(), given)


# The answers of a child whose needs are all met: no scoring rule holds.
QUIET: dict[str, Any] = {
    "hospitalizations-12m": 0,
    "ed-visits-12m": 0,
    "specialist-count": 1,
    "uses-equipment": False,
    "overall-health": code("health-good"),
    "medical-needs-met": code("met-fully"),
    "behavioral-concern": False,
    "dental-home": True,
    "developmental-concern": False,
    "education-setting": code("setting-school"),
    "school-performance": code("performance-at"),
    "school-days-missed": 0,
    "has-support-person": True,
    "isolation": code("never"),
    "insurance-coverage": code("coverage-private"),
    "coverage-gaps": False,
    "financial-strain": code("strain-not-hard"),
    "food-worry": loinc("LA28398-8"),
    "food-ran-out": loinc("LA28398-8"),
    "housing": code("housing-steady"),
    "transportation": loinc("LA32-8"),
    "caregiver-strain": code("strain-none"),
    "work-impact": False,
    "other-dependents": False,
    "family-functioning": code("functioning-well"),
    "interpreter-needed": False,
}

# One set of answers per rule of the published rules file that makes exactly that rule hold.


def assessment(changes: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    answers = {key: value for key, value in {**QUIET, **changes}.items() if value is not None}
    return response_to(assessment_questionnaire(), answers, **kwargs)


def risk(subject: str, level: str, when: str, id: str) -> dict[str, Any]:
    return {
        "resourceType": "RiskAssessment", "id": id, "status": "final", "subject": {"reference": subject},
        "occurrenceDateTime": when,
        "prediction": [{"outcome": {"coding": [
            {"system": "http://fhirbridge.org/fhir/CodeSystem/complexity-level", "code": level}]}}],
    }  # fmt: skip


def plan(subject: str, id: str, created: str, last_review: str | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": id,
        "status": "active",
        "intent": "plan",
        "subject": {"reference": subject},
        "created": created,
        **extra,
    }
    if last_review:
        resource["extension"] = [{"url": LAST_REVIEW_EXTENSION, "valueDateTime": last_review}]
    return resource
