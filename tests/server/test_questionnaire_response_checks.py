"""A QuestionnaireResponse is checked against its Questionnaire when it is written (POST, PUT, PATCH,
transaction entries) and by ``$validate``: a finished response in full, one in progress for its structure
only. Each problem names the item: ``expression`` the path to it, ``diagnostics`` its linkId."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.assessment.builders import answered, register_maya

CS = "http://fhirbridge.org/fhir/CodeSystem/care-coordination-assessment"
PARTNER_QUESTIONNAIRE = "http://example.org/fhir/Questionnaire/school-nurse-intake"


@pytest.fixture
def http(client: httpx.Client) -> httpx.Client:
    """A client of a server that knows Maya and the people her responses name."""
    register_maya(client, {"resourceType": "Patient", "id": "maya"})
    return client


def item(response: dict[str, Any], group: str, link_id: str | None = None) -> dict[str, Any]:
    """The response's item ``link_id`` inside top-level group ``group`` (or the group itself)."""
    found = next(entry for entry in response["item"] if entry["linkId"] == group)
    if link_id is None:
        return found  # type: ignore[no-any-return]
    return next(entry for entry in found["item"] if entry["linkId"] == link_id)  # type: ignore[no-any-return]


def unknown_link_id(response: dict[str, Any]) -> None:
    item(response, "development")["item"].append({"linkId": "favourite-colour", "answer": [{"valueString": "blue"}]})


def code_outside_the_options(response: dict[str, Any]) -> None:
    item(response, "about", "respondent-relationship")["answer"] = [
        {"valueCoding": {"system": CS, "code": "neighbour"}}
    ]


def answer_to_a_disabled_item(response: dict[str, Any]) -> None:
    # Maya has no behavioral concern, so the description of one is not asked.
    item(response, "behavioral")["item"].append(
        {"linkId": "behavioral-description", "answer": [{"valueString": "Tantrums"}]}
    )


def missing_required_item(response: dict[str, Any]) -> None:
    medical = item(response, "medical")
    medical["item"] = [entry for entry in medical["item"] if entry["linkId"] != "overall-health"]


def missing_required_group(response: dict[str, Any]) -> None:
    response["item"] = [entry for entry in response["item"] if entry["linkId"] != "strengths"]


def wrong_answer_type(response: dict[str, Any]) -> None:
    item(response, "medical", "hospitalizations-12m")["answer"] = [{"valueString": "two"}]


# (how the response is spoiled, the expression of the issue, the linkId its diagnostics name)
FINISHED_PROBLEMS = [
    pytest.param(unknown_link_id, "QuestionnaireResponse.item[4].item[5]", "favourite-colour", id="unknown-linkId"),
    pytest.param(
        code_outside_the_options,
        "QuestionnaireResponse.item[0].item[2].answer[0]",
        "respondent-relationship",
        id="code-outside-options",
    ),
    pytest.param(
        answer_to_a_disabled_item, "QuestionnaireResponse.item[2].item[1]", "behavioral-description", id="disabled"
    ),
    pytest.param(missing_required_item, "QuestionnaireResponse.item[1]", "overall-health", id="required-item"),
    pytest.param(missing_required_group, "QuestionnaireResponse", "strengths", id="required-group"),
    pytest.param(
        wrong_answer_type,
        "QuestionnaireResponse.item[1].item[3].answer[0]",
        "hospitalizations-12m",
        id="wrong-answer-type",
    ),
]


def spoiled(spoil: Any, status: str = "completed") -> dict[str, Any]:
    response = answered()
    response["status"] = status
    spoil(response)
    return response


def assert_names_the_item(refused: httpx.Response, expression: str, link_id: str) -> None:
    assert refused.status_code == 422, refused.text
    outcome = refused.json()
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [issue for issue in outcome["issue"] if issue["severity"] == "error"]
    assert any(issue.get("expression") == [expression] and link_id in issue["diagnostics"] for issue in errors), errors


def test_a_valid_completed_response_is_stored(http: httpx.Client) -> None:
    assert http.post("/QuestionnaireResponse", json=answered()).status_code == 201


@pytest.mark.parametrize(("spoil", "expression", "link_id"), FINISHED_PROBLEMS)
def test_a_completed_response_that_does_not_answer_its_questionnaire_is_refused(
    http: httpx.Client, spoil: Any, expression: str, link_id: str
) -> None:
    refused = http.post("/QuestionnaireResponse", json=spoiled(spoil))
    assert_names_the_item(refused, expression, link_id)
    assert http.get("/QuestionnaireResponse").json().get("entry") is None


def test_put_patch_and_transaction_entries_are_checked_too(http: httpx.Client) -> None:
    good = {**answered(), "id": "maya-needs"}
    assert http.put("/QuestionnaireResponse/maya-needs", json=good).status_code == 201

    bad = {**spoiled(code_outside_the_options), "id": "maya-needs"}
    expression = "QuestionnaireResponse.item[0].item[2].answer[0]"
    assert_names_the_item(
        http.put("/QuestionnaireResponse/maya-needs", json=bad), expression, "respondent-relationship"
    )

    patch = [{"op": "replace", "path": "/item/0/item/2/answer/0/valueCoding/code", "value": "neighbour"}]
    patched = http.patch(
        "/QuestionnaireResponse/maya-needs", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert_names_the_item(patched, expression, "respondent-relationship")

    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:3c7b9a52-0c1e-4b7e-9d43-1f0e8c1d2a11",
                "resource": spoiled(unknown_link_id),
                "request": {"method": "POST", "url": "QuestionnaireResponse"},
            }
        ],
    }
    # In a Bundle, the expression runs from the Bundle to the entry's item.
    assert_names_the_item(
        http.post("/", json=transaction), "Bundle.entry[0].resource.item[4].item[5]", "favourite-colour"
    )
    stored = http.get("/QuestionnaireResponse/maya-needs").json()
    assert stored["meta"]["versionId"] == "1"


