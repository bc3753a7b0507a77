"""Identified needs (one small response per need) and the condition language of the rules file."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.assessment import assessment_questionnaire, default_rules, identified_needs
from fhirbridge.assessment.rules import RuleError, holds
from tests.assessment.builders import assessment, code, loinc

NEED_TRIGGERS: dict[str, dict[str, Any]] = {
    "need-medical-care": {"medical-needs-met": code("met-partly")},
    "need-behavioral-services": {"behavioral-concern": True,
                                 "behavioral-services": code("service-needed-not-receiving")},
    "need-dental-home": {"dental-home": False},
    "need-developmental-support": {"developmental-concern": True, "school-plan": code("plan-none")},
    "need-school-support": {"school-days-missed": 15},
    "need-social-support": {"has-support-person": False},
    "need-health-insurance": {"insurance-coverage": code("coverage-none"), "coverage-gaps": None},
    "need-coverage-gap": {"coverage-gaps": True},
    "need-financial-strain": {"financial-strain": code("strain-very-hard")},
    "need-food-insecurity": {"food-worry": loinc("LA28397-0")},
    "need-housing-instability": {"housing": code("housing-none")},
    "need-transportation": {"transportation": loinc("LA33-6")},
    "need-caregiver-support": {"respite-need": True},
    "need-family-functioning": {"family-functioning": code("functioning-poorly")},
    "need-interpreter": {"interpreter-needed": True},
}  # fmt: skip


def needs(changes: dict[str, Any]) -> list[str]:
    return [need.code for need in identified_needs(assessment_questionnaire(), assessment(changes))]


def test_no_need_when_everything_is_met() -> None:
    assert needs({}) == []


def test_every_need_of_the_rules_file_is_exercised() -> None:
    assert {need["code"] for need in default_rules()["needs"]} == set(NEED_TRIGGERS)


@pytest.mark.parametrize("need_code", sorted(NEED_TRIGGERS))
def test_each_need_is_identified_from_its_answers(need_code: str) -> None:
    assert needs(NEED_TRIGGERS[need_code]) == [need_code]


def test_a_developmental_concern_with_a_plan_in_place_is_no_new_need() -> None:
    assert needs({"developmental-concern": True, "school-plan": code("plan-iep")}) == []
    # ... but with no plan question answered at all (not in a program) it is.
    at_home = {"education-setting": code("setting-home"), "school-performance": None, "school-days-missed": None}
    assert needs({"developmental-concern": True, **at_home}) == ["need-developmental-support"]


def test_a_need_names_the_answers_that_show_it() -> None:
    (need,) = identified_needs(assessment_questionnaire(), assessment({"food-worry": loinc("LA6729-3")}))
    assert need.evidence == ("food-ran-out", "food-worry")
    assert need.sdoh and need.domain == "financial"


def answers(**values: Any) -> dict[str, list[dict[str, Any]]]:
    def one(value: Any) -> dict[str, Any]:
        if isinstance(value, bool):
            return {"valueBoolean": value}
        if isinstance(value, int | float):
            return {"valueDecimal": value}
        return {"valueCoding": {"code": value}}

    return {key: [one(v) for v in (value if isinstance(value, list) else [value])] for key, value in values.items()}


@pytest.mark.parametrize(
    ("condition", "given", "expected"),
    [
        ({"linkId": "n", "operator": ">", "value": 2}, answers(n=2.5), True),
        ({"linkId": "n", "operator": "<=", "value": 2}, answers(n=2), True),
        ({"linkId": "n", "operator": "<", "value": 2}, answers(n=2), False),
        ({"linkId": "c", "operator": "in", "value": ["a", "b"]}, answers(c=["z", "b"]), True),
        ({"linkId": "c", "operator": "!=", "value": "a"}, answers(c=["a", "b"]), False),
        ({"linkId": "c", "operator": "!=", "value": "a"}, answers(), False),
        ({"linkId": "c", "operator": "exists", "value": False}, answers(), True),
        ({"linkId": "b", "operator": "=", "value": True}, answers(b=True), True),
        ({"linkId": "b", "operator": "=", "value": 1}, answers(b=True), False),
        ({"all": [{"linkId": "b", "operator": "=", "value": True}, {"linkId": "n", "operator": ">", "value": 5}]},
         answers(b=True, n=1), False),
        ({"any": [{"linkId": "b", "operator": "=", "value": True}, {"linkId": "n", "operator": ">", "value": 5}]},
         answers(b=True, n=1), True),
    ],
)  # fmt: skip
def test_conditions(condition: dict[str, Any], given: dict[str, Any], expected: bool) -> None:
    assert holds(condition, given) is expected


@pytest.mark.parametrize(
    "condition",
    [{"linkId": "c", "operator": "~", "value": 1}, {"operator": "="}, {"linkId": "c", "operator": "in", "value": "a"}],
)
def test_malformed_conditions_are_refused(condition: dict[str, Any]) -> None:
    with pytest.raises(RuleError):
        holds(condition, answers(c="a"))
