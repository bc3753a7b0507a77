"""$populate: a response pre-filled from the child's record and the previous assessment."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.assessment import assessment_questionnaire, populate, validate_response
from fhirbridge.assessment.answers import answers_by_link_id
from fhirbridge.errors import Unprocessable
from tests.assessment.builders import maya_response
from tests.assessment.r4b import assert_valid_r4
from tests.assessment.records import RECORD


def answers(response: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        link_id: [next(iter(v for k, v in a.items() if k.startswith("value"))) for a in found]
        for link_id, found in answers_by_link_id(response).items()
    }


def test_demographics_conditions_medications_and_care_team_come_from_the_record() -> None:
    response = populate(assessment_questionnaire(), RECORD, authored="2026-09-01T09:00:00Z")
    assert_valid_r4(response)
    found = answers(response)
    assert found["child-name"] == ["Maya Adaeze Okafor"]
    assert found["child-birth-date"] == ["2017-05-14"]
    assert found["preferred-language"] == [{"system": "urn:ietf:bcp:47", "code": "es", "display": "Spanish"}]
    assert found["diagnoses"] == ["Spastic quadriplegic cerebral palsy", "Epilepsy"]
    assert found["medications"] == ["Levetiracetam 250 MG", "Baclofen 5 mg"]
    assert found["care-team-members"] == ["Dr. Ana Ruiz (primary care)", "Dr. Chen (neurology)"]
    assert response["status"] == "in-progress"
    assert response["subject"]["reference"] == "Patient/maya"
    assert response["questionnaire"].startswith(
        "http://fhirbridge.org/fhir/Questionnaire/pediatric-care-coordination-needs-assessment|"
    )


def test_a_pre_filled_response_is_valid_for_its_questionnaire() -> None:
    response = populate(assessment_questionnaire(), RECORD, authored="2026-09-01T09:00:00Z")
    assert validate_response(assessment_questionnaire(), response) == []


def test_previous_answers_are_carried_over_and_the_record_wins() -> None:
    previous = maya_response()
    response = populate(assessment_questionnaire(), {**RECORD, "QuestionnaireResponse": [previous]})
    found = answers(response)
    assert found["hospitalizations-12m"] == [2]
    assert found["child-strengths"] == answers(previous)["child-strengths"]
    assert found["medications"] == ["Levetiracetam 250 MG", "Baclofen 5 mg"]  # the record, not last time's list
    goals = next(item for item in response["item"] if item["linkId"] == "goals")["item"]
    assert [goal["item"][0]["answer"][0]["valueString"] for goal in goals] == [
        "Maya gets a new power wheelchair that fits her",
        "Find a respite provider so Mom can rest one weekend a month",
    ]
    assert validate_response(assessment_questionnaire(), response) == []


def test_the_latest_completed_previous_response_is_used() -> None:
    older = maya_response(**{"hospitalizations-12m": 5})
    older["authored"] = "2025-03-01T10:00:00Z"
    draft = maya_response(**{"hospitalizations-12m": 9})
    draft["status"] = "in-progress"
    draft["authored"] = "2026-08-01T10:00:00Z"
    response = populate(
        assessment_questionnaire(), {**RECORD, "QuestionnaireResponse": [older, maya_response(), draft]}
    )
    assert answers(response)["hospitalizations-12m"] == [2]


def test_answers_that_no_longer_fit_the_item_are_dropped() -> None:
    previous = maya_response(**{"overall-health": {"valueCoding": {"system": "http://old", "code": "good"}}})
    response = populate(assessment_questionnaire(), {**RECORD, "QuestionnaireResponse": [previous]})
    assert "overall-health" not in answers(response)


def test_populate_needs_the_patient() -> None:
    with pytest.raises(Unprocessable):
        populate(assessment_questionnaire(), {"Condition": []})
