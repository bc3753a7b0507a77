"""Bulk Data export over real HTTP, on both backends: kick-off, polling, files, cancellation, expiry, and
an export holding exactly what its caller may read (docs/bulk-export.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from fhirbridge.classification import SHARED_INFORMATION
from fhirbridge.storage.clock import now_micros
from fhirbridge.storage.export_jobs import export_jobs
from tests.conftest import LiveServer
from tests.factories import care_plan, goal, observation, organization
from tests.security import records
from tests.security.conftest import (
    CHILD,
    OTHER_CHILD,
    PAYER,
    client_as,
    logged_events,
    put,
    secure_settings,
    store,
    token_for,
)

ASYNC = {"Prefer": "respond-async"}
Resource = dict[str, Any]


@pytest.fixture
def ehr(secure_server: LiveServer) -> Iterator[httpx.Client]:
    """The medical home's EHR (treating both children), with Ana's and Ben's records stored."""
    store(
        secure_server,
        organization(records.PRACTICE),
        organization(PAYER),
        *(
            resource
            for child, prefix in ((CHILD, "ana"), (OTHER_CHILD, "ben"))
            for resource in (
                records.practice_child(child),
                goal(f"{prefix}-goal", child),
                care_plan(f"{prefix}-plan", child),
                observation(f"{prefix}-weight", child),
                records.behavioral_condition(f"{prefix}-autism", child),
            )
        ),
    )
    with client_as(secure_server, token_for("ehr-system", org=records.PRACTICE)) as http:
        yield http


@pytest.fixture
def payer(secure_server: LiveServer) -> Iterator[httpx.Client]:
    with client_as(secure_server, token_for("payer-case-manager", org=PAYER)) as http:
        yield http


def kick_off(http: httpx.Client, path: str, **params: str) -> str:
    response = http.get(path, params=params, headers=ASYNC)
    assert response.status_code == 202, response.text
    return response.headers["content-location"]


def wait_for(http: httpx.Client, status_url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(status_url)
        if response.status_code == 200:
            manifest: dict[str, Any] = response.json()
            return manifest
        assert response.status_code == 202, response.text
        assert response.headers["retry-after"] and response.headers["x-progress"]
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.2)


def files(http: httpx.Client, manifest: dict[str, Any]) -> dict[str, list[Resource]]:
    """Each output type's resources, downloaded; checks each file holds what the manifest counts."""
    found: dict[str, list[Resource]] = {}
    for item in manifest["output"]:
        response = http.get(item["url"])
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [orjson.loads(line) for line in response.content.splitlines()]
        assert len(lines) == item["count"]
        assert {line["resourceType"] for line in lines} == {item["type"]}
        found[item["type"]] = lines
    return found


def ids(found: dict[str, list[Resource]]) -> set[str]:
    return {f"{kind}/{resource['id']}" for kind, resources in found.items() for resource in resources}


def test_a_system_export_round_trip(secure_server: LiveServer, ehr: httpx.Client) -> None:
    status_url = kick_off(ehr, "/$export", _type="Patient,Goal,Observation")
    manifest = wait_for(ehr, status_url)
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/$export?_type=Patient%2CGoal%2CObservation")
    assert manifest["error"] == []
    assert ids(files(ehr, manifest)) == {
        f"Patient/{CHILD}",
        f"Patient/{OTHER_CHILD}",
        "Goal/ana-goal",
        "Goal/ben-goal",
        "Observation/ana-weight",
        "Observation/ben-weight",
    }


def test_a_payers_export_holds_only_what_its_consent_shares(ehr: httpx.Client, payer: httpx.Client) -> None:
    goals_only = records.consent("ana-consent", CHILD, PAYER)
    goals_only["provision"]["class"] = [{"system": SHARED_INFORMATION, "code": "goals"}]
    put(ehr, goals_only)
    for path in ("/$export", "/Patient/$export"):
        manifest = wait_for(payer, kick_off(payer, path))
        # Its scopes reach Patient, CarePlan, Goal, Observation, Condition and CareTeam; Ana's Consent shares
        # her goals (and her Patient); nothing of Ben's, and the counts say so too. A system-level export
        # also holds the directory its scopes open (Organizations), which is nobody's record.
        children = {f"Patient/{CHILD}", "Goal/ana-goal"}
        directory = {f"Organization/{records.PRACTICE}", f"Organization/{PAYER}"} if path == "/$export" else set()
        assert ids(files(payer, manifest)) == children | directory, path
        counts = {item["type"]: item["count"] for item in manifest["output"]}
        assert counts == {"Patient": 1, "Goal": 1, **({"Organization": 2} if directory else {})}


