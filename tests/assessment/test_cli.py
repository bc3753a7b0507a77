"""``fhirbridge assessment`` on files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fhirbridge.assessment import cli
from tests.assessment.builders import maya_response
from tests.assessment.records import RECORD


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fhirbridge")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture
def maya_file(tmp_path: Path) -> Path:
    path = tmp_path / "maya.json"
    path.write_text(json.dumps(maya_response()))
    return path


def test_validate_prints_an_outcome_and_exits_by_verdict(
    maya_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["assessment", "validate", str(maya_file)]) == 0
    assert json.loads(capsys.readouterr().out)["issue"][0]["severity"] == "information"
    broken = maya_response()
    broken["item"][1]["item"][3]["answer"] = [{"valueInteger": -4}]
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(broken))
    assert run(["assessment", "validate", str(bad_file)]) == 1
    issue = json.loads(capsys.readouterr().out)["issue"][0]
    assert issue["expression"] == ["QuestionnaireResponse.item[1].item[3].answer[0]"]


def test_extract_stratify_and_populate_print_resources(
    maya_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["assessment", "extract", str(maya_file)]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "transaction"
    assert run(["assessment", "stratify", str(maya_file)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["resourceType"] == "RiskAssessment"
    assert "next review: 2026-04-01" in captured.err
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for rs in RECORD.values() for r in rs],
            }
        )
    )
    assert run(["assessment", "populate", str(record)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "in-progress"