def test_a_response_in_progress_is_checked_for_its_structure_only(http: httpx.Client) -> None:
    draft = answered()
    draft["status"] = "in-progress"
    for spoil in (missing_required_item, missing_required_group, answer_to_a_disabled_item, code_outside_the_options):
        spoil(draft)
    assert http.post("/QuestionnaireResponse", json=draft).status_code == 201

    for spoil, expression, link_id in (
        (unknown_link_id, "QuestionnaireResponse.item[4].item[5]", "favourite-colour"),
        (wrong_answer_type, "QuestionnaireResponse.item[1].item[3].answer[0]", "hospitalizations-12m"),
    ):
        refused = http.post("/QuestionnaireResponse", json=spoiled(spoil, status="in-progress"))
        assert_names_the_item(refused, expression, link_id)


def test_a_questionnaire_the_server_holds_is_checked_against(http: httpx.Client) -> None:
    questionnaire = {
        "resourceType": "Questionnaire",
        "url": PARTNER_QUESTIONNAIRE,
        "status": "active",
        "item": [
            {"linkId": "allergies", "type": "boolean", "text": "Any allergies?", "required": True},
            {
                "linkId": "allergy-list",
                "type": "string",
                "text": "Which?",
                "enableWhen": [{"question": "allergies", "operator": "=", "answerBoolean": True}],
            },
        ],
    }
    assert http.post("/Questionnaire", json=questionnaire).status_code == 201
    base = {"resourceType": "QuestionnaireResponse", "questionnaire": PARTNER_QUESTIONNAIRE, "status": "completed"}
    missing = http.post("/QuestionnaireResponse", json=base)
    assert_names_the_item(missing, "QuestionnaireResponse", "allergies")
    disabled = {
        **base,
        "item": [
            {"linkId": "allergies", "answer": [{"valueBoolean": False}]},
            {"linkId": "allergy-list", "answer": [{"valueString": "peanuts"}]},
        ],
    }
    assert_names_the_item(
        http.post("/QuestionnaireResponse", json=disabled), "QuestionnaireResponse.item[1]", "allergy-list"
    )
    answered_ok = {**base, "item": [{"linkId": "allergies", "answer": [{"valueBoolean": False}]}]}
    assert http.post("/QuestionnaireResponse", json=answered_ok).status_code == 201
    # $validate knows the Questionnaires the server holds too, and says what a write would.
    validated = http.post("/QuestionnaireResponse/$validate", json=disabled)
    assert validated.status_code == 200
    errors = [issue for issue in validated.json()["issue"] if issue["severity"] == "error"]
    assert [issue["expression"] for issue in errors] == [["QuestionnaireResponse.item[1]"]], errors
    assert all(
        issue["severity"] != "error"
        for issue in http.post("/QuestionnaireResponse/$validate", json=answered_ok).json()["issue"]
    )


def test_a_response_to_a_questionnaire_nobody_knows_is_stored_unchecked(http: httpx.Client) -> None:
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://elsewhere.example/Questionnaire/unknown",
        "status": "completed",
        "item": [{"linkId": "anything", "answer": [{"valueString": "at all"}]}],
    }
    assert http.post("/QuestionnaireResponse", json=response).status_code == 201


@pytest.mark.parametrize(("spoil", "expression", "link_id"), FINISHED_PROBLEMS)
def test_validate_names_the_item_as_a_write_would(
    http: httpx.Client, spoil: Any, expression: str, link_id: str
) -> None:
    # $validate reports a resource that fails as its result (200), never stores it (docs/validation.md).
    checked = http.post("/QuestionnaireResponse/$validate", json=spoiled(spoil))
    assert checked.status_code == 200, checked.text
    errors = [issue for issue in checked.json()["issue"] if issue["severity"] == "error"]
    assert any(issue.get("expression") == [expression] and link_id in issue["diagnostics"] for issue in errors), errors


def test_validate_checks_a_draft_for_its_structure_only(http: httpx.Client) -> None:
    draft = spoiled(missing_required_item, status="in-progress")
    answer_to_a_disabled_item(draft)
    issues = http.post("/QuestionnaireResponse/$validate", json=draft).json()["issue"]
    assert not [issue for issue in issues if issue["severity"] == "error"]
    assert any("behavioral-description" in issue["diagnostics"] for issue in issues if issue["severity"] == "warning")
    broken = copy.deepcopy(draft)
    unknown_link_id(broken)
    issues = http.post("/QuestionnaireResponse/$validate", json=broken).json()["issue"]
    assert [issue["expression"] for issue in issues if issue["severity"] == "error"] == [
        ["QuestionnaireResponse.item[4].item[5]"]
    ]
