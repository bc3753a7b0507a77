"""An assessment answered over the API yields the extracted resources, the complexity level and the
next review date; a screening yields only whether the full assessment is needed; bad responses get
OperationOutcomes naming the item; fhirbridge's own RiskAssessment reads back into the record as is."""

from __future__ import annotations

import httpx

from fhirbridge.assessment import (
    ASSESSMENT_URL,
    COMPLEXITY_RISK_CODE,
    assessment_questionnaire,
)
from tests.assessment.builders import answered, register_maya, screened


def test_answering_the_assessment_yields_findings_level_and_review_date(client: httpx.Client) -> None:
    register_maya(client, {"resourceType": "Patient", "id": "maya", "name": [{"text": "Maya Okafor"}]})
    stored = client.post("/QuestionnaireResponse", json=answered())
    assert stored.status_code == 201, stored.text
    result = client.post(f"/QuestionnaireResponse/{stored.json()['id']}/$assess")
    assert result.status_code == 200, result.text
    parameters = {p["name"]: p for p in result.json()["parameter"]}
    assert parameters["extracted"]["resource"]["type"] == "transaction-response"
    risk = parameters["complexity"]["resource"]
    assert risk["resourceType"] == "RiskAssessment"
    assert risk["basis"][0]["reference"] == f"QuestionnaireResponse/{stored.json()['id']}"
    assert parameters["nextReviewDate"]["valueDate"]
    observations = client.get("/Observation", params={"patient": "maya", "_total": "accurate"}).json()
    assert observations["total"] > 0
    goals = client.get("/Goal", params={"patient": "maya", "lifecycle-status": "proposed"}).json()
    assert goals.get("entry")
    assert client.get("/RiskAssessment", params={"patient": "maya"}).json()["entry"]


def test_extract_without_commit_returns_a_transaction(client: httpx.Client) -> None:
    response = client.post("/QuestionnaireResponse/$extract", json=answered())
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "transaction"
    assert client.get("/Observation").json().get("entry") is None


def test_a_bad_response_names_the_item(client: httpx.Client) -> None:
    bad = answered()
    bad["item"] = [{"linkId": "no-such-item", "answer": [{"valueString": "x"}]}]
    response = client.post("/QuestionnaireResponse/$extract", json=bad)
    assert response.status_code == 422
    issues = response.json()["issue"]
    assert any("no-such-item" in issue["diagnostics"] for issue in issues)
    assert all(issue["expression"][0].startswith("QuestionnaireResponse") for issue in issues if "expression" in issue)


def test_populate_prefills_from_the_record(client: httpx.Client) -> None:
    questionnaire = assessment_questionnaire()
    client.put(f"/Questionnaire/{questionnaire['id']}", json=questionnaire)
    client.put(
        "/Patient/maya",
        json={"resourceType": "Patient", "id": "maya", "name": [{"text": "Maya Okafor"}], "birthDate": "2017-05-14"},
    )
    client.put(
        "/Condition/cp",
        json={
            "resourceType": "Condition",
            "id": "cp",
            "code": {"text": "Cerebral palsy"},
            "subject": {"reference": "Patient/maya"},
        },
    )
    prefilled = client.get(f"/Questionnaire/{questionnaire['id']}/$populate", params={"subject": "Patient/maya"})
    assert prefilled.status_code == 200, prefilled.text
    text = prefilled.text
    assert "Maya Okafor" in text and "Cerebral palsy" in text and "2017-05-14" in text


def test_worklist_lists_overdue_reviews(client: httpx.Client) -> None:
    register_maya(client, {"resourceType": "Patient", "id": "maya"})
    stored = client.post("/QuestionnaireResponse", json=answered())
    client.post(f"/QuestionnaireResponse/{stored.json()['id']}/$assess")
    plan = {
        "resourceType": "CarePlan",
        "id": "plan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/maya"},
        "created": "2020-01-01",
    }
    client.put("/CarePlan/plan", json=plan)
    worklist = client.get("/CarePlan/$overdue-reviews").json()
    subjects = [
        p["valueReference"]["reference"]
        for e in worklist["entry"]
        for p in e["resource"]["parameter"]
        if p["name"] == "subject"
    ]
    assert subjects == ["Patient/maya"]


def parameters_of(result: httpx.Response) -> dict[str, list[dict[str, object]]]:
    assert result.status_code == 200, result.text
    found: dict[str, list[dict[str, object]]] = {}
    for parameter in result.json()["parameter"]:
        found.setdefault(parameter["name"], []).append(parameter)
    return found


