"""The FHIR client's HTTP behaviour, against canned answers (`responses`): paging, retries, errors, headers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, assert_type

import pytest
import responses
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.patient import Patient
from responses import matchers

from fhirbridge.client import (
    FhirClient,
    FhirClientError,
    InvalidResource,
    ResourceGone,
    ResourceNotFound,
    RetryPolicy,
    ServerError,
    TransportError,
    Unauthorized,
    VersionConflict,
)
from tests.factories import care_plan

BASE = "https://fhir.example.org/r4"
NO_WAIT = RetryPolicy(total=3, backoff_factor=0)


def outcome(text: str, code: str = "invalid") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def served_plan(version: str = "1") -> dict[str, Any]:
    """plan-1 as the canned server holds it, at ``version``."""
    return care_plan("plan-1", "child-1", meta={"versionId": version, "lastUpdated": "2026-03-01T10:00:00.250Z"})


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
        "link": [{"relation": "self", "url": f"{BASE}/Goal"}],
    }
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


@pytest.fixture
def fhir() -> Iterator[FhirClient]:
    with FhirClient(BASE, retry=NO_WAIT, timeout=2) as client:
        yield client


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


# -- reads and the typed overloads --------------------------------------------------------------------


def test_read_returns_a_dict_keeping_decimal_text(fhir: FhirClient, http: responses.RequestsMock) -> None:
    body = (
        b'{"resourceType":"Observation","id":"w","status":"final","code":{"text":"weight"},'
        b'"valueQuantity":{"value":12.50}}'
    )
    http.get(f"{BASE}/Observation/w", body=body, content_type="application/fhir+json")
    observation = fhir.read("Observation", "w")
    assert_type(observation, dict[str, Any])
    assert observation["valueQuantity"]["value"] == Decimal("12.5")
    assert str(observation["valueQuantity"]["value"].source) == "12.50"
    assert http.calls[0].request.headers["Accept"] == "application/fhir+json"


def test_read_with_a_model_class_returns_that_model(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/CarePlan/plan-1", json=served_plan())
    plan = fhir.read(CarePlan, "plan-1")
    assert_type(plan, CarePlan)
    assert isinstance(plan, CarePlan)
    assert plan.subject.reference == "Patient/child-1"


def test_read_refuses_a_resource_of_another_type(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Patient/plan-1", json=served_plan())
    with pytest.raises(FhirClientError, match="expected a Patient"):
        fhir.read(Patient, "plan-1")


def test_vread_asks_for_the_version(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/CarePlan/plan-1/_history/2", json=served_plan(version="2"))
    assert fhir.vread("CarePlan", "plan-1", 2)["meta"]["versionId"] == "2"


def test_capabilities_reads_metadata(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})
    assert fhir.capabilities()["fhirVersion"] == "4.0.1"


# -- paging -------------------------------------------------------------------------------------------


def test_search_follows_next_links_across_pages(fhir: FhirClient, http: responses.RequestsMock) -> None:
    goals = [{"resourceType": "Goal", "id": f"g{n}"} for n in range(5)]
    http.get(
        f"{BASE}/Goal",
        json=searchset(goals[:2], f"{BASE}/Goal?patient=Patient%2Fc&_offset=2"),
        match=[matchers.query_param_matcher({"patient": "Patient/c"})],
    )
    http.get(
        f"{BASE}/Goal",
        json=searchset(goals[2:4], "Goal?patient=Patient%2Fc&_offset=4"),  # a relative next link
        match=[matchers.query_param_matcher({"patient": "Patient/c", "_offset": "2"})],
    )
    http.get(
        f"{BASE}/Goal",
        json=searchset(goals[4:]),
        match=[matchers.query_param_matcher({"patient": "Patient/c", "_offset": "4"})],
    )
    assert [goal["id"] for goal in fhir.search("Goal", {"patient": "Patient/c"})] == ["g0", "g1", "g2", "g3", "g4"]


def test_search_leaves_out_included_resources_and_outcomes(fhir: FhirClient, http: responses.RequestsMock) -> None:
    bundle = searchset([served_plan()])
    bundle["entry"] += [
        {"resource": {"resourceType": "Patient", "id": "child-1"}, "search": {"mode": "include"}},
        {"resource": outcome("_sort ignored", "informational"), "search": {"mode": "outcome"}},
    ]
    http.get(f"{BASE}/CarePlan", json=bundle)
    plans = list(fhir.search(CarePlan, {"_include": "CarePlan:subject"}))
    assert [type(plan) for plan in plans] == [CarePlan]


def test_search_refuses_a_next_link_to_another_server(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Goal", json=searchset([], "https://elsewhere.example.com/Goal?page=2"))
    with (
        FhirClient(BASE, token="secret", retry=NO_WAIT) as fhir,
        pytest.raises(FhirClientError, match="another server"),
    ):
        list(fhir.search("Goal"))


def test_search_stops_on_a_next_link_loop(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Goal", json=searchset([], f"{BASE}/Goal?page=2"))
    with pytest.raises(FhirClientError, match="loop"):
        list(fhir.search("Goal"))


def test_history_pages_through_entries_since_a_moment(fhir: FhirClient, http: responses.RequestsMock) -> None:
    entry = {"request": {"method": "DELETE", "url": "CarePlan/plan-1"}, "response": {"status": "204"}}
    page_two = {"resourceType": "Bundle", "type": "history", "entry": [entry]}
    page_one = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [{"resource": served_plan(), "request": {"method": "POST", "url": "CarePlan"}}],
        "link": [{"relation": "next", "url": f"{BASE}/CarePlan/plan-1/_history?_offset=1"}],
    }
    http.get(
        f"{BASE}/CarePlan/plan-1/_history",
        json=page_one,
        match=[matchers.query_param_matcher({"_since": "2026-03-01T08:00:00Z"})],
    )
    http.get(f"{BASE}/CarePlan/plan-1/_history", json=page_two, match=[matchers.query_param_matcher({"_offset": "1"})])
    since = datetime(2026, 3, 1, 8, tzinfo=UTC)
    methods = [entry["request"]["method"] for entry in fhir.history("CarePlan", "plan-1", since=since)]
    assert methods == ["POST", "DELETE"]


# -- writes -------------------------------------------------------------------------------------------


def test_create_posts_exact_json_and_asks_for_the_stored_resource(
    fhir: FhirClient, http: responses.RequestsMock
) -> None:
    stored = {**served_plan(), "id": "new"}
    http.post(f"{BASE}/CarePlan", json=stored, status=201, headers={"Location": f"{BASE}/CarePlan/new/_history/1"})
    sent = served_plan()
    del sent["id"]
    assert fhir.create(sent)["id"] == "new"
    request = http.calls[0].request
    assert request.headers["Content-Type"].startswith("application/fhir+json")
    assert request.headers["Prefer"] == "return=representation"
    assert b'"lastUpdated":"2026-03-01T10:00:00.250Z"' in request.body


def test_create_with_if_none_exist(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/Patient", json={"resourceType": "Patient", "id": "p"}, status=200)
    fhir.create({"resourceType": "Patient"}, if_none_exist={"identifier": "urn:mrn|123"})
    assert http.calls[0].request.headers["If-None-Exist"] == "identifier=urn%3Amrn%7C123"


def test_create_of_a_model_returns_the_model(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/Patient", json={"resourceType": "Patient", "id": "p", "gender": "female"}, status=201)
    created = fhir.create(Patient(gender="female"))
    assert isinstance(created, Patient)
    assert created.id == "p"


def test_write_without_a_body_reads_the_location(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.put(f"{BASE}/CarePlan/plan-1", status=200, headers={"Location": "CarePlan/plan-1/_history/2"})
    http.get(f"{BASE}/CarePlan/plan-1/_history/2", json=served_plan(version="2"))
    assert fhir.update(served_plan())["meta"]["versionId"] == "2"


def test_update_sends_if_match_as_a_weak_etag(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.put(
        f"{BASE}/CarePlan/plan-1", json=served_plan(version="4"), match=[matchers.header_matcher({"If-Match": 'W/"3"'})]
    )
    assert fhir.update(served_plan(version="3"), if_match=3)["meta"]["versionId"] == "4"


def test_update_if_match_mismatch_is_a_version_conflict(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.put(f"{BASE}/CarePlan/plan-1", json=outcome("current version is 5", "conflict"), status=412)
    with pytest.raises(VersionConflict) as caught:
        fhir.update(served_plan(), if_match='W/"3"')
    assert caught.value.status == 412
    assert caught.value.diagnostics == ["current version is 5"]
    assert "current version is 5" in str(caught.value)


def test_update_needs_an_id(fhir: FhirClient) -> None:
    with pytest.raises(ValueError, match="id"):
        fhir.update({"resourceType": "CarePlan", "status": "active"})


def test_conditional_update_puts_to_the_type_with_criteria(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.put(
        f"{BASE}/Goal",
        json={"resourceType": "Goal", "id": "g"},
        status=201,
        match=[matchers.query_param_matcher({"identifier": "https://clinic.example/goals|G-7"})],
    )
    fhir.conditional_update("Goal", {"identifier": "https://clinic.example/goals|G-7"}, {"resourceType": "Goal"})
    assert http.calls[0].request.method == "PUT"


def test_delete_with_if_match(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.delete(f"{BASE}/Task/t1", status=204, match=[matchers.header_matcher({"If-Match": 'W/"2"'})])
    fhir.delete("Task", "t1", if_match="2")


def test_transaction_posts_the_bundle_to_the_base(fhir: FhirClient, http: responses.RequestsMock) -> None:
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response": {"status": "201"}}]}
    http.post(BASE, json=answer)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert fhir.transaction(bundle)["type"] == "transaction-response"
    assert json.loads(http.calls[0].request.body)["type"] == "transaction"
    with pytest.raises(ValueError):
        fhir.transaction({"resourceType": "Bundle", "type": "collection"})


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidResource),
        (401, Unauthorized),
        (403, Unauthorized),
        (404, ResourceNotFound),
        (405, FhirClientError),
        (409, VersionConflict),
        (410, ResourceGone),
        (412, VersionConflict),
        (422, InvalidResource),
        (500, ServerError),
    ],
)
def test_each_status_raises_its_error_with_the_outcome(
    fhir: FhirClient, http: responses.RequestsMock, status: int, error: type[FhirClientError]
) -> None:
    http.get(f"{BASE}/Patient/p", json=outcome(f"status {status}"), status=status)
    with pytest.raises(error) as caught:
        fhir.read("Patient", "p")
    assert caught.value.status == status
    assert caught.value.outcome == outcome(f"status {status}")
    assert caught.value.url == f"{BASE}/Patient/p"


def test_an_error_page_that_is_not_fhir_still_raises_by_status(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Patient/p", body="<html>Bad gateway</html>", status=501, content_type="text/html")
    with pytest.raises(ServerError) as caught:
        fhir.read("Patient", "p")
    assert caught.value.outcome is None


def test_a_body_that_is_not_json_is_a_client_error(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Patient/p", body="<Patient/>", content_type="application/fhir+xml")
    with pytest.raises(FhirClientError, match="not FHIR JSON") as caught:
        fhir.read("Patient", "p")
    assert caught.value.__cause__ is not None


def test_unreachable_server_is_a_transport_error_from_requests() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = FhirClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(total=1, backoff_factor=0))
    with unreachable as fhir, pytest.raises(TransportError) as caught:
        fhir.read("Patient", "p")
    assert caught.value.status is None
    assert caught.value.__cause__ is not None


# -- retries ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_idempotent_reads_are_retried_on_transient_answers(
    fhir: FhirClient, http: responses.RequestsMock, status: int
) -> None:
    http.get(f"{BASE}/Patient/p", json=outcome("busy"), status=status)
    http.get(f"{BASE}/Patient/p", json={"resourceType": "Patient", "id": "p"})
    assert fhir.read("Patient", "p")["id"] == "p"
    assert len(http.calls) == 2


def test_retries_give_up_with_the_last_answer(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Patient/p", json=outcome("still down"), status=503)
    with pytest.raises(ServerError) as caught:
        fhir.read("Patient", "p")
    assert caught.value.diagnostics == ["still down"]
    assert len(http.calls) == 1 + NO_WAIT.total


def test_posts_are_not_retried(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/Patient", json=outcome("busy"), status=503)
    with pytest.raises(ServerError):
        fhir.create({"resourceType": "Patient"})
    assert len(http.calls) == 1


def test_puts_are_retried(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.put(f"{BASE}/CarePlan/plan-1", status=502)
    http.put(f"{BASE}/CarePlan/plan-1", json=served_plan(version="2"))
    assert fhir.update(served_plan())["meta"]["versionId"] == "2"
    assert len(http.calls) == 2


# -- authentication -----------------------------------------------------------------------------------


def test_bearer_token_is_sent_and_may_be_refreshed(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    tokens = iter(["first", "second"])
    with FhirClient(BASE, token=lambda: next(tokens), retry=NO_WAIT) as fhir:
        fhir.capabilities()
        fhir.capabilities()
    assert [call.request.headers["Authorization"] for call in http.calls] == ["Bearer first", "Bearer second"]


def test_one_session_serves_every_request(fhir: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    session = fhir.session
    fhir.capabilities()
    fhir.capabilities()
    assert fhir.session is session
    assert session.adapters["https://"].max_retries.total == NO_WAIT.total


def test_the_default_retry_policy_backs_off_and_spares_posts() -> None:
    retry = RetryPolicy().to_urllib3()
    assert retry.backoff_factor > 0
    assert retry.respect_retry_after_header
    assert "POST" not in (retry.allowed_methods or ())
    assert {"GET", "PUT", "DELETE"} <= set(retry.allowed_methods or ())
    assert set(retry.status_forcelist or ()) == {429, 502, 503, 504}
