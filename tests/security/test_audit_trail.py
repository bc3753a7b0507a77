"""The audit trail cannot be forged, altered or lost: only the server writes it, every acknowledged access is
on record even when the process is killed right after, and each entry of a Bundle is recorded."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhirbridge.formats import json as fhir_json
from fhirbridge.security.audit import stored_event
from fhirbridge.security.roles import role_claims
from fhirbridge.security.tokens import mint_token
from fhirbridge.server.cli import WithoutQueryStrings
from fhirbridge.storage.audit_log import AuditLog
from tests.conftest import LiveServer
from tests.factories import goal
from tests.security import records
from tests.security.conftest import (
    AUDIENCE,
    CHILD,
    ISSUER,
    SECRET,
    bearer,
    client_as,
    logged_events,
    store,
    token_for,
)
from tests.support import backend_url


def stored_events(server: LiveServer) -> list[dict[str, Any]]:
    return logged_events(server)


def entities(event: dict[str, Any]) -> list[str]:
    return [entity.get("what", {}).get("reference", "") for entity in event.get("entity", [])]


# -- nothing forged, nothing altered -----------------------------------------------------------------


@pytest.mark.parametrize("resource_type", ["AuditEvent", "Provenance"])
def test_no_caller_writes_the_audit_trail(secure_server: LiveServer, resource_type: str) -> None:
    store(secure_server, records.practice_child(CHILD), goal("ana-goal", CHILD))
    with client_as(secure_server, token_for("ehr-system", org="medical-home")) as http:
        assert http.put("/Goal/ana-goal", json=goal("ana-goal", CHILD)).status_code == 200
        existing = written_by_the_server(secure_server, resource_type)
        assert existing, f"the server wrote no {resource_type} to attack"
        target = existing[0]
        forged = {**target, "id": "forged"}
        attempts = {
            "create": http.post(f"/{resource_type}", json={k: v for k, v in target.items() if k != "id"}),
            "update": http.put(f"/{resource_type}/{target['id']}", json=target),
            "create at an id": http.put(f"/{resource_type}/forged", json=forged),
            "patch": http.patch(
                f"/{resource_type}/{target['id']}",
                json=[{"op": "add", "path": "/language", "value": "en"}],
                headers={"Content-Type": "application/json-patch+json"},
            ),
            "delete": http.delete(f"/{resource_type}/{target['id']}"),
            "transaction": http.post(
                "/",
                json={
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [{"request": {"method": "DELETE", "url": f"{resource_type}/{target['id']}"}}],
                },
            ),
        }
    refused = {name: response.status_code for name, response in attempts.items()}
    assert all(status in (403, 404, 405) for status in refused.values()), refused
    after = {resource["id"]: resource for resource in written_by_the_server(secure_server, resource_type)}
    assert "forged" not in after
    assert after[target["id"]] == target


def written_by_the_server(server: LiveServer, resource_type: str) -> list[dict[str, Any]]:
    if resource_type == "AuditEvent":
        return logged_events(server)
    return [fhir_json.loads_stored(v.content) for v in server.repository.iter_current(resource_type)]


# -- complete ------------------------------------------------------------------------------------------


def test_each_entry_of_a_batch_is_on_record_with_what_it_touched(secure_server: LiveServer) -> None:
    store(secure_server, records.practice_child(CHILD), goal("ana-goal", CHILD))
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Patient/{CHILD}"}},
            {"request": {"method": "GET", "url": "Goal?patient=" + CHILD}},
            {"request": {"method": "GET", "url": "Goal/not-there"}},
        ],
    }
    with client_as(secure_server, token_for("care-coordinator", user=records.COORDINATOR)) as http:
        assert http.post("/", json=batch).status_code == 200
    (event,) = [e for e in stored_events(secure_server) if e["subtype"][0]["code"] == "transaction"]
    touched = {entity["what"].get("reference"): entity for entity in event["entity"] if "what" in entity}
    assert {f"Patient/{CHILD}", "Goal", "Goal/not-there"} <= set(touched) | {
        entity["what"].get("display") for entity in event["entity"] if "what" in entity
    }
    details = {d["type"]: d["valueString"] for d in touched[f"Patient/{CHILD}"]["detail"]}
    assert details == {"interaction": "read", "status": "200"}
    assert {d["type"]: d["valueString"] for d in touched["Goal/not-there"]["detail"]}["status"] == "404"


# -- no token in a URL, no query string in a log -------------------------------------------------------


def test_an_access_token_in_the_url_is_refused_and_not_kept(secure_server: LiveServer) -> None:
    token = token_for("care-coordinator", user=records.COORDINATOR)
    with httpx.Client(base_url=secure_server.url) as http:
        response = http.get(f"/Patient/{CHILD}", params={"access_token": token})
        assert response.status_code == 400
        assert response.json()["issue"][0]["expression"] == ["access_token"]
        # Even with a good Authorization header: the token in the URL is already on its way into logs.
        both = http.get("/Patient", params={"access_token": token}, headers=bearer(token))
        assert both.status_code == 400
    assert not any(token in fhir_json.dumps(event).decode() for event in stored_events(secure_server))


def test_access_log_lines_carry_no_query_string() -> None:
    line = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None)
    line.args = ("127.0.0.1:5000", "GET", "/Patient?name=Ana&birthdate=2018-03-01", "1.1", 200)
    assert WithoutQueryStrings().filter(line)
    assert line.getMessage() == '127.0.0.1:5000 - "GET /Patient HTTP/1.1" 200'


# -- durable ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_acknowledged_access_survives_a_kill_9(backend: str, tmp_path: Path) -> None:
    with backend_url(backend, tmp_path) as url:
        port = _free_port()
        env = {
            **os.environ,
            "FHIRBRIDGE_DATABASE_URL": url,
            "FHIRBRIDGE_JWT_SECRET": SECRET,
            "FHIRBRIDGE_JWT_ISSUER": ISSUER,
            "FHIRBRIDGE_JWT_AUDIENCE": AUDIENCE,
            "FHIRBRIDGE_SUBSCRIPTION_DELIVERY": "false",
            "FHIRBRIDGE_AUDIT_JOURNAL_DIR": str(tmp_path / "audit-journal"),
        }

        def serve() -> subprocess.Popen[bytes]:
            command = [sys.executable, "-m", "fhirbridge.cli", "serve", "--port", str(port)]
            return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        server = serve()
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for(base)
            claims = role_claims("ehr-system", org="medical-home")
            token = mint_token(claims, secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=300, subject="ehr")
            acknowledged = _load_then_kill(base, token, server)
            server.wait(10)
            server = serve()  # start-up replays what the killed process journaled and had not stored
            _wait_for(base)
        finally:
            if server.poll() is None:
                server.terminate()
            server.wait(20)
        log = AuditLog.open(url)
        try:
            recorded = {
                reference
                for id in log.ids()
                for reference in entities(stored_event(log.read(id).content))  # type: ignore[union-attr]
            }
        finally:
            log.dispose()
    assert len(acknowledged) >= 50, "the load did not get going before the kill"
    missing = sorted(acknowledged - recorded)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged accesses have no AuditEvent"


def _wait_for(base: str) -> None:
    deadline = time.monotonic() + 120  # a busy CI machine starts a server slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _load_then_kill(base: str, token: str, server: subprocess.Popen[bytes]) -> set[str]:
    """Four clients read distinct ids as fast as they can; the server is killed mid-stream. Returns the
    references of the reads that were answered (acknowledged), whatever the answer."""
    acknowledged: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=base, headers=bearer(token), timeout=5) as http:
            for n in range(100_000):
                if stop.is_set():
                    return
                reference = f"Patient/probe-{worker}-{n}"
                try:
                    http.get(f"/{reference}")
                except httpx.HTTPError:
                    return
                with lock:
                    acknowledged.add(reference)

    workers = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            if len(acknowledged) >= 400:
                break
        time.sleep(0.01)
    os.kill(server.pid, signal.SIGKILL)  # while the clients are still sending
    stop.set()
    for worker in workers:
        worker.join(10)
    return acknowledged


# -- searched as a privacy officer does ----------------------------------------------------------------


def test_the_audit_trail_is_searched_by_child_agent_and_date_under_the_callers_access(
    secure_server: LiveServer,
) -> None:
    store(secure_server, records.practice_child(CHILD), goal("ana-goal", CHILD))
    coordinator = token_for("care-coordinator", user=records.COORDINATOR)
    with client_as(secure_server, coordinator) as http:
        assert http.get("/Goal/ana-goal").status_code == 200
        assert http.get("/Goal", params={"patient": CHILD}).status_code == 200
        found = http.get("/AuditEvent", params={"patient": CHILD, "agent": records.COORDINATOR}).json()
        reads = [e["resource"] for e in found.get("entry", [])]
        assert len(reads) >= 2
        assert all(f"Patient/{CHILD}" in entities(event) for event in reads)
        one = reads[0]
        assert http.get(f"/AuditEvent/{one['id']}").json() == one
        assert http.get("/AuditEvent", params={"date": "lt2000-01-01"}).json().get("entry") is None
        refused = http.get("/AuditEvent", params={"name": "x"})
        assert refused.status_code == 400 and refused.json()["issue"][0]["expression"] == ["name"]
        assert http.post("/AuditEvent", json=one).status_code == 405
        assert http.delete(f"/AuditEvent/{one['id']}").status_code == 405
    # Another practice sees none of Ana's accesses, not even by id.
    with client_as(secure_server, token_for("care-coordinator", user="Practitioner/elsewhere")) as http:
        assert http.get("/AuditEvent", params={"patient": CHILD}).json().get("entry") is None
        assert http.get(f"/AuditEvent/{one['id']}").status_code == 404
    # Ana's family sees who looked at Ana's record.
    with client_as(secure_server, token_for("family", patient=CHILD, user="RelatedPerson/mother")) as http:
        seen = http.get("/AuditEvent", params={"agent": records.COORDINATOR}).json()
        assert {e["resource"]["id"] for e in seen["entry"]} >= {event["id"] for event in reads}