def test_assess_on_a_screening_answers_whether_the_full_assessment_is_needed(client: httpx.Client) -> None:
    register_maya(client, {"resourceType": "Patient", "id": "maya"})
    positive = screened(
        screen_medication=True,
        screen_medication_condition=True,
        screen_medication_duration=True,
        screen_therapy=True,
        screen_therapy_condition=True,
        screen_therapy_duration=True,
    )
    stored = client.post("/QuestionnaireResponse", json=positive)
    assert stored.status_code == 201, stored.text
    decision = parameters_of(client.post(f"/QuestionnaireResponse/{stored.json()['id']}/$assess"))
    assert decision["needsFullAssessment"] == [{"name": "needsFullAssessment", "valueBoolean": True}]
    assert [p["valueCode"] for p in decision["criterionMet"]] == ["medication", "therapy"]
    assert decision["complete"][0]["valueBoolean"] is True
    assert decision["assessment"][0]["valueCanonical"] == ASSESSMENT_URL
    outcome = decision["outcome"][0]["resource"]
    assert "sets no complexity level" in outcome["issue"][0]["diagnostics"]  # type: ignore[index]
    # A screening is not an assessment: no level, no extracted findings.
    assert "complexity" not in decision and "extracted" not in decision
    assert client.get("/RiskAssessment").json().get("entry") is None
    assert client.get("/Observation").json().get("entry") is None

    negative = client.post("/QuestionnaireResponse", json=screened())
    decision = parameters_of(client.post(f"/QuestionnaireResponse/{negative.json()['id']}/$assess"))
    assert decision["needsFullAssessment"][0]["valueBoolean"] is False
    assert "criterionMet" not in decision and "assessment" not in decision


def test_assess_refuses_a_response_to_another_questionnaire(client: httpx.Client) -> None:
    questionnaire = {
        "resourceType": "Questionnaire",
        "url": "http://example.org/fhir/Questionnaire/sleep-diary",
        "status": "active",
        "item": [{"linkId": "hours", "type": "integer", "text": "Hours slept"}],
    }
    assert client.post("/Questionnaire", json=questionnaire).status_code == 201
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire["url"],
        "status": "completed",
        "authored": "2026-03-02T15:00:00Z",
        "item": [{"linkId": "hours", "answer": [{"valueInteger": 9}]}],
    }
    stored = client.post("/QuestionnaireResponse", json=response)
    refused = client.post(f"/QuestionnaireResponse/{stored.json()['id']}/$assess")
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["expression"] == ["QuestionnaireResponse.questionnaire"]
    assert client.get("/RiskAssessment").json().get("entry") is None


def register_maya_and_team(client: httpx.Client) -> None:
    """Maya, named, with her mother and the coordinator on her care team (as the record needs them)."""
    register_maya(client, {"resourceType": "Patient", "id": "maya", "name": [{"given": ["Maya"], "family": "Okafor"}]})
    team = {
        "resourceType": "CareTeam",
        "id": "maya-team",
        "status": "active",
        "subject": {"reference": "Patient/maya"},
        "participant": [
            {"member": {"reference": "Practitioner/coordinator-lee"}},
            {"member": {"reference": "RelatedPerson/maya-mother"}},
        ],
    }
    assert client.put("/CareTeam/maya-team", json=team).status_code == 201


def test_the_record_does_not_list_a_screening_among_assessments(client: httpx.Client) -> None:
    register_maya_and_team(client)
    screening = client.post("/QuestionnaireResponse", json=screened(screen_family_request=True)).json()
    assessment = client.post("/QuestionnaireResponse", json=answered()).json()
    record = client.get("/coordination/children/maya")
    assert record.status_code == 200, record.text
    listed = [entry.get("fhir_id") or entry["id"] for entry in record.json()["assessments"]]
    assert listed == [assessment["id"]]
    assert screening["id"] not in listed


def test_the_complexity_assess_writes_reads_back_into_the_record_with_no_report_lines(client: httpx.Client) -> None:
    register_maya_and_team(client)
    stored = client.post("/QuestionnaireResponse", json=answered())
    result = parameters_of(client.post(f"/QuestionnaireResponse/{stored.json()['id']}/$assess"))
    risk = result["complexity"][0]["resource"]
    assert risk["code"]["coding"] == [COMPLEXITY_RISK_CODE]  # type: ignore[index]
    report = client.get("/coordination/children/maya/report")
    assert report.status_code == 200, report.text
    about_it = [line for line in report.json() if line["resource"] == f"RiskAssessment/{risk['id']}"]  # type: ignore[index]
    assert about_it == []
    (level,) = client.get("/coordination/children/maya/complexity").json()
    assert (level["level"], level["basis_assessment_id"]) == ("high", stored.json()["id"])
    assert level["rationale"].startswith("Score ")
