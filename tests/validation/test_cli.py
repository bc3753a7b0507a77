"""``fhirbridge validate``: prints the issues of each file, non-zero exit on errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fhirbridge.validation import cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
GOAL_PROFILE = "http://fhirbridge.org/fhir/StructureDefinition/fhirbridge-goal"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fhirbridge")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["validate", *argv])
    code: int = args.handler(args)
    return code


def test_valid_file_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES / "fhirbridge-goal" / "valid-family-goal.json")]) == 0
    assert "valid (0 errors" in capsys.readouterr().out


def test_invalid_file_exits_one_and_names_the_element(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "fhirbridge-goal" / "invalid-expressed-by-organization.json"
    assert main([str(path), "--profile", GOAL_PROFILE]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "Goal.expressedBy" in out


def test_profile_option_applies_to_a_resource_without_meta_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = json.loads((FIXTURES / "fhirbridge-referral-task" / "invalid-intent-plan.json").read_text())
    del task["meta"]
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    assert main([str(path)]) == 0  # intent "plan" is fine for a Task in general
    assert (
        main(
            [
                str(path),
                "--profile",
                "http://fhirbridge.org/fhir/StructureDefinition/fhirbridge-referral-task",
            ]
        )
        == 1
    )
    assert "Task.intent" in capsys.readouterr().out


def test_unreadable_file_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert main([str(path)]) == 2
    assert "broken.json" in capsys.readouterr().out


def test_outcome_option_prints_an_operation_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--outcome", str(FIXTURES / "fhirbridge-goal" / "invalid-lifecycle-status.json")])
    printed = json.loads(capsys.readouterr().out)
    assert printed["outcome"]["resourceType"] == "OperationOutcome"
    assert ["Goal.lifecycleStatus"] in [i.get("expression") for i in printed["outcome"]["issue"]]


def test_partner_definitions_can_be_loaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = {
        "resourceType": "StructureDefinition",
        "url": "http://partner.example.org/StructureDefinition/goal-with-target",
        "name": "GoalWithTarget",
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": "Goal",
        "baseDefinition": GOAL_PROFILE,
        "derivation": "constraint",
        "differential": {"element": [{"id": "Goal.target", "path": "Goal.target", "min": 2}]},
    }
    definitions = tmp_path / "profile.json"
    definitions.write_text(json.dumps(profile))
    goal = FIXTURES / "fhirbridge-goal" / "valid-family-goal.json"
    argv = [str(goal), "--definitions", str(definitions), "--profile", profile["url"]]
    assert main(argv) == 1
    assert "Goal.target: minimum required = 2" in capsys.readouterr().out