def test_a_family_exports_its_own_child(secure_server: LiveServer, ehr: httpx.Client) -> None:
    with client_as(secure_server, token_for("family", patient=CHILD)) as family:
        found = files(family, wait_for(family, kick_off(family, "/Patient/$export")))
    assert found and all(
        resource["id"] == CHILD
        or resource.get("subject", resource.get("for", {})).get("reference") == f"Patient/{CHILD}"
        for resources in found.values()
        for resource in resources
    )
    assert "Observation/ana-weight" in ids(found) and "Observation/ben-weight" not in ids(found)


def test_type_since_and_type_filter(secure_server: LiveServer, ehr: httpx.Client) -> None:
    # _since is the server's clock: the instant a write was stored, and only what changed after it.
    since = put(ehr, goal("ben-goal", OTHER_CHILD))["meta"]["lastUpdated"]
    time.sleep(0.01)
    put(ehr, {**goal("ana-goal", CHILD), "lifecycleStatus": "completed"})
    manifest = wait_for(ehr, kick_off(ehr, "/$export", _type="Goal,Observation", _since=since))
    assert ids(files(ehr, manifest)) == {"Goal/ana-goal"}

    filtered = kick_off(
        ehr,
        "/$export",
        _type="Goal,Observation",
        _typeFilter=f"Goal?lifecycle-status=active,Observation?subject=Patient/{OTHER_CHILD}",
    )
    assert ids(files(ehr, wait_for(ehr, filtered))) == {"Goal/ben-goal", "Observation/ben-weight"}

    # Two filters for one type are alternatives; a resource matching both is written once.
    either = ehr.get(
        "/$export",
        params=[
            ("_type", "Goal"),
            ("_typeFilter", "Goal?lifecycle-status=completed"),
            ("_typeFilter", "Goal?_id=ana-goal,ben-goal"),
        ],
        headers=ASYNC,
    )
    assert either.status_code == 202, either.text
    manifest = wait_for(ehr, either.headers["content-location"])
    assert [item["count"] for item in manifest["output"]] == [2]


def test_a_group_export_holds_its_members(ehr: httpx.Client, payer: httpx.Client) -> None:
    group = {
        "resourceType": "Group",
        "id": "ana-caseload",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{CHILD}"}}],
    }
    put(ehr, group)
    found = files(ehr, wait_for(ehr, kick_off(ehr, "/Group/ana-caseload/$export", _type="Patient,Goal")))
    assert ids(found) == {f"Patient/{CHILD}", "Goal/ana-goal"}

    # A payer shared nothing about Ana cannot see her Group: the kick-off answers as for no Group at all.
    refused = payer.get("/Group/ana-caseload/$export", headers=ASYNC)
    assert refused.status_code in (403, 404), refused.text
    assert payer.get("/Group/nobody/$export", headers=ASYNC).status_code in (403, 404)


def test_only_its_caller_sees_a_job(secure_server: LiveServer, ehr: httpx.Client) -> None:
    status_url = kick_off(ehr, "/$export", _type="Goal")
    manifest = wait_for(ehr, status_url)
    with client_as(secure_server, token_for("ehr-system", org="another-hospital")) as other:
        assert other.get(status_url).status_code == 404
        assert other.get(manifest["output"][0]["url"]).status_code == 404
        assert other.delete(status_url).status_code == 404
    anonymous = httpx.get(status_url)
    assert anonymous.status_code == 401
    assert ehr.get(status_url).status_code == 200  # still there for its owner


def test_another_server_process_answers_for_the_job(secure_server: LiveServer, ehr: httpx.Client) -> None:
    """Jobs live in the database and files in the shared directory: a second server on the same store that
    runs no exports itself (as another worker process would) answers the status and the files."""
    settings = secure_server.app.services.settings
    other = LiveServer(secure_server.repository, secure_settings(export_dir=settings.export_dir, export_workers=0))
    other.start()
    try:
        status_url = kick_off(ehr, "/$export", _type="Goal").replace(secure_server.url, other.url)
        with client_as(other, token_for("ehr-system", org=records.PRACTICE)) as there:
            manifest = wait_for(there, status_url)
            assert manifest["output"][0]["url"].startswith(other.url)
            assert ids(files(there, manifest)) == {"Goal/ana-goal", "Goal/ben-goal"}
    finally:
        other.stop()


