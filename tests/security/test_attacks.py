"""Reaching a child's record without the right: bad tokens, and every path to another child's data."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import goal, observation, organization, task
from tests.security import records
from tests.security.conftest import CHILD, OTHER_CHILD, bearer, client_as, signed, store, token_for

FAMILY = {"patient": CHILD}


def family(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("family", patient=CHILD, user="RelatedPerson/mother"))


def seed(server: LiveServer) -> None:
    resources: list[dict[str, Any]] = []
    for child, prefix in ((CHILD, "ana"), (OTHER_CHILD, "ben")):
        resources += [
            records.practice_child(child),
            goal(f"{prefix}-goal", child),
            task(f"{prefix}-task", child),
            observation(f"{prefix}-weight", child),
        ]
    store(server, *resources, organization("medical-home"))


# -- tokens ------------------------------------------------------------------------------------------

NOW = int(time.time())
BAD_TOKENS = {
    "missing": None,
    "forged": signed({"scope": "system/*.cruds"}, key="a-different-secret-of-enough-length-012345"),
    "expired": signed({"scope": "system/*.cruds", "exp": NOW - 3600}),
    "not-yet-valid": signed({"scope": "system/*.cruds", "nbf": NOW + 3600}),
    "wrong-audience": signed({"scope": "system/*.cruds", "aud": "https://another-fhir.test"}),
    "wrong-issuer": signed({"scope": "system/*.cruds", "iss": "https://evil.test"}),
    "alg-none": signed({"scope": "system/*.cruds"}, key=None, algorithm="none"),
    "no-subject": signed({"scope": "system/*.cruds", "sub": None}),
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_tokens_are_refused_with_a_bearer_challenge(anonymous: httpx.Client, kind: str) -> None:
    token = BAD_TOKENS[kind]
    response = anonymous.get(f"/Patient/{CHILD}", headers=bearer(token) if token else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="fhirbridge"')
    if token is not None:
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"


def test_a_bad_token_cannot_write(anonymous: httpx.Client) -> None:
    response = anonymous.post("/Goal", json=goal("x", CHILD), headers=bearer(BAD_TOKENS["forged"] or ""))
    assert response.status_code == 401


def test_discovery_is_open_and_describes_smart(anonymous: httpx.Client) -> None:
    smart = anonymous.get("/.well-known/smart-configuration")
    assert smart.status_code == 200
    assert smart.json()["token_endpoint"].endswith("/token")
    assert "permission-v2" in smart.json()["capabilities"]
    metadata = anonymous.get("/metadata")
    assert metadata.status_code == 200
    security = metadata.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {ext["url"]: ext["valueUri"] for ext in security["extension"][0]["extension"]}
    assert set(uris) == {"authorize", "token"}


def test_no_token_reaches_data_even_through_unknown_paths(anonymous: httpx.Client) -> None:
    assert anonymous.get("/_history").status_code == 401
    assert anonymous.post("/", json={"resourceType": "Bundle", "type": "batch"}).status_code == 401


# -- another child -----------------------------------------------------------------------------------


def test_family_reads_own_child_but_not_another(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        assert http.get(f"/Patient/{CHILD}").status_code == 200
        assert http.get("/Goal/ana-goal").status_code == 200
        assert http.get("/Organization/medical-home").status_code == 200
        for path in (f"/Patient/{OTHER_CHILD}", "/Goal/ben-goal", "/Task/ben-task", "/Observation/ben-weight"):
            assert http.get(path).status_code == 404, path
            assert http.get(f"{path}/_history/1").status_code == 404, path
            history = http.get(f"{path}/_history").json()
            assert history.get("entry", []) == [] and history["total"] == 0


def test_type_and_system_history_show_only_own_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        goals = http.get("/Goal/_history").json()
        assert [entry["resource"]["id"] for entry in goals["entry"]] == ["ana-goal"]
        assert goals["total"] == 1
        seen: list[dict[str, Any]] = []
        page = http.get("/_history", params={"_count": 2}).json()
        while True:
            assert len(page.get("entry", [])) <= 2
            seen += [entry["resource"] for entry in page.get("entry", [])]
            following = [link["url"] for link in page["link"] if link["relation"] == "next"]
            if not following:
                break
            page = http.get(following[0]).json()
    assert len(seen) == page["total"]
    # The family's own reads are audited into Ana's compartment as they go; the rest is fixed.
    data = {f"{r['resourceType']}/{r['id']}" for r in seen if r["resourceType"] != "AuditEvent"}
    assert data == {
        f"Patient/{CHILD}",
        "Goal/ana-goal",
        "Task/ana-task",
        "Observation/ana-weight",
        "Organization/medical-home",
    }
    for event in (r for r in seen if r["resourceType"] == "AuditEvent"):
        assert {"reference": f"Patient/{CHILD}"} in [entity.get("what") for entity in event["entity"]]


def test_a_deletion_of_another_childs_resource_does_not_show(secure_server: LiveServer) -> None:
    seed(secure_server)
    with client_as(secure_server, token_for("ehr-system", org="medical-home")) as ehr:
        assert ehr.delete("/Goal/ben-goal").status_code == 204
    with family(secure_server) as http:
        goals = http.get("/Goal/_history").json()
        assert [entry["fullUrl"].rsplit("/", 1)[1] for entry in goals["entry"]] == ["ana-goal"]


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def test_a_transaction_cannot_read_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    bundle = transaction(
        {"request": {"method": "PUT", "url": "Goal/ana-goal"}, "resource": goal("ana-goal", CHILD)},
        {"request": {"method": "GET", "url": "Goal/ben-goal"}},
    )
    with family(secure_server) as http:
        response = http.post("/", json=bundle)
        assert response.status_code == 404
        assert "Bundle.entry[1]" in response.json()["issue"][0]["diagnostics"]
        # All or nothing: Ana's goal was not updated either.
        assert http.get("/Goal/ana-goal").json()["meta"]["versionId"] == "1"


def put_entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}, "resource": resource}


def test_a_transaction_cannot_write_into_or_move_to_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        into_ben = transaction(
            {"request": {"method": "PUT", "url": "Goal/ben-goal"}, "resource": goal("ben-goal", OTHER_CHILD)}
        )
        assert http.post("/", json=into_ben).status_code == 404
        move = transaction(
            {"request": {"method": "PUT", "url": "Goal/ana-goal"}, "resource": goal("ana-goal", OTHER_CHILD)}
        )
        assert http.post("/", json=move).status_code == 403
        patch = [{"op": "replace", "path": "/for/reference", "value": f"Patient/{OTHER_CHILD}"}]
        moved_by_patch = transaction(
            {
                "request": {"method": "PATCH", "url": "Task/ana-task"},
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": base64.b64encode(json.dumps(patch).encode()).decode(),
                },
            }
        )
        assert http.post("/", json=moved_by_patch).status_code == 403
        assert http.get("/Task/ana-task").json()["for"]["reference"] == f"Patient/{CHILD}"
    with client_as(secure_server, token_for("ehr-system", org="medical-home")) as ehr:
        assert ehr.get("/Goal/ben-goal").json()["subject"]["reference"] == f"Patient/{OTHER_CHILD}"


def test_a_plain_patch_cannot_move_a_resource_to_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    patch = [{"op": "replace", "path": "/subject/reference", "value": f"Patient/{OTHER_CHILD}"}]
    with family(secure_server) as http:
        response = http.patch("/Goal/ana-goal", json=patch, headers={"Content-Type": "application/json-patch+json"})
        assert response.status_code == 403
        assert http.get("/Goal/ana-goal").json()["meta"]["versionId"] == "1"


def test_a_batch_answers_404_for_the_other_childs_entry_only(secure_server: LiveServer) -> None:
    seed(secure_server)
    bundle = transaction(
        {"request": {"method": "GET", "url": "Goal/ana-goal"}},
        {"request": {"method": "GET", "url": "Goal/ben-goal"}},
        {"request": {"method": "GET", "url": "Goal/ben-goal/_history/1"}},
        kind="batch",
    )
    with family(secure_server) as http:
        response = http.post("/", json=bundle).json()
    statuses = [entry["response"]["status"] for entry in response["entry"]]
    assert statuses == ["200 OK", "404", "404"]
    assert "resource" not in response["entry"][1]


def test_patient_scopes_without_a_patient_claim_reach_nothing(secure_server: LiveServer) -> None:
    seed(secure_server)
    token = signed({"scope": "patient/*.rs"})
    with client_as(secure_server, token) as http:
        assert http.get(f"/Patient/{CHILD}").status_code == 403


def test_sensitive_data_reaches_the_family(secure_server: LiveServer) -> None:
    store(secure_server, records.practice_child(CHILD), records.behavioral_condition("ana-autism", CHILD))
    with family(secure_server) as http:
        assert http.get("/Condition/ana-autism").status_code == 200


# -- search (enforced once the search engine is wired into GET /{type}) -----------------------------


def _search_ids(http: httpx.Client, path: str, **params: str) -> set[str]:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


def test_search_returns_only_own_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        assert _search_ids(http, "/Goal") == {"ana-goal"}
        assert "total" not in http.get("/Goal").json() or http.get("/Goal").json()["total"] == 1


def test_chaining_cannot_reach_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        assert _search_ids(http, "/Goal", **{"subject:Patient.name": "Child-Ben"}) == set()


def test_include_cannot_pull_in_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        found = _search_ids(http, "/Goal", _include="Goal:subject")
        assert OTHER_CHILD not in found and "ben-goal" not in found
        revincluded = _search_ids(http, "/Patient", _revinclude="Goal:subject")
        assert "ben-goal" not in revincluded


def test_has_cannot_probe_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        assert _search_ids(http, "/Patient", **{"_has:Goal:subject:lifecycle-status": "active"}) == {CHILD}


def test_operations_cannot_reach_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        everything = _search_ids(http, f"/Patient/{CHILD}/$everything")
        assert "ana-goal" in everything and "ben-goal" not in everything
        assert http.get(f"/Patient/{OTHER_CHILD}/$everything").status_code in (403, 404)
        assert http.get(f"/Patient/{OTHER_CHILD}/$summary").status_code in (403, 404)
        assert http.get(f"/coordination/children/{OTHER_CHILD}").status_code in (403, 404)
        own_summary = http.get(f"/Patient/{CHILD}/$summary").text
        assert "ben-goal" not in own_summary


def test_worklists_show_only_what_the_caller_may_see(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        overdue = http.get("/CarePlan/$overdue-reviews").json()
        assert OTHER_CHILD not in json.dumps(overdue)
        referrals = http.get("/Task/$open-referrals").json()
        assert "ben-task" not in json.dumps(referrals)


def test_a_childs_tasks_are_searchable_by_the_family_and_no_one_elses(secure_server: LiveServer) -> None:
    # Task is in the child's compartment for access control; search must agree.
    seed(secure_server)
    with family(secure_server) as http:
        assert _search_ids(http, "/Task") == {"ana-task"}
        assert _search_ids(http, f"/Patient/{CHILD}/$everything", _type="Task") == {"ana-task"}
