"""The conformance check run against fhirbridge itself, on each storage backend: every scenario passes."""

from __future__ import annotations

import io
import json
from argparse import Namespace

from fhirbridge.client import FhirClient
from fhirbridge.conformance import SCENARIOS, Status, run_conformance
from fhirbridge.conformance.cli import run_conformance_command
from tests.conftest import LiveServer


def test_every_scenario_passes_against_fhirbridge(server: LiveServer) -> None:
    with FhirClient(server.url) as client:
        report = run_conformance(client)

    failures = [step for step in report.steps if step.status is not Status.PASS]
    assert failures == []
    assert report.ok
    assert report.scenarios() == list(SCENARIOS)


def test_a_second_run_passes_too_and_the_first_left_nothing_behind(server: LiveServer) -> None:
    with FhirClient(server.url) as client:
        first = run_conformance(client, ["goal-search", "referral-task"])
        second = run_conformance(client, ["goal-search", "referral-task"])
        leftovers = list(client.search("Goal")) + list(client.search("Task"))

    assert first.ok and second.ok
    assert leftovers == []


def test_the_command_prints_json_and_exits_0(server: LiveServer) -> None:
    out = io.StringIO()
    args = Namespace(
        server=server.url, token=None, actor=None, scenario=["capabilities", "versioning"], timeout=30.0, json=True
    )

    code = run_conformance_command(args, out)

    document = json.loads(out.getvalue())
    assert code == 0
    assert document["ok"] is True
    assert {step["scenario"] for step in document["steps"]} == {"capabilities", "versioning"}
    assert all(step["status"] == "PASS" for step in document["steps"])