def test_cancel_removes_the_job_and_its_files(secure_server: LiveServer, ehr: httpx.Client) -> None:
    status_url = kick_off(ehr, "/$export", _type="Goal")
    manifest = wait_for(ehr, status_url)
    file_url = manifest["output"][0]["url"]
    assert ehr.get(file_url).status_code == 200
    job_id = status_url.split("_jobId=")[1]
    directory = secure_server.app.services.bulk_export.files.directory(job_id)
    assert directory.is_dir()
    cancelled = ehr.delete(status_url)
    assert cancelled.status_code == 202, cancelled.text
    assert ehr.get(status_url).status_code == 404
    assert ehr.get(file_url).status_code == 404
    assert not directory.exists()
    events = logged_events(secure_server)
    details = [entity.get("what", {}).get("display", "") for event in events for entity in event.get("entity", [])]
    assert f"bulk export {job_id}" in details and f"bulk export {job_id} file Goal.ndjson" in details
    download = next(
        e for e in events if any("file Goal.ndjson" in x.get("what", {}).get("display", "") for x in e["entity"])
    )
    # The download's AuditEvent names the children whose data left with it.
    assert {x.get("what", {}).get("reference") for x in download["entity"]} >= {
        f"Patient/{CHILD}",
        f"Patient/{OTHER_CHILD}",
    }


def test_finished_files_expire(secure_server: LiveServer, ehr: httpx.Client) -> None:
    status_url = kick_off(ehr, "/$export", _type="Goal")
    file_url = wait_for(ehr, status_url)["output"][0]["url"]
    job_id = status_url.split("_jobId=")[1]
    with secure_server.repository.write() as tx:  # as if the retention had passed
        tx.connection().execute(export_jobs.update().where(export_jobs.c.id == job_id).values(expires=now_micros()))
    assert ehr.get(status_url).status_code == 404
    assert ehr.get(file_url).status_code == 404
    export = secure_server.app.services.bulk_export
    directory = export.files.directory(job_id)
    # The workers remove expired files between jobs; one round of that housekeeping is run here, as the
    # server's own threads may be busy with another test's export on a loaded machine.
    export.worker.run_once()
    assert not directory.exists()


def test_an_interrupted_job_is_run_again(secure_server: LiveServer, ehr: httpx.Client) -> None:
    status_url = kick_off(ehr, "/$export", _type="Goal")
    wait_for(ehr, status_url)
    job_id = status_url.split("_jobId=")[1]
    with secure_server.repository.write() as tx:  # as a process that died mid-export leaves it
        tx.connection().execute(
            export_jobs.update()
            .where(export_jobs.c.id == job_id)
            .values(state="running", worker="gone", heartbeat=0, expires=None, outputs=None)
        )
    manifest = wait_for(ehr, status_url)
    assert [item["count"] for item in manifest["output"]] == [2]
    with secure_server.repository.connect() as conn:
        assert conn.execute(sa.select(export_jobs.c.attempts).where(export_jobs.c.id == job_id)).scalar() == 2


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"_outputFormat": "text/csv"}, "_outputFormat"),
        ({"_since": "yesterday"}, "_since"),
        ({"_type": "Nonsense"}, "_type"),
        ({"_elements": "id"}, "_elements"),
        ({"color": "blue"}, "color"),
        ({"_typeFilter": "Goal"}, "_typeFilter"),
        ({"_typeFilter": "Goal?_count=5"}, "_typeFilter"),
        ({"_typeFilter": "Goal?colour=blue"}, "colour"),
        ({"_type": "Goal", "_typeFilter": "Observation?status=final"}, "_typeFilter"),
        ({"_typeFilter": "Nonsense?status=final"}, "_typeFilter"),
    ],
)
def test_bad_parameters_are_refused(
    secure_server: LiveServer, ehr: httpx.Client, params: dict[str, str], expression: str
) -> None:
    response = ehr.get("/$export", params=params, headers=ASYNC)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [expression]


def test_kick_off_needs_respond_async_and_lenient_handling_ignores(
    secure_server: LiveServer, ehr: httpx.Client
) -> None:
    refused = ehr.get("/$export")
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == ["Prefer"]
    lenient = ehr.get(
        "/$export", params={"_type": "Goal", "color": "blue"}, headers={"Prefer": "respond-async, handling=lenient"}
    )
    assert lenient.status_code == 202, lenient.text
    manifest = wait_for(ehr, lenient.headers["content-location"])
    assert [item["type"] for item in manifest["output"]] == ["Goal"]
    (error,) = manifest["error"]
    warnings = ehr.get(error["url"]).content.splitlines()
    assert error["type"] == "OperationOutcome" and len(warnings) == error["count"] == 1
    assert "color" in orjson.loads(warnings[0])["issue"][0]["diagnostics"]


def test_a_scope_that_does_not_reach_a_type_is_refused(payer: httpx.Client) -> None:
    response = payer.get("/$export", params={"_type": "Task"}, headers=ASYNC)
    assert response.status_code == 403, response.text


def test_the_capability_statement_declares_export(secure_server: LiveServer) -> None:
    statement = httpx.get(f"{secure_server.url}/metadata").json()
    rest = statement["rest"][0]
    assert {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"} in rest[
        "operation"
    ]
    by_type = {resource["type"]: resource for resource in rest["resource"]}
    for kind in ("Patient", "Group"):
        assert "export" in {operation["name"] for operation in by_type[kind]["operation"]}
