"""The internal-format API and the FHIR API show the same child, whichever side made the change."""

from __future__ import annotations

import httpx

from fhirbridge.domain import ActionStep, Child, FamilyMember, Goal, Record, record_to_json


def record() -> Record:
    return Record(
        child=Child(id="child-1", given_names=["Ana"], family_name="Ruiz"),
        family=[FamilyMember(id="mom", given_names=["Lucia"], family_name="Ruiz", relationship="MTH")],
        goals=[Goal(id="g1", description="Ana sits without support", expressed_by_id="mom")],
        action_steps=[ActionStep(id="s1", description="Book physical therapy", responsible_id="mom", goal_id="g1")],
    )


def write(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.put("/coordination/children/child-1", content=body, headers={"Content-Type": "application/json"})


def test_a_record_written_internally_is_readable_over_fhir(client: httpx.Client) -> None:
    response = write(client, record_to_json(record()))
    assert response.status_code == 200, response.text
    assert response.json()["goals"][0]["description"] == "Ana sits without support"
    assert client.get("/Patient/child-1").json()["name"][0]["family"] == "Ruiz"
    goals = client.get("/Goal", params={"patient": "child-1"}).json()
    assert [e["resource"]["description"]["text"] for e in goals["entry"]] == ["Ana sits without support"]


def test_writing_the_same_record_twice_updates_rather_than_duplicates(client: httpx.Client) -> None:
    assert write(client, record_to_json(record())).status_code == 200
    assert write(client, record_to_json(record())).status_code == 200
    assert client.get("/Goal", params={"patient": "child-1", "_total": "accurate"}).json()["total"] == 1


def test_a_change_made_over_fhir_shows_in_the_record(client: httpx.Client) -> None:
    write(client, record_to_json(record()))
    goal_id = client.get("/Goal", params={"patient": "child-1"}).json()["entry"][0]["resource"]["id"]
    goal = client.get(f"/Goal/{goal_id}").json()
    goal["description"]["text"] = "Ana sits for a minute without support"
    assert client.put(f"/Goal/{goal_id}", json=goal).status_code == 200
    goals = client.get("/coordination/children/child-1/goals").json()
    assert goals[0]["description"] == "Ana sits for a minute without support"


def test_parts_can_be_replaced(client: httpx.Client) -> None:
    write(client, record_to_json(record()))
    goals = client.get("/coordination/children/child-1/goals").json()
    goals[0]["status"] = "completed"
    updated = client.put("/coordination/children/child-1/goals", json=goals)
    assert updated.status_code == 200, updated.text
    assert updated.json()[0]["status"] == "completed"
    assert client.get("/coordination/children/child-1/nonsense").status_code == 404


def test_rule_violations_are_an_outcome_naming_the_field(client: httpx.Client) -> None:
    bad = record()
    bad.action_steps[0].responsible_id = None
    response = write(client, record_to_json(bad))
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["action_steps[0].responsible_id"]
    assert client.get("/Patient/child-1").status_code == 404


def test_the_record_schema_is_published_in_openapi(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert "Record" in schema["components"]["schemas"]
    assert "/coordination/children/{child_id}" in schema["paths"]
