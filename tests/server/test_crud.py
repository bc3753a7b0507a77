"""Create, read, vread, update, delete and their versioning headers, over real HTTP on both backends."""

from __future__ import annotations

import httpx

from fhirbridge.engine.validation import check_resource
from tests.factories import create, new_patient

FHIR_JSON = "application/fhir+json"


def test_create_assigns_id_version_and_location(client: httpx.Client) -> None:
    response = create(client, {**new_patient(), "id": "ignored-by-server"})
    body = response.json()
    assert body["id"] != "ignored-by-server"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"].endswith(f"/Patient/{body['id']}/_history/1")
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    assert "Last-Modified" in response.headers


def test_read_gives_back_exactly_what_was_sent(client: httpx.Client) -> None:
    sent = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"weight"},'
        b'"effectiveDateTime":"2026-01-02T10:11:12.100Z","valueQuantity":{"value":12.50,"unit":"kg"}}'
    )
    created = client.post("/Observation", content=sent, headers={"Content-Type": FHIR_JSON})
    assert created.status_code == 201
    read = client.get(f"/Observation/{created.json()['id']}")
    assert b'"value":12.50' in read.content
    assert b'"effectiveDateTime":"2026-01-02T10:11:12.100Z"' in read.content


def test_update_increments_version_and_vread_returns_each(client: httpx.Client) -> None:
    body = create(client, new_patient()).json()
    body["name"][0]["family"] = "Rivera-Lopez"
    updated = client.put(f"/Patient/{body['id']}", json=body)
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    first = client.get(f"/Patient/{body['id']}/_history/1")
    second = client.get(f"/Patient/{body['id']}/_history/2")
    assert first.json()["name"][0]["family"] == "Rivera"
    assert second.json()["name"][0]["family"] == "Rivera-Lopez"
    assert client.get(f"/Patient/{body['id']}/_history/3").status_code == 404


def test_update_as_create_with_client_id(client: httpx.Client) -> None:
    response = client.put("/Patient/child-42", json={**new_patient(), "id": "child-42"})
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/Patient/child-42/_history/1")
    assert client.get("/Patient/child-42").status_code == 200


