"""A server that fails, or is not there: the failures are reported with what the server said."""

from __future__ import annotations

import io
import json
import socket
import threading
from argparse import Namespace
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fhirbridge.conformance.cli import EXIT_FAILED, EXIT_UNREACHABLE, run_conformance_command

BROKEN = "the database is down for maintenance"


class AlwaysFails(BaseHTTPRequestHandler):
    """Answers every request with 500 and an OperationOutcome saying why."""

    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "fatal", "code": "exception", "diagnostics": BROKEN}],
        }
        body = json.dumps(outcome).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _fail

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def broken_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysFails)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def arguments(server: str, **overrides: object) -> Namespace:
    values: dict[str, object] = {
        "server": server,
        "token": None,
        "scenario": None,
        "actor": None,
        "timeout": 10.0,
        "json": False,
    }
    return Namespace(**{**values, **overrides})


def test_a_failing_server_fails_every_scenario_with_its_diagnostics(broken_server: str) -> None:
    out = io.StringIO()

    code = run_conformance_command(arguments(broken_server, json=True), out)

    report = json.loads(out.getvalue())
    assert code == EXIT_FAILED
    assert report["ok"] is False
    assert report["failedScenarios"] == [
        "capabilities",
        "shared-plan-transaction",
        "goal-search",
        "versioning",
        "patient-summary",
        "referral-task",
    ]
    failures = [step for step in report["steps"] if step["status"] == "FAIL"]
    # Each scenario stops at its first failing step, which names the status and the server's words.
    assert len(failures) == 6
    assert all("500" in step["detail"] for step in failures)
    assert all(BROKEN in step["detail"] for step in failures if step["scenario"] != "capabilities")


def test_the_table_shows_the_failing_step(broken_server: str) -> None:
    out = io.StringIO()

    code = run_conformance_command(arguments(broken_server, scenario=["versioning"]), out)

    table = out.getvalue()
    assert code == EXIT_FAILED
    assert "versioning  create a Patient  FAIL" in table
    assert BROKEN in table
    assert "FAILED: versioning" in table


def test_an_unreachable_server_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the check runs: nothing listens there
    out = io.StringIO()

    code = run_conformance_command(arguments(f"http://127.0.0.1:{port}"), out)

    assert code == EXIT_UNREACHABLE
    assert out.getvalue() == ""
    assert "cannot reach" in capsys.readouterr().err
