"""``fhirbridge import``: the bulk round trip (the demo children exported over HTTP by one fhirbridge, loaded
into another's empty store, on both backends), rejected lines in the report, resuming, and the command
run as a deployer runs it (docs/bulk-import.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from fhirbridge import cli
from fhirbridge.config import Settings
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.formats import json as fhir_json
from fhirbridge.storage.sql import SqlRepository
from tests.bulk.conftest import Export
from tests.conftest import LiveServer

Resource = dict[str, Any]


def run_import(*argv: str | Path) -> int:
    return cli.main(["import", *map(str, argv)])


IMPORTER = "fhirbridge import"


def stored(store: SqlRepository) -> dict[str, Resource]:
    """Every current resource of a store, by ``Type/id``, without what the store sets on each version, and
    without the Provenance the import adds (``attribution``)."""
    found = {}
    for key, resource in every_resource(store).items():
        if not (key.startswith("Provenance/") and by_the_importer(resource)):
            found[key] = resource
    return found


def attribution(store: SqlRepository) -> list[Resource]:
    """The Provenance an import added."""
    return [
        resource
        for key, resource in every_resource(store).items()
        if key.startswith("Provenance/") and by_the_importer(resource)
    ]


def every_resource(store: SqlRepository) -> dict[str, Resource]:
    found = {}
    for version in store.iter_current():
        if version.content is not None:
            found[f"{version.resource_type}/{version.id}"] = without_version(fhir_json.loads_stored(version.content))
    return found


def by_the_importer(provenance: Resource) -> bool:
    return any(agent["who"].get("display") == IMPORTER for agent in provenance.get("agent", []))


def without_version(resource: Resource) -> Resource:
    meta = {
        name: value for name, value in (resource.get("meta") or {}).items() if name not in ("versionId", "lastUpdated")
    }
    kept = {name: value for name, value in resource.items() if name != "meta"}
    return {**kept, "meta": meta} if meta else kept


def versions_per_resource(store: SqlRepository) -> Counter[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT resource_type, id FROM resource_versions")).all()
    return Counter(f"{kind}/{id}" for kind, id in rows)


def report_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def ndjson(path: Path, *lines: Resource | str) -> Path:
    path.write_bytes(
        b"".join((line if isinstance(line, str) else orjson.dumps(line).decode()).encode() + b"\n" for line in lines)
    )
    return path


PATIENT = {"resourceType": "Patient", "id": "sam", "name": [{"given": ["Sam"], "family": "Lee"}]}


def goal(id: str, status: str = "active", subject: str = "Patient/sam") -> Resource:
    return {
        "resourceType": "Goal",
        "id": id,
        "lifecycleStatus": status,
        "description": {"text": "Eats by mouth at lunch"},
        "subject": {"reference": subject},
    }


# -- the round trip ----------------------------------------------------------------------------------------


def test_an_export_imported_into_an_empty_store_holds_the_same_resources(
    demo_export: Export, tmp_path: Path, target_url: str, target: SqlRepository, capsys: pytest.CaptureFixture[str]
) -> None:
    files = demo_export.copy_to(tmp_path / "export")
    assert run_import(*files, "--database-url", target_url) == 0
    out = capsys.readouterr().out
    total = sum(demo_export.counts.values())
    assert f"loaded {total} (" in out and "rejected 0, skipped 0" in out

    imported = stored(target)
    assert Counter(key.split("/")[0] for key in imported) == Counter(demo_export.counts)
    assert imported == {key: without_version(resource) for key, resource in demo_export.resources().items()}
    assert set(versions_per_resource(target).values()) == {1}  # one version each: no write twice


def test_the_imported_store_answers_searches_as_the_exporting_one(
    demo_export: Export, exporting_server: LiveServer, tmp_path: Path, target_url: str, target: SqlRepository
) -> None:
    """Indexed as a client's writes are: each type's count, and a child's goals, are the same on both servers."""
    assert run_import(*demo_export.copy_to(tmp_path / "export"), "--database-url", target_url) == 0
    importing_server = LiveServer(target, Settings(auth_disabled=True, subscription_delivery=False))
    importing_server.start()
    try:
        with (
            httpx.Client(base_url=exporting_server.url) as source,
            httpx.Client(base_url=importing_server.url) as copy,
        ):
            child = next(key for key in demo_export.resources() if key.startswith("Patient/"))
            for path in [f"/{kind}?_summary=count" for kind in demo_export.counts] + [f"/Goal?patient={child}"]:
                expected, found = source.get(path).json(), copy.get(path).json()
                assert found["total"] == expected["total"], path
                assert ids(found) == ids(expected), path
    finally:
        importing_server.stop()


