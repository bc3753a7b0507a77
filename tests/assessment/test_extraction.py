"""$extract: Observations, health-concern Conditions and proposed Goals in a transaction Bundle."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.assessment import assessment_questionnaire, extract
from fhirbridge.errors import Unprocessable
from tests.assessment.builders import code, loinc, maya_response
from tests.assessment.r4b import assert_valid_r4

SURVEY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey", "display": "Survey"}
SDOH = {"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-category", "code": "sdoh", "display": "SDOH"}


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind]


def observation_for(bundle: dict[str, Any], code_value: str) -> dict[str, Any]:
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == code_value]
    return found


def test_the_bundle_is_a_valid_transaction_of_conditional_creates() -> None:
    bundle = extract(assessment_questionnaire(), maya_response())
    assert_valid_r4(bundle)
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"]["method"] == "POST"
        identifier = entry["resource"]["identifier"][0]
        assert entry["request"]["ifNoneExist"].startswith("identifier=")
        assert identifier["value"] == entry["fullUrl"].removeprefix("urn:uuid:")


def test_extracting_the_same_response_twice_gives_the_same_bundle() -> None:
    assert extract(assessment_questionnaire(), maya_response()) == extract(assessment_questionnaire(), maya_response())


def test_observations_carry_category_code_subject_time_value_and_derivation() -> None:
    bundle = extract(assessment_questionnaire(), maya_response())
    food = observation_for(bundle, "88122-7")
    assert food["category"] == [{"coding": [SURVEY]}, {"coding": [SDOH]}]
    assert food["code"]["coding"][0]["system"] == "http://loinc.org"
    assert food["subject"] == {"reference": "Patient/maya"}
    assert food["effectiveDateTime"] == "2026-03-02T15:00:00Z"
    assert food["derivedFrom"] == [{"reference": "QuestionnaireResponse/maya-assessment-2026-03"}]
    assert food["valueCodeableConcept"]["coding"] == [
        {"system": "http://loinc.org", "code": "LA6729-3", "display": "Sometimes true"}
    ]
    assert food["status"] == "final"
    assert food["meta"]["profile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-screening-assessment"
    ]
    health = observation_for(bundle, "overall-health")
    assert health["category"] == [{"coding": [SURVEY]}]
    assert observation_for(bundle, "hospitalizations-12m")["valueInteger"] == 2
    assert observation_for(bundle, "uses-equipment")["valueBoolean"] is True


def test_only_flagged_enabled_answered_items_become_observations() -> None:
    bundle = extract(assessment_questionnaire(), maya_response())
    codes = {o["code"]["coding"][0]["code"] for o in resources(bundle, "Observation")}
    assert "child-strengths" not in codes  # free text, not flagged
    assert "diagnoses" not in codes
    assert "behavioral-services" not in codes  # disabled: no behavioral concern
    stale = maya_response(**{"behavioral-services": code("service-needed-not-receiving")})
    assert "behavioral-services" not in {
        o["code"]["coding"][0]["code"] for o in resources(extract(assessment_questionnaire(), stale), "Observation")
    }


def test_identified_needs_become_health_concerns_with_evidence() -> None:
    bundle = extract(assessment_questionnaire(), maya_response())
    conditions = {c["code"]["coding"][0]["code"]: c for c in resources(bundle, "Condition")}
    assert set(conditions) == {
        "need-medical-care", "need-dental-home", "need-school-support", "need-social-support", "need-coverage-gap",
        "need-financial-strain", "need-food-insecurity", "need-transportation", "need-caregiver-support",
    }  # fmt: skip
    food = conditions["need-food-insecurity"]
    assert food["category"] == [
        {"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/condition-category", "code": "health-concern",
                     "display": "Health Concern"}]},
        {"coding": [SDOH]},
    ]  # fmt: skip
    assert food["clinicalStatus"]["coding"][0]["code"] == "active"
    full_urls = {entry["resource"]["code"]["coding"][0]["code"]: entry["fullUrl"] for entry in bundle["entry"]
                 if entry["resource"]["resourceType"] == "Observation"}  # fmt: skip
    evidence = [detail["reference"] for detail in food["evidence"][0]["detail"]]
    assert set(evidence[:2]) == {full_urls["88122-7"], full_urls["88123-5"]}
    assert evidence[2:] == ["QuestionnaireResponse/maya-assessment-2026-03"]
    assert "category" in conditions["need-dental-home"] and len(conditions["need-dental-home"]["category"]) == 1


def test_a_persisting_need_keeps_its_identity_across_assessments() -> None:
    first = extract(assessment_questionnaire(), maya_response())
    later = maya_response()
    later["id"] = "maya-assessment-2026-09"
    later["authored"] = "2026-09-01T10:00:00Z"
    second = extract(assessment_questionnaire(), later)

    def keys(bundle: dict[str, Any], kind: str) -> set[str]:
        return {
            entry["request"]["ifNoneExist"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind
        }

    assert keys(first, "Condition") == keys(second, "Condition")
    assert keys(first, "Observation").isdisjoint(keys(second, "Observation"))


def test_family_goals_become_proposed_goals_expressed_by_the_family() -> None:
    bundle = extract(assessment_questionnaire(), maya_response())
    wheelchair, respite = resources(bundle, "Goal")
    assert wheelchair["lifecycleStatus"] == "proposed"
    assert wheelchair["description"] == {"text": "Maya gets a new power wheelchair that fits her"}
    assert wheelchair["expressedBy"] == {"reference": "RelatedPerson/maya-mother"}
    assert wheelchair["target"] == [{"dueDate": "2026-09-01"}]
    assert wheelchair["priority"]["coding"][0]["code"] == "high-priority"
    assert wheelchair["category"][0]["coding"][0]["display"] == "Medical health"
    caregiver = next(
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "need-caregiver-support"
    )
    assert respite["addresses"] == [{"reference": caregiver}]
    assert "target" not in respite


def test_a_response_without_id_travels_in_the_bundle() -> None:
    response = maya_response()
    del response["id"]
    bundle = extract(assessment_questionnaire(), response)
    first = bundle["entry"][0]
    assert first["resource"]["resourceType"] == "QuestionnaireResponse"
    observation = resources(bundle, "Observation")[0]
    assert observation["derivedFrom"] == [{"reference": first["fullUrl"]}]
    assert_valid_r4(bundle)


def test_an_in_progress_response_gives_preliminary_observations() -> None:
    bundle = extract(assessment_questionnaire(), maya_response() | {"status": "in-progress"})
    assert {o["status"] for o in resources(bundle, "Observation")} == {"preliminary"}


@pytest.mark.parametrize("missing", ["subject", "authored"])
def test_extract_needs_a_subject_and_a_date(missing: str) -> None:
    response = maya_response()
    del response[missing]
    with pytest.raises(Unprocessable) as raised:
        extract(assessment_questionnaire(), response)
    assert raised.value.issues[0].expression == (f"QuestionnaireResponse.{missing}",)


def test_transportation_answer_is_extracted_with_its_loinc_answer() -> None:
    bundle = extract(assessment_questionnaire(), maya_response(transportation=loinc("LA32-8")))
    assert observation_for(bundle, "93030-5")["valueCodeableConcept"]["coding"][0]["display"] == "No"
    assert "need-transportation" not in {c["code"]["coding"][0]["code"] for c in resources(bundle, "Condition")}


def test_a_response_with_its_own_identifier_is_created_once_on_it() -> None:
    response = maya_response()
    del response["id"]
    response["identifier"] = {"value": "paper-form-0042"}
    first = extract(assessment_questionnaire(), response)["entry"][0]
    assert first["resource"]["identifier"] == {"value": "paper-form-0042"}
    assert first["request"]["ifNoneExist"] == "identifier=paper-form-0042"


def test_every_extracted_resource_has_a_narrative() -> None:
    bundle = extract(assessment_questionnaire(), maya_response())
    for entry in bundle["entry"]:
        assert entry["resource"]["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    food = observation_for(bundle, "88122-7")
    assert "Sometimes true" in food["text"]["div"]
    assert "no" in observation_for(bundle, "behavioral-concern")["text"]["div"]
