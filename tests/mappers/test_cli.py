"""``fhirbridge convert`` both ways, with the report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fhirbridge.demo import demo_records
from fhirbridge.domain import record_from_json, record_to_json
from fhirbridge.mappers import cli
from tests.mappers.shared import EXAMPLES


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="fhirbridge")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["convert", *argv])
    code: int = args.handler(args)
    return code


def test_internal_json_becomes_a_transaction_bundle_and_back(tmp_path: Path) -> None:
    record = demo_records()[2]
    (tmp_path / "aisha.json").write_bytes(record_to_json(record))
    assert run(str(tmp_path / "aisha.json"), "-o", str(tmp_path / "bundle.json")) == 0
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert bundle["type"] == "transaction"
    assert (
        run(
            str(tmp_path / "bundle.json"),
            "-o",
            str(tmp_path / "back.json"),
            "--report",
            str(tmp_path / "report.json"),
        )
        == 0
    )
    assert record_from_json((tmp_path / "back.json").read_bytes()) == record
    assert json.loads((tmp_path / "report.json").read_text()) == []


def test_a_partner_resource_converts_with_its_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(EXAMPLES / "goal-example.json"), "--report") == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["goals"][0]["description"] == "Target weight is 160 to 180 lbs."
    report = json.loads(captured.err)
    assert {
        "resource": "Goal/example",
        "path": "statusDate",
        "reason": "no place in the record; kept and written back unchanged",
    } in report


def test_a_record_breaking_the_rules_is_refused_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "child": {"id": "c1", "given_names": ["Ana"]},
        "goals": [{"id": "g1", "description": " "}],
        "action_steps": [{"id": "s1", "description": "Call the school"}],
    }
    (tmp_path / "bad.json").write_text(json.dumps(body))
    assert run(str(tmp_path / "bad.json")) == 1
    err = capsys.readouterr().err
    assert "goals[0].description: a goal needs a description" in err
    assert "action_steps[0].responsible_id: an action step needs a responsible party" in err


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert run(str(tmp_path / "nothing.json")) == 2
