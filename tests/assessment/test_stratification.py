"""Complexity stratification: each rule, the levels, the RiskAssessment and the review worklist."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhirbridge.assessment import (
    COMPLEXITY_RISK_CODE,
    assess_complexity,
    assessment_questionnaire,
    default_rules,
    overdue_reviews,
    stratify,
)
from fhirbridge.errors import Unprocessable
from fhirbridge.mappers import record_from_resources, record_to_resources
from tests.assessment.builders import assessment, code, loinc, plan, risk
from tests.assessment.r4b import assert_valid_r4

RULE_TRIGGERS: dict[str, dict[str, Any]] = {
    "hospital-stay": {"hospitalizations-12m": 1},
    "frequent-emergency-visits": {"ed-visits-12m": 3},
    "several-specialists": {"specialist-count": 3},
    "medical-technology": {"uses-equipment": True},
    "fair-or-poor-health": {"overall-health": code("health-poor")},
    "medical-needs-unmet": {"medical-needs-met": code("met-not")},
    "behavioral-concern": {"behavioral-concern": True, "behavioral-services": code("service-receiving")},
    "no-dental-home": {"dental-home": False},
    "developmental-concern": {"developmental-concern": True},
    "below-grade-level": {"school-performance": code("performance-below")},
    "school-absence": {"school-days-missed": 10},
    "not-attending-school": {
        "education-setting": code("setting-not-attending"),
        "school-performance": None,
        "school-days-missed": None,
    },
    "no-support-person": {"has-support-person": False},
    "isolated": {"isolation": code("always")},
    "uninsured": {"insurance-coverage": code("coverage-none"), "coverage-gaps": None},
    "coverage-gaps": {"coverage-gaps": True},
    "financial-strain": {"financial-strain": code("strain-very-hard")},
    "food-insecurity": {"food-ran-out": loinc("LA28397-0")},
    "housing-at-risk": {"housing": code("housing-worried")},
    "transportation-barrier": {"transportation": loinc("LA33-6")},
    "caregiver-strain-moderate": {"caregiver-strain": code("strain-moderate")},
    "caregiver-strain-high": {"caregiver-strain": code("strain-a-lot")},
    "work-impact": {"work-impact": True},
    "other-dependents": {"other-dependents": True},
    "family-functioning-poor": {"family-functioning": code("functioning-poorly")},
    "interpreter-needed": {"interpreter-needed": True},
}
# Rules that by design hold together with another (a stricter threshold implies the looser one).
IMPLIED = {
    "repeated-hospital-stays": {"hospital-stay"},
    "frequent-hospital-stays": {"hospital-stay", "repeated-hospital-stays"},
    "many-specialists": {"several-specialists"},
}


def hits(changes: dict[str, Any]) -> set[str]:
    return {hit.id for hit in stratify(assessment_questionnaire(), assessment(changes)).hits}


def test_a_child_whose_needs_are_met_is_low_complexity() -> None:
    result = stratify(assessment_questionnaire(), assessment({}))
    assert (result.level, result.score, result.hits) == ("low", 0, ())
    assert result.review_interval_days == 180
    assert result.next_review == date(2026, 8, 29)


@pytest.mark.parametrize("rule_id", sorted(RULE_TRIGGERS))
def test_each_rule_holds_on_its_own_answers(rule_id: str) -> None:
    assert hits(RULE_TRIGGERS[rule_id]) == {rule_id}


def test_stricter_thresholds_add_to_the_looser_ones() -> None:
    assert hits({"hospitalizations-12m": 2}) == {"hospital-stay", "repeated-hospital-stays"}
    assert hits({"hospitalizations-12m": 3}) == {"hospital-stay", "repeated-hospital-stays", "frequent-hospital-stays"}
    assert hits({"specialist-count": 5}) == {"several-specialists", "many-specialists"}


def test_every_rule_of_the_published_file_is_exercised() -> None:
    assert {rule["id"] for rule in default_rules()["rules"]} == set(RULE_TRIGGERS) | set(IMPLIED) | {
        "homeless",
        "behavioral-services-unmet",
    }


def test_unmet_behavioral_services_count_only_when_the_concern_is_raised() -> None:
    assert hits({"behavioral-concern": True, "behavioral-services": code("service-needed-not-receiving")}) == {
        "behavioral-concern",
        "behavioral-services-unmet",
    }
    # The services question is disabled without a concern, so a stale answer there does not count.
    assert hits({"behavioral-services": code("service-needed-not-receiving")}) == set()


def test_scores_map_to_levels_by_threshold() -> None:
    moderate = {
        "uses-equipment": True,
        "several-specialists": None,
        "specialist-count": 3,
        "overall-health": code("health-fair"),
    }  # 2 + 2 + 2 = 6
    result = stratify(assessment_questionnaire(), assessment(moderate))
    assert (result.score, result.level, result.review_interval_days) == (6, "moderate", 90)
    high = {
        **moderate,
        "medical-needs-met": code("met-not"),
        "caregiver-strain": code("strain-a-lot"),
        "has-support-person": False,
    }  # + 2 + 2 + 2 = 12
    result = stratify(assessment_questionnaire(), assessment(high))
    assert (result.score, result.level, result.review_interval_days) == (12, "high", 30)


def test_a_minimum_level_overrides_a_low_score() -> None:
    homeless = stratify(assessment_questionnaire(), assessment({"housing": code("housing-none")}))
    assert (homeless.score, homeless.level) == (3, "moderate")
    hospitalised = stratify(assessment_questionnaire(), assessment({"hospitalizations-12m": 3}))
    assert (hospitalised.score, hospitalised.level) == (3, "high")


def test_rules_are_configurable() -> None:
    rules = default_rules()
    rules["levels"] = [
        {"code": "high", "display": "High", "minScore": 1, "reviewIntervalDays": 14},
        {"code": "low", "display": "Low", "minScore": 0, "reviewIntervalDays": 365},
    ]
    result = stratify(assessment_questionnaire(), assessment({"dental-home": False}), rules)
    assert (result.level, result.review_interval_days) == ("high", 14)


def test_the_risk_assessment_records_level_basis_and_next_review() -> None:
    response = assessment({"uses-equipment": True, "hospitalizations-12m": 3})
    risk, next_review = assess_complexity(assessment_questionnaire(), response)
    assert_valid_r4(risk)
    assert next_review == date(2026, 4, 1)
    assert risk["meta"]["profile"] == [
        "http://fhirbridge.org/fhir/StructureDefinition/fhirbridge-complexity-riskassessment"
    ]
    assert risk["basis"] == [{"reference": "QuestionnaireResponse/maya-assessment-2026-03"}]
    assert risk["subject"] == {"reference": "Patient/maya"}
    assert risk["prediction"][0]["outcome"]["coding"] == [
        {
            "system": "http://fhirbridge.org/fhir/CodeSystem/complexity-level",
            "code": "high",
            "display": "High complexity",
        }
    ]
    assert risk["prediction"][0]["whenPeriod"] == {"start": "2026-03-02", "end": "2026-04-01"}
    assert "Depends on medical equipment" in risk["prediction"][0]["rationale"]
    assert risk["extension"][0]["valueDate"] == "2026-04-01"


def test_a_response_without_an_authored_date_cannot_be_stratified() -> None:
    response = assessment({})
    del response["authored"]
    with pytest.raises(Unprocessable):
        stratify(assessment_questionnaire(), response)


def test_the_worklist_lists_overdue_plans_most_overdue_first() -> None:
    today = date(2026, 6, 1)
    risks = [
        risk("Patient/a", "low", "2026-01-05", "ra-a"),  # due 2026-07-04 (from the assessment)
        risk("Patient/b", "high", "2026-03-01", "ra-b"),  # reviewed 2026-04-10: due 2026-05-10, 22 days over
        risk("Patient/c", "moderate", "2025-12-01", "ra-c-old"),
        risk("Patient/c", "high", "2026-02-01", "ra-c"),  # the latest level counts: due 2026-03-03, 90 days over
        risk("Patient/d", "moderate", "2026-02-20", "ra-d"),  # no plan yet: due 2026-05-21, 11 days over
    ]
    plans = [
        plan("Patient/a", "cp-a", "2026-01-10"),
        plan("Patient/b", "cp-b", "2026-03-02", last_review="2026-04-10T10:00:00Z"),
        plan("Patient/c", "cp-c", "2025-12-05"),
        plan("Patient/c", "cp-c-emergency", "2025-12-05", partOf=[{"reference": "CarePlan/cp-c"}]),
        plan("Patient/e", "cp-e", "2020-01-01"),  # never assessed: no level, not listed
    ]
    worklist = overdue_reviews(risks, plans, today=today)
    assert [(line.subject, line.care_plan, line.level, line.due, line.days_overdue) for line in worklist] == [
        ("Patient/c", "CarePlan/cp-c", "high", date(2026, 3, 3), 90),
        ("Patient/b", "CarePlan/cp-b", "high", date(2026, 5, 10), 22),
        ("Patient/d", None, "moderate", date(2026, 5, 21), 11),
    ]
    assert worklist[0].risk_assessment == "RiskAssessment/ra-c"
    assert worklist[1].last_review == date(2026, 4, 10)


def test_a_plan_reviewed_in_time_is_not_on_the_worklist() -> None:
    risks = [risk("Patient/b", "high", "2026-03-01", "ra-b")]
    plans = [plan("Patient/b", "cp-b", "2026-03-02", last_review="2026-05-20")]
    assert overdue_reviews(risks, plans, today=date(2026, 6, 1)) == []


def test_the_record_reads_back_and_writes_the_risk_assessment_exactly_as_assess_wrote_it() -> None:
    response = assessment({"uses-equipment": True, "hospitalizations-12m": 3})
    risk_assessment, _ = assess_complexity(assessment_questionnaire(), response)
    risk_assessment["id"] = "maya-complexity"
    assert risk_assessment["code"]["coding"] == [COMPLEXITY_RISK_CODE]
    people = [
        {"resourceType": "Patient", "id": "maya", "name": [{"given": ["Maya"], "family": "Okafor"}]},
        {"resourceType": "RelatedPerson", "id": "maya-mother", "patient": {"reference": "Patient/maya"}},
        {"resourceType": "Practitioner", "id": "coordinator-lee", "name": [{"family": "Lee"}]},
        {
            "resourceType": "CareTeam",
            "id": "team",
            "subject": {"reference": "Patient/maya"},
            "participant": [
                {"member": {"reference": "Practitioner/coordinator-lee"}},
                {"member": {"reference": "RelatedPerson/maya-mother"}},
            ],
        },
    ]
    imported = record_from_resources([*people, response, risk_assessment])
    assert [entry for entry in imported.report if entry.resource == "RiskAssessment/maya-complexity"] == []
    (level,) = imported.record.complexity
    assert (level.level, level.basis_assessment_id) == ("high", "maya-assessment-2026-03")
    written = next(r for r in record_to_resources(imported.record) if r["resourceType"] == "RiskAssessment")
    assert written == risk_assessment