def test_delete_then_read_is_gone_and_history_keeps_versions(client: httpx.Client) -> None:
    id = create(client, new_patient()).json()["id"]
    assert client.delete(f"/Patient/{id}").status_code == 204
    gone = client.get(f"/Patient/{id}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    history = client.get(f"/Patient/{id}/_history").json()
    assert history["type"] == "history"
    assert [entry["request"]["method"] for entry in history["entry"]] == ["DELETE", "POST"]
    assert client.get(f"/Patient/{id}/_history/1").status_code == 200
    # Deleting again is idempotent.
    assert client.delete(f"/Patient/{id}").status_code == 204


def test_if_match_mismatch_is_refused(client: httpx.Client) -> None:
    body = create(client, new_patient()).json()
    ok = client.put(f"/Patient/{body['id']}", json=body, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.put(f"/Patient/{body['id']}", json=body, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert client.delete(f"/Patient/{body['id']}", headers={"If-Match": 'W/"1"'}).status_code == 412
    assert client.get(f"/Patient/{body['id']}").json()["meta"]["versionId"] == "2"


def test_conditional_read_answers_not_modified(client: httpx.Client) -> None:
    created = create(client, new_patient())
    id = created.json()["id"]
    assert client.get(f"/Patient/{id}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(f"/Patient/{id}", headers={"If-None-Match": 'W/"0"'}).status_code == 200
    since = created.headers["Last-Modified"]
    assert client.get(f"/Patient/{id}", headers={"If-Modified-Since": since}).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get(f"/Patient/{id}", headers={"If-Modified-Since": old}).status_code == 200


def test_prefer_return(client: httpx.Client) -> None:
    minimal = client.post("/Patient", json=new_patient(), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["Location"]
    outcome = client.post("/Patient", json=new_patient(), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.json()["resourceType"] == "OperationOutcome"
    full = client.post("/Patient", json=new_patient(), headers={"Prefer": "return=representation"})
    assert full.json()["resourceType"] == "Patient"


def test_json_patch_is_validated(client: httpx.Client) -> None:
    id = create(client, new_patient()).json()["id"]
    patch_type = {"Content-Type": "application/json-patch+json"}
    ops = [{"op": "replace", "path": "/birthDate", "value": "2019-05-01"}]
    patched = client.patch(f"/Patient/{id}", json=ops, headers=patch_type)
    assert patched.status_code == 200
    assert patched.json()["birthDate"] == "2019-05-01"
    assert patched.json()["meta"]["versionId"] == "2"
    bad = client.patch(
        f"/Patient/{id}", json=[{"op": "add", "path": "/favouriteColour", "value": "x"}], headers=patch_type
    )
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["Patient.favouriteColour"]
    invalid = client.patch(
        f"/Patient/{id}", json=[{"op": "replace", "path": "/birthDate", "value": "May"}], headers=patch_type
    )
    assert invalid.status_code == 422
    assert client.patch(f"/Patient/{id}", json=ops, headers={"If-Match": 'W/"1"', **patch_type}).status_code == 412
    assert client.get(f"/Patient/{id}").json()["meta"]["versionId"] == "2"


def test_metadata_is_a_capability_statement(client: httpx.Client) -> None:
    response = client.get("/metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    types = {resource["type"] for resource in statement["rest"][0]["resource"]}
    assert {"Patient", "CarePlan", "Goal", "Task", "ServiceRequest"} <= types


def test_capability_statement_lists_operations_and_includes_and_is_valid(client: httpx.Client) -> None:
    statement = client.get("/metadata").json()
    check_resource(statement)
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"everything", "summary", "validate"} <= {op["name"] for op in patient["operation"]}
    assert "Patient:general-practitioner" in patient["searchInclude"]
    assert "Goal:patient" in patient["searchRevInclude"]
    assert {
        "name": "family",
        "definition": "http://hl7.org/fhir/SearchParameter/individual-family",
        "type": "string",
    } in patient["searchParam"]


def test_read_honours_summary_and_elements(client: httpx.Client) -> None:
    id = create(
        client,
        {
            **new_patient(),
            "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Mateo</div>'},
        },
    ).json()["id"]
    elements = client.get(f"/Patient/{id}", params={"_elements": "birthDate"}).json()
    assert elements["birthDate"] == "2019-04-02" and "name" not in elements and "gender" not in elements
    assert any(tag.get("code") == "SUBSETTED" for tag in elements["meta"].get("tag", []))
    summary = client.get(f"/Patient/{id}", params={"_summary": "true"}).json()
    assert "name" in summary and "text" not in summary
    text_only = client.get(f"/Patient/{id}", params={"_summary": "text"}).json()
    assert "text" in text_only and "birthDate" not in text_only
    assert client.get(f"/Patient/{id}", params={"_summary": "sometimes"}).status_code == 400


def test_integers_of_any_length_are_kept_or_refused_never_a_500(client: httpx.Client) -> None:
    # JSON allows a decimal written as a long integer; FHIR integers are 32-bit.
    decimal = (
        b'{"resourceType":"Basic","code":{"text":"dose"},'
        b'"extension":[{"url":"http://fhirbridge.test/x","valueDecimal":1180591620717411303424}]}'
    )
    created = client.post("/Basic", content=decimal, headers={"Content-Type": FHIR_JSON})
    assert created.status_code == 201, created.text
    assert b'"valueDecimal":1180591620717411303424' in client.get(f"/Basic/{created.json()['id']}").content
    integer = b'{"resourceType":"Patient","multipleBirthInteger":1180591620717411303424}'
    refused = client.post("/Patient", content=integer, headers={"Content-Type": FHIR_JSON})
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["expression"] == ["Patient.multipleBirthInteger"]
