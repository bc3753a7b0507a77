"""A realistic assessment end to end: screen, pre-fill, answer, validate, extract, stratify, worklist."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirbridge.assessment import (
    assess_complexity,
    assessment_questionnaire,
    extract,
    overdue_reviews,
    populate,
    screening_outcome,
    screening_questionnaire,
    validate_response,
)
from fhirbridge.assessment.answers import answers_by_link_id
from tests.assessment.builders import MAYA, MAYA_GOALS, response_to
from tests.assessment.r4b import assert_valid_r4
from tests.assessment.records import RECORD


def test_a_school_age_child_with_cerebral_palsy_from_screening_to_worklist() -> None:
    # 1. The screening says the full assessment is needed.
    screening = response_to(
        screening_questionnaire(),
        {
            "screen-medication": True,
            "screen-medication-condition": True,
            "screen-medication-duration": True,
            "screen-services": True,
            "screen-services-condition": True,
            "screen-services-duration": True,
            "screen-limitation": True,
            "screen-limitation-condition": True,
            "screen-limitation-duration": True,
            "screen-therapy": True,
            "screen-therapy-condition": True,
            "screen-therapy-duration": True,
            "screen-behavioral": False,
            "screen-family-request": True,
        },
    )
    assert validate_response(screening_questionnaire(), screening) == []
    outcome = screening_outcome(screening)
    assert outcome.needs_full_assessment and outcome.criteria_met == ("medication", "services", "limitation", "therapy")

    # 2. The coordinator pre-fills the assessment from the record, then completes it with the family.
    questionnaire = assessment_questionnaire()
    prefilled = populate(questionnaire, RECORD, authored="2026-03-02T15:00:00Z")
    known = answers_by_link_id(prefilled)
    family_answers: dict[str, Any] = {
        key: value for key, value in MAYA.items() if key not in known and key not in ("child-name", "child-birth-date")
    }
    completed = response_to(questionnaire, {**family_answers, **_plain(known)}, repetitions={"family-goal": MAYA_GOALS})
    assert [issue for issue in validate_response(questionnaire, completed)] == []

    # 3. $extract gives Observations, health concerns and the family's goals, all valid R4.
    bundle = extract(questionnaire, completed)
    assert_valid_r4(bundle)
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds.count("Observation") > 25 and kinds.count("Condition") >= 8 and kinds.count("Goal") == 2

    # 4. Stratification: high complexity, plan reviewed monthly.
    risk, next_review = assess_complexity(questionnaire, completed)
    assert_valid_r4(risk)
    assert risk["prediction"][0]["outcome"]["coding"][0]["code"] == "high"
    assert next_review == date(2026, 4, 1)

    # 5. Without a review by then, the plan shows on the worklist.
    risk["id"] = "maya-complexity"
    plan = {
        "resourceType": "CarePlan",
        "id": "maya-plan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/maya"},
        "created": "2026-03-05",
    }
    assert overdue_reviews([risk], [plan], today=date(2026, 4, 1)) == []
    (line,) = overdue_reviews([risk], [plan], today=date(2026, 4, 15))
    assert (line.care_plan, line.level, line.due, line.days_overdue) == (
        "CarePlan/maya-plan",
        "high",
        date(2026, 4, 4),
        11,
    )


def test_a_bad_response_gets_issues_naming_the_items() -> None:
    questionnaire = assessment_questionnaire()
    bad = response_to(
        questionnaire,
        {**MAYA, "hospitalizations-12m": -1, "behavioral-description": "Tantrums"},
        repetitions={"family-goal": MAYA_GOALS},
    )
    del_required = [item for item in bad["item"] if item["linkId"] != "language"]
    bad["item"] = del_required
    issues = [(issue.expression[0], issue.diagnostics) for issue in validate_response(questionnaire, bad)]
    assert issues == [
        (
            "QuestionnaireResponse.item[1].item[3].answer[0]",
            "Item 'hospitalizations-12m': the value -1 is less than the allowed minimum of 0",
        ),
        (
            "QuestionnaireResponse.item[2].item[1]",
            "Item 'behavioral-description' is not enabled (enableWhen) but has answers",
        ),
        ("QuestionnaireResponse", "No response found for required group 'language'"),
    ]


def _plain(answers: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {link_id: [dict(answer) for answer in found] for link_id, found in answers.items()}
