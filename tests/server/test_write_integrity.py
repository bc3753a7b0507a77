"""Nothing forged, nothing lost, nothing invalid: what every write is refused for (engine/integrity.py).

Each rule over real HTTP on both backends: codes of required bindings, references (their type and
whether their target exists), narratives, moving a resource to another child's record, and duplicate
fullUrls in a Bundle.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.factories import Resource, care_plan, goal, organization, patient, task
from tests.security import records
from tests.security.conftest import CHILD, OTHER_CHILD, client_as, store, token_for

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def expressions(response: httpx.Response) -> list[str]:
    return [e for issue in response.json()["issue"] for e in issue.get("expression", [])]


def consent(id: str, child: str = "mia", **changes: Any) -> Resource:
    return {
        "resourceType": "Consent",
        "id": id,
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{child}"},
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes", "code": "hipaa-auth"}]
        },
        **changes,
    }


def without_id(resource: Resource) -> Resource:
    return {key: value for key, value in resource.items() if key != "id"}


def put(client: httpx.Client, resource: Resource) -> httpx.Response:
    return client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)


def stored(client: httpx.Client, resource: Resource) -> Resource:
    response = put(client, resource)
    assert response.status_code in (200, 201), response.text
    body: Resource = response.json()
    return body


def transaction(*entries: Resource) -> Resource:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post_entry(resource: Resource, full_url: str | None = None) -> Resource:
    entry: Resource = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put_entry(resource: Resource) -> Resource:
    return {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


def urn(n: int) -> str:
    return f"urn:uuid:0b6f2d4e-0000-4000-8000-{n:012d}"


@pytest.fixture
def mia(client: httpx.Client) -> httpx.Client:
    """A client of a store that holds the child Mia."""
    stored(client, patient("mia"))
    return client


# -- required bindings ----------------------------------------------------------------------------


BAD_CODES = [
    pytest.param(care_plan("plan", "mia", status="bogus"), "CarePlan.status", id="CarePlan.status"),
    pytest.param(goal("goal", "mia", status="bogus"), "Goal.lifecycleStatus", id="Goal.lifecycleStatus"),
    pytest.param(patient("sam", gender="x"), "Patient.gender", id="Patient.gender"),
    pytest.param(task("task", "mia", status="bogus"), "Task.status", id="Task.status"),
    pytest.param(consent("consent", status="bogus"), "Consent.status", id="Consent.status"),
]


@pytest.mark.parametrize(("resource", "element"), BAD_CODES)
def test_a_code_outside_its_required_value_set_is_refused(mia: httpx.Client, resource: Resource, element: str) -> None:
    created = mia.post(f"/{resource['resourceType']}", json=without_id(resource))
    assert created.status_code == 422, created.text
    assert expressions(created) == [element]
    assert created.json()["issue"][0]["code"] == "code-invalid"
    updated = put(mia, resource)
    assert updated.status_code == 422 and expressions(updated) == [element]
    assert mia.get(f"/{resource['resourceType']}", params={"_summary": "count"}).json()["total"] == (
        1 if resource["resourceType"] == "Patient" else 0
    )


@pytest.mark.parametrize(("resource", "element"), BAD_CODES)
def test_validate_reports_what_a_write_refuses(mia: httpx.Client, resource: Resource, element: str) -> None:
    outcome = mia.post(f"/{resource['resourceType']}/$validate", json=resource).json()
    errors = [issue for issue in outcome["issue"] if issue["severity"] == "error"]
    assert [issue["expression"] for issue in errors] == [[element]]


def test_codes_of_the_value_set_are_stored(mia: httpx.Client) -> None:
    for resource in (
        care_plan("plan", "mia", status="on-hold"),
        goal("goal", "mia", status="proposed"),
        task("task", "mia"),
    ):
        assert put(mia, resource).status_code == 201
    assert put(mia, patient("mia", gender="female")).status_code == 200
    assert put(mia, consent("consent", status="proposed")).status_code == 201


def test_a_codeable_concept_with_a_required_binding_needs_a_code_of_its_value_set(mia: httpx.Client) -> None:
    clinical = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    condition = {
        "resourceType": "Condition",
        "id": "asthma",
        "code": {"text": "asthma"},
        "subject": {"reference": "Patient/mia"},
        "clinicalStatus": {"coding": [{"system": clinical, "code": "flaring"}]},
    }
    refused = put(mia, condition)
    assert refused.status_code == 422 and expressions(refused) == ["Condition.clinicalStatus"]
    condition["clinicalStatus"] = {"coding": [{"system": clinical, "code": "active"}]}
    assert put(mia, condition).status_code == 201


def test_a_binding_to_a_value_set_that_cannot_be_expanded_is_not_checked(mia: httpx.Client) -> None:
    # Attachment.contentType is bound (required) to all MIME types, which only a terminology server knows.
    document = {
        "resourceType": "DocumentReference",
        "id": "iep",
        "status": "current",
        "subject": {"reference": "Patient/mia"},
        "content": [{"attachment": {"contentType": "application/x-fhirbridge-made-up", "title": "IEP"}}],
    }
    assert put(mia, document).status_code == 201


def test_codes_in_xml_are_checked(mia: httpx.Client) -> None:
    body = b'<Patient xmlns="http://hl7.org/fhir"><id value="sam"/><gender value="x"/></Patient>'
    headers = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}
    response = mia.put("/Patient/sam", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert expressions(response) == ["Patient.gender"]
    assert mia.get("/Patient/sam").status_code == 404


def test_a_patch_that_sets_a_code_outside_the_value_set_is_refused(mia: httpx.Client) -> None:
    stored(mia, care_plan("plan", "mia"))
    patch = [{"op": "replace", "path": "/status", "value": "bogus"}]
    response = mia.patch("/CarePlan/plan", json=patch, headers=JSON_PATCH)
    assert response.status_code == 422, response.text
    assert expressions(response) == ["CarePlan.status"]
    assert mia.get("/CarePlan/plan").json()["status"] == "active"


def test_a_bundle_entry_with_a_code_outside_the_value_set_fails_the_transaction(client: httpx.Client) -> None:
    bundle = transaction(
        post_entry({"resourceType": "Patient"}, urn(1)),
        post_entry(goal("g", "mia", status="bogus", subject={"reference": urn(1)})),
    )
    response = client.post("/", json=bundle)
    assert response.status_code == 422, response.text
    assert expressions(response) == ["Bundle.entry[1].resource.lifecycleStatus"]
    assert client.get("/Patient", params={"_summary": "count"}).json()["total"] == 0


# -- references: the type their element allows -----------------------------------------------------


def test_a_reference_to_a_type_the_element_does_not_allow_is_refused(mia: httpx.Client) -> None:
    stored(mia, {"resourceType": "Practitioner", "id": "dr-ng"})
    response = put(mia, care_plan("plan", "mia", subject={"reference": "Practitioner/dr-ng"}))
    assert response.status_code == 422, response.text
    assert expressions(response) == ["CarePlan.subject"]
    assert "Practitioner" in response.json()["issue"][0]["diagnostics"]


def test_a_reference_to_no_resource_type_is_refused(mia: httpx.Client) -> None:
    response = put(mia, goal("goal", "mia", addresses=[{"reference": "Problem/1"}]))
    assert response.status_code == 422 and expressions(response) == ["Goal.addresses[0]"]


# -- references: their target exists ------------------------------------------------------------------


def test_a_reference_to_a_resource_this_server_does_not_hold_is_refused(mia: httpx.Client) -> None:
    response = put(mia, task("task", "no-such-child"))
    assert response.status_code == 422, response.text
    assert expressions(response) == ["Task.for"]
    assert response.json()["issue"][0]["code"] == "not-found"
    assert mia.get("/Task/task").status_code == 404


def test_a_reference_to_a_deleted_resource_is_refused(mia: httpx.Client) -> None:
    stored(mia, patient("gone"))
    assert mia.delete("/Patient/gone").status_code in (200, 204)
    response = put(mia, goal("goal", "gone"))
    assert response.status_code == 422 and expressions(response) == ["Goal.subject"]


def test_a_versioned_reference_names_a_version_the_server_holds(mia: httpx.Client) -> None:
    assert put(mia, goal("first", "mia")).status_code == 201
    ok = put(mia, task("task", "mia", focus={"reference": "Goal/first/_history/1"}))
    assert ok.status_code == 201, ok.text
    missing = put(mia, task("later", "mia", focus={"reference": "Goal/first/_history/9"}))
    assert missing.status_code == 422 and expressions(missing) == ["Task.focus"]


def test_a_patch_that_points_a_reference_nowhere_is_refused(mia: httpx.Client) -> None:
    stored(mia, task("task", "mia"))
    patch = [{"op": "add", "path": "/owner", "value": {"reference": "Practitioner/nobody"}}]
    response = mia.patch("/Task/task", json=patch, headers=JSON_PATCH)
    assert response.status_code == 422 and expressions(response) == ["Task.owner"]


def test_contained_urn_and_other_servers_references_are_not_looked_up(mia: httpx.Client) -> None:
    plan = care_plan(
        "plan",
        "mia",
        contained=[{"resourceType": "Practitioner", "id": "author"}],
        author={"reference": "#author"},
        careTeam=[{"reference": "https://ehr.example.org/fhir/CareTeam/42"}],
        basedOn=[{"reference": "urn:uuid:0b6f2d4e-0000-4000-8000-000000000099"}],
    )
    assert put(mia, plan).status_code == 201


def test_an_update_keeps_a_reference_whose_target_was_deleted_since(mia: httpx.Client) -> None:
    stored(mia, {"resourceType": "Practitioner", "id": "dr-old"})
    stored(mia, care_plan("plan", "mia", author={"reference": "Practitioner/dr-old"}))
    assert mia.delete("/Practitioner/dr-old").status_code in (200, 204)
    # Retiring the plan must not wait for a Practitioner nobody can bring back.
    assert (
        put(mia, care_plan("plan", "mia", status="revoked", author={"reference": "Practitioner/dr-old"})).status_code
        == 200
    )
    refused = put(mia, care_plan("plan", "mia", status="revoked", author={"reference": "Practitioner/dr-new"}))
    assert refused.status_code == 422 and expressions(refused) == ["CarePlan.author"]


def test_references_between_entries_of_a_transaction_hold_in_any_order(client: httpx.Client) -> None:
    # The CarePlan and its Task refer to each other, and the Goal (POSTed, so written first) to a
    # Patient PUT later in the same transaction: all resolve, whatever order the entries run in.
    bundle = transaction(
        post_entry(care_plan(None, "ivy", activity=[{"reference": {"reference": urn(2)}}]), urn(1)),
        post_entry(task(None, "ivy", basedOn=[{"reference": urn(1)}]), urn(2)),
        post_entry(goal(None, "ivy")),
        put_entry(patient("ivy")),
    )
    response = client.post("/", json=bundle)
    assert response.status_code == 200, response.text
    assert client.get("/Goal", params={"patient": "ivy"}).json()["total"] == 1


def test_a_conditional_reference_resolves_to_a_resource_written_before(mia: httpx.Client) -> None:
    bundle = transaction(put_entry(goal("goal", "mia", subject={"reference": "Patient?_id=mia"})))
    assert mia.post("/", json=bundle).status_code == 200


def test_a_transaction_entry_pointing_nowhere_fails_the_transaction(mia: httpx.Client) -> None:
    bundle = transaction(
        put_entry(goal("goal", "mia")), put_entry(task("task", "mia", focus={"reference": "Goal/not-here"}))
    )
    response = mia.post("/", json=bundle)
    assert response.status_code == 422, response.text
    assert expressions(response) == ["Bundle.entry[1].resource.focus"]
    assert mia.get("/Goal/goal").status_code == 404


def test_a_reference_to_a_resource_the_caller_may_not_see_is_accepted(secure_server: LiveServer) -> None:
    secure_server.reset()
    # Ben is another practice's child: the coordinator treating Ana cannot see his Condition, but a
    # reference to it is checked as the server's own integrity, not answered as a read would be.
    ben = {**records.practice_child(OTHER_CHILD), "managingOrganization": {"reference": "Organization/elsewhere"}}
    ben["generalPractitioner"] = [{"reference": "Practitioner/elsewhere"}]
    store(
        secure_server,
        organization(records.PRACTICE),
        {"resourceType": "Practitioner", "id": "coordinator-1"},
        records.practice_child(CHILD),
        ben,
        records.behavioral_condition("ben-autism", OTHER_CHILD),
    )
    with client_as(secure_server, token_for("care-coordinator", user=records.COORDINATOR)) as http:
        assert http.get("/Condition/ben-autism").status_code == 404
        hidden = http.post("/Goal", json=goal("x", CHILD, addresses=[{"reference": "Condition/ben-autism"}]))
        assert hidden.status_code == 201, hidden.text
        missing = http.post("/Goal", json=goal("x", CHILD, addresses=[{"reference": "Condition/ben-asthma"}]))
        assert missing.status_code == 422 and expressions(missing) == ["Goal.addresses[0]"]


@pytest.fixture(scope="module")
def migration_server(repository: SqlRepository) -> Iterator[LiveServer]:
    """A server loading records in any order: FHIRBRIDGE_CHECK_REFERENCES=false."""
    server = LiveServer(repository, Settings(auth_disabled=True, subscription_delivery=False, check_references=False))
    server.start()
    yield server
    server.stop()


def test_the_existence_check_can_be_turned_off_for_a_migration(migration_server: LiveServer) -> None:
    migration_server.reset()
    with httpx.Client(base_url=migration_server.url, timeout=30) as http:
        assert put(http, task("task", "loaded-later")).status_code == 201
        # The type of a reference and the codes are still checked.
        wrong_type = put(http, care_plan("plan", "mia", subject={"reference": "Task/task"}))
        assert wrong_type.status_code == 422 and expressions(wrong_type) == ["CarePlan.subject"]
        assert put(http, goal("goal", "loaded-later", status="bogus")).status_code == 422


# -- narratives ---------------------------------------------------------------------------------------


UNSAFE_NARRATIVES = [
    pytest.param(f"<div {XHTML}><script>alert(1)</script>Plan</div>", id="script"),
    pytest.param(f'<div {XHTML}><p onclick="alert(1)">Plan</p></div>', id="event-attribute"),
    pytest.param(f'<div {XHTML}><a href="javascript:alert(1)">Plan</a></div>', id="javascript-link"),
    pytest.param(f'<div {XHTML}><a href=" JavaScript:alert(1)">Plan</a></div>', id="javascript-link-disguised"),
    pytest.param(f'<div {XHTML}><img src="http://tracker.example.org/pixel.png"/>Plan</div>', id="external-image"),
    pytest.param(f'<div {XHTML}><p style="background:url(https://x.example.org/a.png)">Plan</p></div>', id="style"),
    pytest.param(f"<div {XHTML}><iframe>Plan</iframe></div>", id="iframe"),
    pytest.param(
        f'<div {XHTML} xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="https://x.example.org">Plan</a></div>',
        id="xlink",
    ),
    pytest.param(f"<div {XHTML}>   </div>", id="empty"),
    pytest.param("<div>Plan</div>", id="no-xhtml-namespace"),
]


@pytest.mark.parametrize("div", UNSAFE_NARRATIVES)
def test_a_narrative_against_r4s_xhtml_rules_is_refused(mia: httpx.Client, div: str) -> None:
    response = put(mia, care_plan("plan", "mia", text={"status": "generated", "div": div}))
    assert response.status_code == 422, response.text
    assert expressions(response) == ["CarePlan.text.div"]
    assert mia.get("/CarePlan/plan").status_code == 404


def test_a_narrative_with_entities_is_not_expanded_but_refused(mia: httpx.Client) -> None:
    div = f'<!DOCTYPE div [<!ENTITY a "aaaaaaaaaa">]><div {XHTML}>&a;&a;&a;</div>'
    response = put(mia, care_plan("plan", "mia", text={"status": "generated", "div": div}))
    assert response.status_code == 422 and expressions(response) == ["CarePlan.text.div"]


def test_a_plain_narrative_with_a_contained_image_and_links_is_stored(mia: httpx.Client) -> None:
    div = (
        f'<div {XHTML}><p class="plan" style="color: navy">Plan for <b>Mia</b></p>'
        '<img src="#chart" alt="growth chart"/><img src="Binary/chart"/>'
        '<a href="https://www.cdc.gov/growthcharts">growth charts</a> <a href="#top">top</a></div>'
    )
    assert put(mia, care_plan("plan", "mia", text={"status": "generated", "div": div})).status_code == 201


def test_narratives_in_xml_and_contained_resources_are_checked(mia: httpx.Client) -> None:
    body = (
        '<CarePlan xmlns="http://hl7.org/fhir"><id value="plan"/><text><status value="generated"/>'
        '<div xmlns="http://www.w3.org/1999/xhtml"><p onmouseover="steal()">Plan</p></div></text>'
        '<status value="active"/><intent value="plan"/><subject><reference value="Patient/mia"/></subject></CarePlan>'
    )
    headers = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}
    response = mia.put("/CarePlan/plan", content=body.encode(), headers=headers)
    assert response.status_code == 422 and expressions(response) == ["CarePlan.text.div"]
    contained = {
        "resourceType": "Practitioner",
        "id": "author",
        "text": {"status": "generated", "div": f"<div {XHTML}><script>x()</script>Dr</div>"},
    }
    response = put(mia, care_plan("plan", "mia", contained=[contained], author={"reference": "#author"}))
    assert response.status_code == 422 and expressions(response) == ["CarePlan.contained[0].text.div"]


# -- moving a resource to another child ---------------------------------------------------------------


@pytest.fixture
def two_children(mia: httpx.Client) -> httpx.Client:
    stored(mia, patient("leo"))
    return mia


def test_an_update_that_moves_a_resource_to_another_child_is_refused(two_children: httpx.Client) -> None:
    client = two_children
    stored(client, goal("goal", "mia"))
    response = put(client, goal("goal", "leo"))
    assert response.status_code == 409, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Goal.subject"]
    assert "entered-in-error" in issue["diagnostics"]
    assert client.get("/Goal/goal").json()["subject"] == {"reference": "Patient/mia"}


def test_a_patch_or_conditional_update_that_moves_a_resource_is_refused(two_children: httpx.Client) -> None:
    client = two_children
    stored(client, task("task", "mia", identifier=[{"system": "urn:example:tasks", "value": "t1"}]))
    patch = [{"op": "replace", "path": "/for/reference", "value": "Patient/leo"}]
    assert client.patch("/Task/task", json=patch, headers=JSON_PATCH).status_code == 409
    moved = task("task", "leo", identifier=[{"system": "urn:example:tasks", "value": "t1"}])
    response = client.put("/Task", params={"identifier": "urn:example:tasks|t1"}, json=moved)
    assert response.status_code == 409 and expressions(response) == ["Task.for"]
    bundle = transaction(put_entry(moved))
    assert client.post("/", json=bundle).status_code == 409


def test_an_update_that_stays_with_the_child_is_stored(two_children: httpx.Client) -> None:
    client = two_children
    stored(client, goal("goal", "mia"))
    assert put(client, goal("goal", "mia", status="completed")).status_code == 200
    # A resource about no child yet may be given one; a Patient's links to other records are no move.
    stored(client, {**task("loose", None), "for": {"display": "someone"}})
    assert put(client, task("loose", "leo")).status_code == 200
    linked = patient("mia", link=[{"other": {"reference": "Patient/leo"}, "type": "seealso"}])
    assert put(client, linked).status_code == 200


@pytest.fixture(scope="module")
def moving_server(repository: SqlRepository) -> Iterator[LiveServer]:
    """FHIRBRIDGE_ALLOW_MOVING_BETWEEN_CHILDREN=true."""
    settings = Settings(auth_disabled=True, subscription_delivery=False, allow_moving_between_children=True)
    server = LiveServer(repository, settings)
    server.start()
    yield server
    server.stop()


def test_moving_between_children_can_be_allowed(moving_server: LiveServer) -> None:
    moving_server.reset()
    with httpx.Client(base_url=moving_server.url, timeout=30) as http:
        stored(http, patient("mia"))
        stored(http, patient("leo"))
        stored(http, goal("goal", "mia"))
        assert put(http, goal("goal", "leo")).status_code == 200


# -- Bundles: one entry per fullUrl ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_two_entries_with_one_full_url_are_refused(mia: httpx.Client, kind: str) -> None:
    entries = [
        post_entry(goal(None, "mia"), urn(7)),
        post_entry(goal("b", "mia"), urn(8)),
        post_entry(goal("c", "mia"), urn(7)),
    ]
    bundle = {"resourceType": "Bundle", "type": kind, "entry": entries}
    response = mia.post("/", json=bundle)
    assert response.status_code == 400, response.text
    assert expressions(response) == ["Bundle.entry[2].fullUrl"]
    assert mia.get("/Goal", params={"_summary": "count"}).json()["total"] == 0


def test_a_patch_entry_in_a_transaction_is_checked(mia: httpx.Client) -> None:
    stored(mia, care_plan("plan", "mia"))
    patch = base64.b64encode(json.dumps([{"op": "replace", "path": "/intent", "value": "wish"}]).encode()).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch}
    bundle = transaction({"resource": binary, "request": {"method": "PATCH", "url": "CarePlan/plan"}})
    response = mia.post("/", json=bundle)
    assert response.status_code == 422, response.text
    assert expressions(response) == ["Bundle.entry[0].resource.intent"]
