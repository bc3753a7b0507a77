"""The record's needs assessment is a response to the published instrument, and responses families fill
in against that instrument read back into the record."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from fhirbridge.assessment import ASSESSMENT_URL, assessment_questionnaire, validate_response
from fhirbridge.demo import demo_bundles
from fhirbridge.domain import Record
from fhirbridge.domain.assessment import NeedsAssessment
from fhirbridge.mappers import record_from_resources, record_to_resources
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers.assessment import needs_assessment_from_fhir, needs_assessment_to_fhir
from fhirbridge.mappers.transition import is_readiness_response
from tests.assessment.builders import CS, MAYA, code, maya_response, response_to
from tests.domain.strategies import records

ANSWERS_STATUS = "http://hl7.org/fhir/questionnaire-answers-status"
NEED_DOMAIN = "http://fhirbridge.org/fhir/CodeSystem/need-domain"


def written(assessment: NeedsAssessment) -> dict[str, Any]:
    return needs_assessment_to_fhir(assessment, Links(Record.model_validate({"child": {"id": "maya"}})))


def read(response: dict[str, Any]) -> NeedsAssessment:
    return needs_assessment_from_fhir(response, Reader())


def errors(response: dict[str, Any]) -> list[str]:
    issues = validate_response(assessment_questionnaire(), response)
    return [f"{issue.expression}: {issue.diagnostics}" for issue in issues if issue.severity in ("error", "fatal")]


def answers(response: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}

    def visit(items: list[dict[str, Any]]) -> None:
        for item in items:
            found.setdefault(item["linkId"], []).extend(item.get("answer", []))
            visit(item.get("item", []))

    visit(response.get("item", []))
    return found


def tags(response: dict[str, Any], system: str) -> list[str]:
    return [tag["code"] for tag in response.get("meta", {}).get("tag", []) if tag["system"] == system]


SUMMARY = NeedsAssessment(
    id="maya-assessment",
    status="completed",
    method="form-sent-home",
    domains_reviewed=["medical", "school", "insurance"],
    strengths=["Loves music", "A close extended family"],
    family_goals=["A power wheelchair that fits", "One respite weekend a month"],
    readiness="considering",
)


def within_the_instruments_limits(assessment: NeedsAssessment) -> bool:
    strengths = "\n".join(assessment.strengths)
    return all(3 <= len(goal) <= 500 for goal in assessment.family_goals) and (
        not strengths or 2 <= len(strengths) <= 2000
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_every_assessment_the_record_writes_is_a_valid_response_to_the_published_instrument(record: Record) -> None:
    by_id = {assessment.id: assessment for assessment in record.assessments}
    for resource in record_to_resources(record):
        if resource["resourceType"] == "QuestionnaireResponse":
            assert resource["questionnaire"] == ASSESSMENT_URL
            found = errors(resource)
            if within_the_instruments_limits(by_id[resource["id"]]):
                assert found == []
            else:
                # A goal or strengths too short or too long for the form are still written, as they are.
                assert found and all("length" in error for error in found)


def test_the_demo_assessments_are_valid_responses_to_the_published_instrument() -> None:
    responses = [
        entry["resource"]
        for bundle in demo_bundles()
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "QuestionnaireResponse"
        and not is_readiness_response(entry["resource"])  # a youth's transition readiness: no assessment
    ]
    assert responses
    for response in responses:
        assert response["questionnaire"] == ASSESSMENT_URL
        assert errors(response) == []


def test_a_completed_assessment_is_an_in_progress_response_that_keeps_the_assessment_status_as_a_tag() -> None:
    # A summary does not answer every required item, so the response cannot honestly be completed.
    response = written(SUMMARY)
    assert response["status"] == "in-progress"
    assert tags(response, ANSWERS_STATUS) == ["completed"]
    assert read(response).status == "completed"


def test_an_assessment_in_progress_or_stopped_is_a_response_with_that_status_and_no_status_tag() -> None:
    for status in ("in-progress", "stopped"):
        response = written(SUMMARY.model_copy(update={"status": status}))
        assert response["status"] == status
        assert tags(response, ANSWERS_STATUS) == []
        assert read(response).status == status


def test_the_summary_answers_the_instruments_own_items_with_its_options() -> None:
    response = written(SUMMARY)
    found = answers(response)
    assert found["assessment-mode"] == [
        {"valueCoding": {"system": CS, "code": "mode-form-at-home", "display": "Form sent home"}}
    ]
    assert found["child-strengths"] == [{"valueString": "Loves music\nA close extended family"}]
    assert found["goal-description"] == [
        {"valueString": "A power wheelchair that fits"},
        {"valueString": "One respite weekend a month"},
    ]
    assert [answer["valueCoding"]["code"] for answer in found["information-readiness"]] == ["readiness-some"]
    assert [item["linkId"] for item in response["item"]] == ["about", "strengths", "goals", "readiness"]
    assert [item["linkId"] for item in response["item"][2]["item"]] == ["family-goal", "family-goal"]


def test_what_the_instrument_has_no_item_for_travels_as_tags_and_reads_back() -> None:
    response = written(SUMMARY)
    assert tags(response, NEED_DOMAIN) == ["medical", "school", "insurance"]
    # "considering" answers "some" on the form; the tag keeps the record's finer value.
    assert tags(response, "http://fhirbridge.org/fhir/CodeSystem/information-readiness") == ["considering"]
    assert read(response) == SUMMARY
    ready = written(SUMMARY.model_copy(update={"readiness": "ready"}))
    assert tags(ready, "http://fhirbridge.org/fhir/CodeSystem/information-readiness") == []
    assert read(ready).readiness == "ready"


def test_a_response_a_family_filled_in_reads_into_the_records_summary() -> None:
    assessment = read(maya_response())
    assert assessment.status == "completed"
    assert assessment.method == "in-person"
    assert assessment.assessed_at is not None and assessment.assessed_at.isoformat() == "2026-03-02T15:00:00+00:00"
    assert assessment.domains_reviewed == [
        "medical",
        "behavioral",
        "dental",
        "development",
        "school",
        "social-support",
        "financial",
        "insurance",
        "family-functioning",
        "cultural",
        "language",
    ]
    assert assessment.strengths == [MAYA["child-strengths"], MAYA["family-strengths"]]
    assert assessment.family_goals == [
        "Maya gets a new power wheelchair that fits her",
        "Find a respite provider so Mom can rest one weekend a month",
    ]
    assert assessment.readiness == "ready"


def test_answers_in_a_disabled_branch_of_the_form_are_not_read() -> None:
    # Not at school: a stale school-plan answer left on the form says nothing about school.
    response = maya_response(**{"education-setting": code("setting-home")})
    assert "school" not in read(response).domains_reviewed
    assert "school" in read(maya_response()).domains_reviewed


def test_a_partial_form_reads_only_the_domains_it_answers() -> None:
    response = response_to(
        assessment_questionnaire(),
        {"assessment-mode": code("mode-phone"), "dental-home": True, "information-readiness": code("readiness-all")},
        status="in-progress",
    )
    assessment = read(response)
    assert (assessment.status, assessment.method, assessment.readiness) == ("in-progress", "phone", "seeking")
    assert assessment.domains_reviewed == ["dental"]


def test_answers_the_record_has_no_place_for_are_reported_kept_and_written_back_unchanged() -> None:
    response = maya_response()
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "maya", "name": [{"text": "Maya Okafor"}]},
        {"resourceType": "RelatedPerson", "id": "maya-mother", "patient": {"reference": "Patient/maya"}},
        response,
    ]
    result = record_from_resources(resources)
    key = f"QuestionnaireResponse/{response['id']}"
    reported = {entry.path for entry in result.report if entry.resource == key}
    assert {"item", "status"} <= reported
    assert result.record.assessments[0].informant_id == "maya-mother"
    back = next(r for r in record_to_resources(result.record) if r["resourceType"] == "QuestionnaireResponse")
    assert back == response
    assert errors(back) == []


def test_who_answered_is_the_forms_respondent_relationship() -> None:
    record = Record.model_validate(
        {
            "child": {"id": "maya"},
            "family": [
                {"id": "ada", "relationship": "MTH"},
                {"id": "gran", "relationship": "GRMTH"},
                {"id": "aunt", "relationship": "AUNT"},
                {"id": "guardian", "roles": ["legal-guardian"]},
                {"id": "someone"},
            ],
        }
    )
    links = Links(record)
    expected = {
        "ada": ["mother"],
        "gran": ["grandparent"],
        "aunt": ["other-relationship"],
        "guardian": ["legal-guardian"],
        "maya": ["youth-self"],
        "someone": [],
    }
    for informant, relationship in expected.items():
        response = needs_assessment_to_fhir(SUMMARY.model_copy(update={"informant_id": informant}), links)
        given = answers(response).get("respondent-relationship", [])
        assert [answer["valueCoding"]["code"] for answer in given] == relationship
        assert errors(response) == []