def ids(bundle: Resource) -> set[str]:
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


def test_every_imported_resource_is_attributed_to_the_import(
    demo_export: Export, tmp_path: Path, target_url: str, target: SqlRepository
) -> None:
    files = demo_export.copy_to(tmp_path / "export")
    assert run_import(*files, "--database-url", target_url, "--operator", "Practitioner/migrator") == 0
    provenance = attribution(target)
    assert sorted(target["reference"] for item in provenance for target in item["target"]) == sorted(
        f"{key}/_history/1" for key in demo_export.resources()
    )
    sources = {entity["what"]["identifier"]["value"] for item in provenance for entity in item["entity"]}
    assert sources <= {file.resolve().as_uri() for file in files}
    authors = {agent["who"].get("reference") for item in provenance for agent in item["agent"]}
    assert "Practitioner/migrator" in authors


# -- rejected lines ----------------------------------------------------------------------------------------


def test_rejected_lines_are_reported_with_their_line_and_expression(
    tmp_path: Path, target_url: str, target: SqlRepository, capsys: pytest.CaptureFixture[str]
) -> None:
    file = ndjson(
        tmp_path / "mixed.ndjson",
        goal("g-ok"),
        goal("g-bogus", status="bogus"),
        '{"resourceType": "Goal", "id": ',
        {"resourceType": "Colour", "id": "blue"},
        {"resourceType": "Goal", "lifecycleStatus": "active"},
        "",
        goal("g-orphan", subject="Patient/nobody"),
        PATIENT,
    )
    assert run_import(file, "--database-url", target_url) == 1
    out = capsys.readouterr().out
    assert "loaded 2 (Goal 1, Patient 1)" in out and "rejected 5" in out

    report = {entry["line"]: entry for entry in report_of(tmp_path / "mixed.rejected.ndjson")}
    assert sorted(report) == [2, 3, 4, 5, 7]
    assert report[2]["resourceType"] == "Goal" and report[2]["id"] == "g-bogus"
    assert report[2]["expression"] == ["Goal.lifecycleStatus"] and "bogus" in report[2]["diagnostics"]
    assert "not valid JSON" in report[3]["diagnostics"] and report[3]["resourceType"] is None
    assert report[4]["expression"] == ["resourceType"] and "Colour" in report[4]["diagnostics"]
    assert report[5]["expression"] == ["Goal.id"]
    # Tried again once everything else was loaded, and still refused: no file holds the child it names.
    assert report[7]["expression"] == ["Goal.subject"] and "Patient/nobody" in report[7]["diagnostics"]
    assert all(entry["file"] == str(file) for entry in report.values())
    assert sorted(stored(target)) == ["Goal/g-ok", "Patient/sam"]


def test_references_load_whatever_the_order_of_the_lines_and_files(
    tmp_path: Path, target_url: str, target: SqlRepository
) -> None:
    """A Goal before its child in one file, and an Encounter and a Condition naming each other across two files:
    deferred, then loaded together."""
    encounter = {
        "resourceType": "Encounter",
        "id": "visit",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/sam"},
        "diagnosis": [{"condition": {"reference": "Condition/cp"}}],
    }
    condition = {
        "resourceType": "Condition",
        "id": "cp",
        "code": {"text": "Cerebral palsy"},
        "subject": {"reference": "Patient/sam"},
        "encounter": {"reference": "Encounter/visit"},
    }
    files = [
        ndjson(tmp_path / "record.ndjson", goal("g1"), PATIENT),
        ndjson(tmp_path / "Encounter.ndjson", encounter),
        ndjson(tmp_path / "Condition.ndjson", condition),
    ]
    assert run_import(*files, "--database-url", target_url, "--batch-size", "1") == 0
    assert sorted(stored(target)) == ["Condition/cp", "Encounter/visit", "Goal/g1", "Patient/sam"]
    assert report_of(tmp_path / "record.rejected.ndjson") == []


