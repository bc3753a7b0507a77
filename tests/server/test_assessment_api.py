"""An assessment answered over the API yields the extracted resources, the complexity level and the
next review date; bad responses get OperationOutcomes naming the item."""

from __future__ import annotations

import httpx

from fhirbridge.assessment import assessment_questionnaire
from tests.assessment.builders import MAYA, MAYA_GOALS, response_to


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
