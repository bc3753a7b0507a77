"""The whole care-coordination cycle for a new child, as deployed (authentication on, care-team mode), each
party with its own token, the coordinator on ``/coordination`` and everyone else on FHIR, interleaved:
intake, screening, assessment, plan, a referral the agency closes, an EHR editing a goal while the
coordinator edits the record, a review that takes the child off the overdue list, and a plan revision
whose history shows only what changed. No 422 lock-outs, no lost updates, no identical versions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.assessment.builders import answered, screened
from tests.conftest import LiveServer
from tests.security.conftest import client_as, token_for

CHILD = "maya"
RECORD = f"/coordination/children/{CHILD}"
PRACTICE = "riverside-peds"
AGENCY = "sunrise-ei"
COORDINATOR = "Practitioner/coordinator-lee"
JSON = {"Content-Type": "application/json"}


def ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), response.text
    return response.json()


def put_record(http: httpx.Client, record: dict[str, Any], etag: str) -> httpx.Response:
    return http.put(RECORD, json=record, headers={**JSON, "If-Match": etag})


def overdue(http: httpx.Client) -> list[str]:
    worklist = ok(http.get("/CarePlan/$overdue-reviews"))
    return [
        parameter["valueReference"]["reference"]
        for entry in worklist.get("entry", [])
        for parameter in entry["resource"]["parameter"]
        if parameter["name"] == "carePlan"
    ]


def versions(http: httpx.Client, keys: list[str]) -> dict[str, int]:
    return {key: ok(http.get(f"/{key}/_history"))["total"] for key in keys}


def test_one_child_through_the_whole_cycle(secure_server: LiveServer) -> None:
    ehr = client_as(secure_server, token_for("ehr-system", org=PRACTICE))
    coordinator = client_as(secure_server, token_for("care-coordinator", org=PRACTICE, user=COORDINATOR))
    agency = client_as(secure_server, token_for("referral-partner", org=AGENCY))
    with ehr, coordinator, agency:
        # Intake: the practice's EHR registers Maya; the coordinator's tool writes her record.
        for resource in (
            {"resourceType": "Organization", "id": PRACTICE, "name": "Riverside Pediatrics"},
            {
                "resourceType": "Patient",
                "id": CHILD,
                "name": [{"given": ["Maya"], "family": "Okafor"}],
                "managingOrganization": {"reference": f"Organization/{PRACTICE}"},
            },
        ):
            ok(ehr.put(f"/{resource['resourceType']}/{resource['id']}", json=resource), 201)
        registered = coordinator.get(RECORD)
        record = ok(registered)
        record["family"] = [
            {"id": "maya-mother", "given_names": ["Ada"], "family_name": "Okafor", "relationship": "MTH"}
        ]
        record["organizations"] = [
            *record["organizations"],
            {"id": AGENCY, "name": "Sunrise Early Intervention", "kind": "early-intervention"},
        ]
        record["care_teams"] = [
            {
                "id": "maya-team",
                "name": "Medical home team",
                "members": [
                    {
                        "id": "coordinator-lee",
                        "name": "Sam Lee",
                        "role": "care-coordinator",
                        "organization_id": PRACTICE,
                    }
                ],
            }
        ]
        intake = put_record(coordinator, record, registered.headers["ETag"])
        ok(intake)

        # Screening says a full assessment is needed; the assessment sets the complexity level.
        screening = ok(coordinator.post("/QuestionnaireResponse", json=screened(screen_family_request=True)), 201)
        decision = ok(coordinator.post(f"/QuestionnaireResponse/{screening['id']}/$assess"))
        needs = {p["name"]: p for p in decision["parameter"]}
        assert needs["needsFullAssessment"]["valueBoolean"] is True
        assessment = ok(coordinator.post("/QuestionnaireResponse", json=answered()), 201)
        assessed = ok(coordinator.post(f"/QuestionnaireResponse/{assessment['id']}/$assess"))
        assert any(p["name"] == "complexity" for p in assessed["parameter"])

        # The plan: a care plan, a goal, a referral to the agency; due for review since long ago.
        current = coordinator.get(RECORD)
        record = ok(current)
        assert [a.get("fhir_id") or a["id"] for a in record["assessments"]] == [assessment["id"]]
        record["care_plans"] = [{"id": "maya-plan", "title": "Maya's plan of care", "period_start": "2026-01-05"}]
        record["goals"] = [
            *record["goals"],
            {"id": "maya-talk", "description": "Maya uses ten words", "expressed_by_id": "maya-mother"},
        ]
        record["referrals"] = [
            {
                "id": "maya-ei",
                "service": "Early intervention evaluation",
                "recipient_id": AGENCY,
                "requester_id": "coordinator-lee",
                "status": "requested",
                "history": [{"status": "requested", "at": "2026-03-03T09:00:00Z"}],
            }
        ]
        record["consents"] = [
            {
                "id": "maya-consent-ei",
                "granted_by_id": "maya-mother",
                "recipient_id": AGENCY,
                "information": ["referrals"],
                "signed_on": "2026-03-03",
            }
        ]
        planned = put_record(coordinator, record, current.headers["ETag"])
        ok(planned)
        assert overdue(coordinator) == ["CarePlan/maya-plan"]

        # The agency works the referral over FHIR, with its own token, and closes it.
        task = ok(agency.get("/Task/maya-ei-task"))
        for status in ("accepted", "in-progress", "completed"):
            task["status"] = status
            task = ok(agency.put("/Task/maya-ei-task", json=task))
        assert ok(coordinator.get("/ServiceRequest/maya-ei"))["status"] == "completed"

        # The EHR notes progress on the goal while the coordinator edits the record it read before.
        stale = coordinator.get(RECORD)
        goal = ok(ehr.get("/Goal/maya-talk"))
        goal["note"] = [{"text": "Said six words at the visit"}]
        ok(ehr.put("/Goal/maya-talk", json=goal))
        edited = ok(stale)
        assert edited["referrals"][0]["status"] == "completed"  # the agency's moves are in the record
        edited["goals"][-1]["measure"] = "Ten words a day"
        assert put_record(coordinator, edited, stale.headers["ETag"]).status_code == 412
        fresh = coordinator.get(RECORD)
        edited = ok(fresh)
        edited["goals"][-1]["measure"] = "Ten words a day"
        ok(put_record(coordinator, edited, fresh.headers["ETag"]))
        goal = ok(ehr.get("/Goal/maya-talk"))
        assert [note["text"] for note in goal["note"]] == ["Said six words at the visit"]

        # A review today takes the plan off the overdue list.
        today = datetime.now(UTC).date().isoformat()
        review = {"id": "maya-review-1", "reviewed_on": today, "plan_id": "maya-plan", "outcome": "Reviewed"}
        reviews = coordinator.get(f"{RECORD}/reviews")
        written = coordinator.put(
            f"{RECORD}/reviews", json=[review], headers={**JSON, "If-Match": reviews.headers["ETag"]}
        )
        ok(written)
        assert overdue(coordinator) == []

        # A plan revision changes one goal: only that Goal gets a new version.
        everything = ok(coordinator.get(f"/Patient/{CHILD}/$everything", params={"_count": 500}))
        keys = sorted(
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in everything["entry"]
            if e["resource"]["resourceType"] not in ("Provenance", "AuditEvent")
        )
        before = versions(coordinator, keys)
        current = coordinator.get(RECORD)
        record = ok(current)
        record["goals"][-1]["description"] = "Maya uses twenty words"
        ok(put_record(coordinator, record, current.headers["ETag"]))
        after = versions(coordinator, keys)
        changed = sorted(key for key in keys if after[key] != before[key])
        assert changed == ["Goal/maya-talk"]
        assert after["Goal/maya-talk"] == before["Goal/maya-talk"] + 1