# -- resuming ----------------------------------------------------------------------------------------------


class Interrupted(Exception):
    pass


def test_an_interrupted_import_resumes_without_writing_anything_twice(
    demo_export: Export,
    tmp_path: Path,
    target_url: str,
    target: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = demo_export.copy_to(tmp_path / "export")
    process = BundleProcessor.process
    calls = 0

    def crashing(self: BundleProcessor, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The fourth batch is committed, and the process dies before the state file says so."""
        nonlocal calls
        calls += 1
        result = process(self, *args, **kwargs)
        if calls >= 4:
            raise Interrupted
        return result

    monkeypatch.setattr(BundleProcessor, "process", crashing)
    with pytest.raises(Interrupted):
        run_import(*files, "--database-url", target_url, "--batch-size", "10")
    monkeypatch.setattr(BundleProcessor, "process", process)
    partly = stored(target)
    assert 0 < len(partly) < sum(demo_export.counts.values())
    capsys.readouterr()

    assert run_import(*files, "--database-url", target_url, "--batch-size", "10") == 0
    out = capsys.readouterr().out
    # The batch committed but not recorded is read again, and found in the store: not written again.
    assert "resumed: " in out and int(re.findall(r"skipped (\d+) ", out)[0]) >= 1
    assert stored(target) == {key: without_version(resource) for key, resource in demo_export.resources().items()}
    assert set(versions_per_resource(target).values()) == {1}

    assert run_import(*files, "--database-url", target_url) == 0  # once more: nothing to do
    assert "loaded 0\n" in capsys.readouterr().out
    assert set(versions_per_resource(target).values()) == {1}


def test_a_file_changed_since_is_imported_again_from_its_first_line(
    tmp_path: Path, target_url: str, target: SqlRepository, capsys: pytest.CaptureFixture[str]
) -> None:
    file = ndjson(tmp_path / "Goal.ndjson", PATIENT, goal("g1"))
    assert run_import(file, "--database-url", target_url) == 0
    ndjson(file, PATIENT, goal("g1"), goal("g2", status="completed"))
    assert run_import(file, "--database-url", target_url) == 0
    assert "loaded 1 (Goal 1)\nrejected 0, skipped 2" in capsys.readouterr().out
    assert sorted(stored(target)) == ["Goal/g1", "Goal/g2", "Patient/sam"]
    assert set(versions_per_resource(target).values()) == {1}


# -- the command line --------------------------------------------------------------------------------------


def test_the_command_imports_in_a_process_of_its_own(tmp_path: Path, target_url: str, target: SqlRepository) -> None:
    file = ndjson(tmp_path / "Patient.ndjson", PATIENT, goal("g1"), goal("g2", status="bogus"))
    report, state = tmp_path / "out" / "rejected.ndjson", tmp_path / "out" / "state.json"
    report.parent.mkdir()
    clean = {name: value for name, value in os.environ.items() if not name.startswith("FHIRBRIDGE_")}
    options = ["--report", str(report), "--state", str(state)]
    result = subprocess.run(
        [sys.executable, "-m", "fhirbridge.cli", "import", str(file), "--database-url", target_url, *options],
        env=clean,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 1, result.stderr  # a line was rejected
    assert result.stdout.splitlines()[:2] == [
        "loaded 2 (Goal 1, Patient 1)",
        "rejected 1, skipped 0 (already in the store as the file has them)",
    ]
    assert result.stderr == ""  # no progress bar when not on a terminal
    assert [entry["line"] for entry in report_of(report)] == [3]
    assert orjson.loads(state.read_bytes())["files"][str(file.resolve())]["committed"] == 3
    assert sorted(stored(target)) == ["Goal/g1", "Patient/sam"]


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_import(tmp_path / "nowhere.ndjson", "--database-url", f"sqlite:///{tmp_path / 'x.sqlite3'}") == 2
    assert capsys.readouterr().err.strip() == f"fhirbridge import: no such file: {tmp_path / 'nowhere.ndjson'}"
