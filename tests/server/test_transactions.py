"""Transaction and batch Bundles at the base URL: ordering, urn:uuid references, all-or-nothing."""

from __future__ import annotations

import base64
import json

import httpx

PATIENT_URN = "urn:uuid:6f1c7a64-0000-4000-8000-000000000001"
GOAL_URN = "urn:uuid:6f1c7a64-0000-4000-8000-000000000002"


def plan_bundle() -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": GOAL_URN,
                "resource": {
                    "resourceType": "Goal",
                    "lifecycleStatus": "active",
                    "description": {"text": "Attends school four days a week"},
                    "subject": {"reference": PATIENT_URN},
                },
                "request": {"method": "POST", "url": "Goal"},
            },
            {
                "fullUrl": PATIENT_URN,
                "resource": {"resourceType": "Patient", "name": [{"family": "Okafor", "given": ["Ada"]}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "CarePlan",
                    "id": "plan-1",
                    "status": "active",
                    "intent": "plan",
                    "subject": {"reference": PATIENT_URN},
                    "goal": [{"reference": GOAL_URN}],
                },
                "request": {"method": "PUT", "url": "CarePlan/plan-1"},
            },
        ],
    }


def post_bundle(client: httpx.Client, bundle: dict[str, object]) -> httpx.Response:
    return client.post("/", json=bundle, headers={"Content-Type": "application/fhir+json"})


def test_transaction_resolves_urn_uuid_references(client: httpx.Client) -> None:
    response = post_bundle(client, plan_bundle())
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [entry["response"]["status"] for entry in result["entry"]]
    assert statuses == ["201 Created", "201 Created", "201 Created"]
    goal_location, patient_location, plan_location = (entry["response"]["location"] for entry in result["entry"])
    assert plan_location == "CarePlan/plan-1/_history/1"
    patient_ref = patient_location.split("/_history")[0]
    goal_ref = goal_location.split("/_history")[0]
    plan = client.get("/CarePlan/plan-1").json()
    assert plan["subject"]["reference"] == patient_ref
    assert plan["goal"][0]["reference"] == goal_ref
    goal = client.get(f"/{goal_ref}").json()
    assert goal["subject"]["reference"] == patient_ref


def test_one_bad_entry_writes_nothing(client: httpx.Client) -> None:
    bundle = plan_bundle()
    del bundle["entry"][2]["resource"]["intent"]  # type: ignore[index]
    response = post_bundle(client, bundle)
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[2].resource.intent"]
    assert client.get("/Patient/_history").json()["total"] == 0
    assert client.get("/CarePlan/plan-1").status_code == 404


def test_a_failing_write_late_in_the_transaction_rolls_back_earlier_ones(client: httpx.Client) -> None:
    client.put("/Patient/p", json={"resourceType": "Patient", "id": "p"})
    client.put(
        "/Goal/g1",
        json={
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "active",
            "description": {"text": "x"},
            "subject": {"reference": "Patient/p"},
        },
    )
    bundle = plan_bundle()
    bundle["entry"].append(  # type: ignore[attr-defined]
        {
            "resource": {
                "resourceType": "Goal",
                "id": "g1",
                "lifecycleStatus": "completed",
                "description": {"text": "x"},
                "subject": {"reference": "Patient/p"},
            },
            "request": {"method": "PUT", "url": "Goal/g1", "ifMatch": 'W/"7"'},
        }
    )
    response = post_bundle(client, bundle)
    assert response.status_code == 412
    assert "Bundle.entry[3]" in response.json()["issue"][0]["diagnostics"]
    assert client.get("/Patient/_history").json()["total"] == 1  # Patient/p, stored before
    assert client.get("/Goal/g1").json()["meta"]["versionId"] == "1"


def test_unresolvable_urn_reference_fails(client: httpx.Client) -> None:
    bundle = plan_bundle()
    bundle["entry"][2]["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-4000-8000-00000000dead"  # type: ignore[index]
    response = post_bundle(client, bundle)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"][0].startswith("Bundle.entry[2]")


def test_delete_patch_and_read_entries(client: httpx.Client) -> None:
    client.put("/Patient/p1", json={"resourceType": "Patient", "id": "p1", "gender": "female"})
    client.put("/Patient/p2", json={"resourceType": "Patient", "id": "p2"})
    patch = base64.b64encode(json.dumps([{"op": "replace", "path": "/gender", "value": "other"}]).encode()).decode()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "GET", "url": "Patient/p1"}},
            {
                "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch},
                "request": {"method": "PATCH", "url": "Patient/p1"},
            },
            {"request": {"method": "DELETE", "url": "Patient/p2"}},
        ],
    }
    response = post_bundle(client, bundle)
    assert response.status_code == 200, response.text
    read, patched, deleted = response.json()["entry"]
    # GETs run after the writes, so the read sees the patched version.
    assert read["resource"]["gender"] == "other"
    assert patched["response"]["status"] == "200 OK"
    assert deleted["response"]["status"] == "204 No Content"
    assert client.get("/Patient/p2").status_code == 410


def test_the_same_resource_twice_is_refused(client: httpx.Client) -> None:
    entry = {"resource": {"resourceType": "Patient", "id": "p1"}, "request": {"method": "PUT", "url": "Patient/p1"}}
    response = post_bundle(client, {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]})
    assert response.status_code == 400


def test_batch_reports_each_entry(client: httpx.Client) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1"}, "request": {"method": "PUT", "url": "Patient/p1"}},
            {
                "resource": {"resourceType": "Patient", "birthDate": "soon"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/missing"}},
        ],
    }
    response = post_bundle(client, bundle)
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert response.json()["type"] == "batch-response"
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "422"
    assert entries[1]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[1].resource.birthDate"]
    assert entries[2]["response"]["status"] == "404"
    assert client.get("/Patient/p1").status_code == 200


def test_entry_limit_and_wrong_bundle_type(client: httpx.Client) -> None:
    assert post_bundle(client, {"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert post_bundle(client, {"resourceType": "Patient"}).status_code == 400
    many = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient/x"}}] * 1001,
    }
    assert post_bundle(client, many).status_code == 413
