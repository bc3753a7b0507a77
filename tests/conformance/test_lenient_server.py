"""A server without $summary and without the referral state machine still passes, with SKIP and WARN.

The lenient server is fhirbridge behind a proxy that answers 404 to ``$summary`` and pretends to accept
any Task moved back to ``requested``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from fhirbridge.client import FhirClient
from fhirbridge.config import Settings
from fhirbridge.conformance import Status, run_conformance
from tests.conftest import LiveServer


def without_summary(statement: dict[str, Any]) -> dict[str, Any]:
    """The CapabilityStatement of a server that has no $summary does not declare it."""
    for resource in statement["rest"][0]["resource"]:
        operations = [op for op in resource.get("operation", []) if op["name"] != "summary"]
        if operations:
            resource["operation"] = operations
        else:
            resource.pop("operation", None)
    return statement


def lenient_proxy(upstream: str) -> type[BaseHTTPRequestHandler]:
    class Lenient(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, content_type: str = "application/fhir+json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "$summary" in self.path:
                outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
                self._answer(404, json.dumps(outcome).encode())
                return
            if self.command == "PUT" and self.path.startswith("/Task/") and json.loads(body)["status"] == "requested":
                self._answer(200, body)  # accepted without a look at the state machine
                return
            # The Host header goes along, so the links fhirbridge writes point back at the proxy.
            headers = dict(self.headers.items())
            answer = requests.request(self.command, f"{upstream}{self.path}", data=body, headers=headers, timeout=30)
            content = answer.content
            if self.path.startswith("/metadata"):
                content = json.dumps(without_summary(answer.json())).encode()
            self._answer(answer.status_code, content, answer.headers.get("Content-Type", ""))

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Lenient


@pytest.fixture
def lenient_server(server: LiveServer) -> Iterator[str]:
    # Behind a proxy that passes the Host it was asked for, fhirbridge must be told that host is its own
    # (server/hosts.py): here any port of loopback, where the proxy listens.
    settings = Settings(auth_disabled=True, subscription_delivery=False, allowed_hosts=["127.0.0.1"])
    behind = LiveServer(server.repository, settings)
    behind.start()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), lenient_proxy(behind.url))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    behind.stop()


def test_missing_summary_is_skipped_and_an_unenforced_referral_rule_is_a_warning(lenient_server: str) -> None:
    with FhirClient(lenient_server) as client:
        report = run_conformance(client, ["patient-summary", "referral-task"])

    not_passed = {(step.step, step.status) for step in report.steps if step.status is not Status.PASS}
    assert not_passed == {
        ("Patient/$summary answers a document", Status.SKIP),
        ("a completed referral cannot move back to requested", Status.WARN),
    }
    assert report.ok
