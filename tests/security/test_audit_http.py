"""Every access is on record (AuditEvent), every write attributed (Provenance), responses hardened."""

from __future__ import annotations

import time
from typing import Any

import httpx

from fhirbridge.compartment import PROVENANCE_PATIENT
from tests.conftest import LiveServer
from tests.factories import goal, observation
from tests.security import records
from tests.security.conftest import CHILD, client_as, logged_events, store, token_for


def audit_events(server: LiveServer, *, about: str, expected: int) -> list[dict[str, Any]]:
    """The AuditEvents naming ``about``, waiting for the background writer to store them.

    Read from the store, as the server's operators do: an AuditEvent about no child is nobody's to read
    through the API (docs/security.md)."""
    deadline = time.monotonic() + 10
    while True:
        events = logged_events(server)
        found = [
            event
            for event in events
            if {"reference": about} in [entity.get("what") for entity in event.get("entity", [])]
        ]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_reads_and_refusals_are_audited(secure_server: LiveServer) -> None:
    store(secure_server, records.practice_child(CHILD), goal("ana-goal", CHILD))
    with client_as(secure_server, token_for("care-coordinator", user="Practitioner/coordinator-1")) as http:
        assert http.get("/Goal/ana-goal").status_code == 200
    with client_as(secure_server, token_for("payer-case-manager", org="payer-9")) as http:
        assert http.get("/Goal/ana-goal").status_code == 404
    with httpx.Client(base_url=secure_server.url) as http:
        assert http.get("/Goal/ana-goal").status_code == 401
    events = audit_events(secure_server, about="Goal/ana-goal", expected=3)
    by_outcome = {event["outcomeDesc"]: event for event in events}
    assert set(by_outcome) == {"HTTP 200", "HTTP 404", "HTTP 401"}
    allowed = by_outcome["HTTP 200"]
    assert allowed["type"]["code"] == "rest" and allowed["subtype"][0]["code"] == "read"
    assert allowed["agent"][0]["who"] == {"reference": "Practitioner/coordinator-1"}
    assert allowed["agent"][0]["network"]["address"] == "127.0.0.1"
    assert by_outcome["HTTP 404"]["outcome"] == "4"
    assert by_outcome["HTTP 401"]["agent"][0]["who"]["display"] == "unauthenticated caller"


def test_every_write_gets_a_provenance_for_its_version(secure_server: LiveServer) -> None:
    store(secure_server, records.practice_child(CHILD))
    with client_as(secure_server, token_for("care-coordinator", user="Practitioner/coordinator-1")) as http:
        created = http.post("/Goal", json=goal(None, CHILD))
        assert created.status_code == 201
        written = created.json()
        written["lifecycleStatus"] = "completed"
        assert http.put(f"/Goal/{written['id']}", json=written).status_code == 200
    with client_as(secure_server, token_for("ehr-system", org="medical-home")) as http:
        provenances = [entry["resource"] for entry in http.get("/Provenance/_history").json()["entry"]]
    targets = {p["target"][0]["reference"]: p for p in provenances}
    assert set(targets) == {f"Goal/{written['id']}/_history/1", f"Goal/{written['id']}/_history/2"}
    first = targets[f"Goal/{written['id']}/_history/1"]
    assert first["activity"]["coding"][0]["code"] == "CREATE"
    assert first["agent"][0]["who"] == {"reference": "Practitioner/coordinator-1"}
    assert targets[f"Goal/{written['id']}/_history/2"]["activity"]["coding"][0]["code"] == "UPDATE"
    # It names the child, so it is shared exactly as the child's record is: not with another practice.
    assert first["extension"] == [{"url": PROVENANCE_PATIENT, "valueReference": {"reference": f"Patient/{CHILD}"}}]
    with client_as(secure_server, token_for("ehr-system", org="another-practice")) as http:
        assert http.get("/Provenance/_history").json()["total"] == 0
        assert http.get("/Provenance", params={"target": f"Goal/{written['id']}"}).json()["total"] == 0


def test_a_refused_write_leaves_no_provenance(secure_server: LiveServer) -> None:
    store(secure_server, records.practice_child(CHILD))
    with client_as(secure_server, token_for("family", patient=CHILD)) as http:
        assert http.post("/Observation", json=observation("o", CHILD)).status_code == 403
    with client_as(secure_server, token_for("ehr-system", org="medical-home")) as http:
        assert http.get("/Provenance/_history").json()["total"] == 0


def test_responses_carry_security_headers(secure_server: LiveServer) -> None:
    store(secure_server, records.practice_child(CHILD))
    with client_as(secure_server, token_for("ehr-system", org="medical-home")) as http:
        response = http.get(f"/Patient/{CHILD}")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_cors_allows_only_configured_origins(anonymous: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "Authorization"}
    allowed = anonymous.options("/Patient/x", headers={"Origin": "https://portal.fhirbridge.test", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.fhirbridge.test"
    refused = anonymous.options("/Patient/x", headers={"Origin": "https://evil.test", **preflight})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_a_browser_reading_a_resource_gets_the_cors_answer(secure_server: LiveServer) -> None:
    # A plain read takes the short path past the framework (server/fastread.py): same layers, same headers.
    store(secure_server, records.practice_child(CHILD), goal("ana-goal", CHILD))
    with client_as(secure_server, token_for("care-coordinator", user="Practitioner/coordinator-1")) as http:
        allowed = http.get("/Goal/ana-goal", headers={"Origin": "https://portal.fhirbridge.test"})
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.fhirbridge.test"
        assert "ETag" in allowed.headers["Access-Control-Expose-Headers"]
        refused = http.get("/Goal/ana-goal", headers={"Origin": "https://evil.test"})
        assert "Access-Control-Allow-Origin" not in refused.headers
