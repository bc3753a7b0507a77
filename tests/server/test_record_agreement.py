"""The record API and the FHIR API agree on one child, whichever side changes it: over real HTTP, on each
storage backend.

Each test pins down a finding of the issue: a status moved over FHIR locked the record out of writes; a
stale record silently undid an EHR's change; writing a record back rewrote every resource; organizations
no team member refers to vanished; a practitioner on two care teams blocked writing the record back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fhirbridge.domain import (
    CareTeam,
    Child,
    FamilyMember,
    Goal,
    Organization,
    Record,
    Referral,
    StatusChange,
    TeamMember,
    record_to_json,
)
from fhirbridge.errors import PreconditionFailed
from fhirbridge.security.access import SYSTEM_ACCESS
from tests.conftest import LiveServer

CHILD = "noor"
RECORD = f"/coordination/children/{CHILD}"
SENT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json"}


def noor() -> Record:
    lee = TeamMember(id="dr-lee", name="Ana Lee", role="specialist", phone="555-0100")
    return Record(
        child=Child(id=CHILD, given_names=["Noor"], family_name="Haddad"),
        family=[FamilyMember(id="noor-mom", given_names=["Rana"], family_name="Haddad", relationship="MTH")],
        organizations=[
            Organization(id="riverside", name="Riverside Pediatrics", kind="medical-home"),
            Organization(id="sunrise", name="Sunrise Early Intervention", kind="early-intervention"),
            Organization(id="valley-medicaid", name="Valley Medicaid Plan", kind="payer"),
            Organization(id="lincoln-school", name="Lincoln Elementary", kind="school"),
            Organization(id="homecare", name="HomeCare Supplies", kind="equipment-supplier"),
        ],
        care_teams=[
            CareTeam(
                id="noor-team",
                name="Medical home team",
                members=[
                    TeamMember(id="coord-kim", name="Kim Park", role="care-coordinator", organization_id="riverside"),
                    lee,
                ],
            ),
            CareTeam(
                id="noor-cardio",
                name="Cardiology",
                members=[lee.model_copy(update={"role": "other", "role_text": "pediatric cardiologist"})],
            ),
        ],
        goals=[Goal(id="noor-walk", description="Noor walks across the room", expressed_by_id="noor-mom")],
        referrals=[
            Referral(
                id="noor-ei",
                service="Early intervention evaluation",
                recipient_id="sunrise",
                requester_id="coord-kim",
                status="requested",
                history=[StatusChange(status="requested", at=SENT)],
            )
        ],
    )


def put_record(client: httpx.Client, body: bytes, **headers: str) -> httpx.Response:
    return client.put(RECORD, content=body, headers={**JSON, **headers})


def written(client: httpx.Client) -> httpx.Response:
    response = put_record(client, record_to_json(noor()))
    assert response.status_code == 200, response.text
    return response


def versions(client: httpx.Client, *keys: str) -> dict[str, int]:
    return {key: client.get(f"/{key}/_history").json()["total"] for key in keys}


def every_resource(client: httpx.Client) -> list[str]:
    everything = client.get(f"/Patient/{CHILD}/$everything", params={"_count": 500}).json()
    return sorted(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in everything["entry"])


def change_over_fhir(client: httpx.Client, key: str, change: Any) -> dict[str, Any]:
    resource = client.get(f"/{key}").json()
    change(resource)
    response = client.put(f"/{key}", json=resource)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- 1. a status moved over FHIR enters the history; the record read back writes back -----------------


@pytest.mark.parametrize(
    ("status", "reason"), [("accepted", None), ("cancelled", "The family moved out of the county")]
)
def test_a_referral_status_moved_over_fhir_enters_the_history_and_the_record_writes_back(
    client: httpx.Client, status: str, reason: str | None
) -> None:
    written(client)

    def move(task: dict[str, Any]) -> None:
        task["status"] = status
        if reason:
            task["statusReason"] = {"text": reason}

    moved = change_over_fhir(client, "Task/noor-ei-task", move)
    record = client.get(RECORD)
    (referral,) = record.json()["referrals"]
    assert referral["status"] == status
    assert [change["status"] for change in referral["history"]] == ["requested", status]
    change = referral["history"][-1]
    assert datetime.fromisoformat(change["at"]) == datetime.fromisoformat(moved["meta"]["lastUpdated"])
    assert "changed over FHIR" in change["note"]
    if reason:
        assert change["note"].startswith(reason)

    again = put_record(client, record.content)
    assert again.status_code == 200, again.text
    assert again.json()["referrals"][0]["history"] == referral["history"]


# -- 2. ETags and If-Match: a stale write fails instead of undoing an EHR's change ---------------------


def test_the_record_and_each_part_carry_an_etag_that_changes_with_their_resources(client: httpx.Client) -> None:
    etag = written(client).headers["ETag"]
    assert client.get(RECORD).headers["ETag"] == etag
    goals, referrals = (client.get(f"{RECORD}/{part}").headers["ETag"] for part in ("goals", "referrals"))
    assert len({etag, goals, referrals}) == 3

    change_over_fhir(client, "Goal/noor-walk", lambda goal: goal.update(lifecycleStatus="on-hold"))
    assert client.get(RECORD).headers["ETag"] != etag
    assert client.get(f"{RECORD}/goals").headers["ETag"] != goals
    assert client.get(f"{RECORD}/referrals").headers["ETag"] == referrals


def ehr_reports_progress(goal: dict[str, Any]) -> None:
    goal["achievementStatus"] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/goal-achievement", "code": "improving"}]
    }
    goal["note"] = [{"text": "Walked four steps at the clinic visit", "time": "2025-03-10T10:00:00Z"}]


def test_a_stale_part_write_is_refused_and_a_fresh_one_keeps_the_ehrs_change(client: httpx.Client) -> None:
    written(client)
    stale = client.get(f"{RECORD}/goals")
    change_over_fhir(client, "Goal/noor-walk", ehr_reports_progress)

    goals = stale.json()
    goals[0]["measure"] = "Ten steps without support"
    refused = client.put(f"{RECORD}/goals", json=goals, headers={"If-Match": stale.headers["ETag"]})
    assert refused.status_code == 412, refused.text
    goal = client.get("/Goal/noor-walk").json()
    assert goal["achievementStatus"]["coding"][0]["code"] == "improving"
    assert goal["note"][0]["text"] == "Walked four steps at the clinic visit"

    fresh = client.get(f"{RECORD}/goals")
    goals = fresh.json()
    assert goals[0]["achievement"] == "improving"
    goals[0]["measure"] = "Ten steps without support"
    updated = client.put(f"{RECORD}/goals", json=goals, headers={"If-Match": fresh.headers["ETag"]})
    assert updated.status_code == 200, updated.text
    assert updated.headers["ETag"] == client.get(f"{RECORD}/goals").headers["ETag"] != fresh.headers["ETag"]
    goal = client.get("/Goal/noor-walk").json()
    assert goal["target"][0]["measure"]["text"] == "Ten steps without support"
    assert goal["achievementStatus"]["coding"][0]["code"] == "improving"
    assert [note["text"] for note in goal["note"]] == ["Walked four steps at the clinic visit"]


def test_a_stale_record_write_is_refused(client: httpx.Client) -> None:
    etag = written(client).headers["ETag"]
    stale = client.get(RECORD).content
    change_over_fhir(client, "Goal/noor-walk", ehr_reports_progress)
    assert put_record(client, stale, **{"If-Match": etag}).status_code == 412
    assert client.get("/Goal/noor-walk").json()["achievementStatus"]["coding"][0]["code"] == "improving"
    fresh = client.get(RECORD)
    assert put_record(client, fresh.content, **{"If-Match": fresh.headers["ETag"]}).status_code == 200
    assert put_record(client, fresh.content, **{"If-Match": "*"}).status_code == 200


def test_if_match_on_a_child_without_a_record_is_refused(client: httpx.Client) -> None:
    response = put_record(client, record_to_json(noor()), **{"If-Match": "*"})
    assert response.status_code == 412
    assert client.get(f"/Patient/{CHILD}").status_code == 404


def test_a_resource_changed_between_reading_and_writing_fails_the_write(
    server: LiveServer, client: httpx.Client
) -> None:
    # The service's own read and its transaction are apart in time: what changes in between is not
    # overwritten, because every resource is written with the version read as its precondition.
    written(client)
    service = server.app.services.coordination
    view = service.read(SYSTEM_ACCESS, CHILD)
    change_over_fhir(client, "Goal/noor-walk", ehr_reports_progress)
    record = view.record.model_copy(deep=True)
    record.goals[0].measure = "Ten steps without support"
    with pytest.raises(PreconditionFailed):
        service._write_changes(SYSTEM_ACCESS, record, view, server.url)
    assert client.get("/Goal/noor-walk").json()["achievementStatus"]["coding"][0]["code"] == "improving"


# -- 3. only what changed is written ------------------------------------------------------------------


def test_writing_a_record_back_unchanged_writes_nothing(client: httpx.Client) -> None:
    written(client)
    keys = every_resource(client)
    before = versions(client, *keys)
    assert set(before.values()) == {1}
    record = client.get(RECORD)
    again = put_record(client, record.content, **{"If-Match": record.headers["ETag"]})
    assert again.status_code == 200, again.text
    assert again.headers["ETag"] == record.headers["ETag"]
    assert put_record(client, record_to_json(noor())).status_code == 200
    part = client.get(f"{RECORD}/family")
    assert client.put(f"{RECORD}/family", json=part.json()).headers["ETag"] == part.headers["ETag"]
    assert versions(client, *keys) == before
    assert every_resource(client) == keys


def test_a_part_write_changes_only_the_resources_whose_content_changed(client: httpx.Client) -> None:
    written(client)
    keys = every_resource(client)
    family = client.get(f"{RECORD}/family").json()
    family[0]["phone"] = "555-0199"
    assert client.put(f"{RECORD}/family", json=family).status_code == 200
    changed = {key for key, total in versions(client, *keys).items() if total > 1}
    assert "RelatedPerson/noor-mom" in changed
    assert changed <= {"RelatedPerson/noor-mom", "CareTeam/noor-team", "Goal/noor-walk"}
    assert "Patient/noor" not in changed


# -- 4. organizations round-trip ----------------------------------------------------------------------


def test_organizations_nobody_refers_to_come_back_in_their_order(client: httpx.Client) -> None:
    names = [organization.name for organization in noor().organizations]
    assert [o["name"] for o in written(client).json()["organizations"]] == names
    assert [o["name"] for o in client.get(f"{RECORD}/organizations").json()] == names
    fewer = client.get(f"{RECORD}/organizations").json()[:2]
    assert client.put(f"{RECORD}/organizations", json=fewer).status_code == 200
    assert [o["name"] for o in client.get(f"{RECORD}/organizations").json()] == names[:2]


# -- 5. the same person on two care teams -------------------------------------------------------------


def test_a_practitioner_on_two_care_teams_writes_back(client: httpx.Client) -> None:
    response = written(client)
    teams = response.json()["care_teams"]
    assert [[member["id"] for member in team["members"]] for team in teams] == [["coord-kim", "dr-lee"], ["dr-lee"]]
    assert put_record(client, client.get(RECORD).content).status_code == 200
    assert client.get("/Practitioner/dr-lee/_history").json()["total"] == 1


def test_a_partners_practitioner_on_two_care_teams_writes_back(client: httpx.Client) -> None:
    # As in HL7's MCC eCare Plan examples: the care teams of a partner name one Practitioner twice.
    def team(id: str, role: str) -> dict[str, Any]:
        return {
            "resourceType": "CareTeam",
            "id": id,
            "status": "active",
            "subject": {"reference": f"Patient/{CHILD}"},
            "participant": [{"role": [{"text": role}], "member": {"reference": "Practitioner/pr-1"}}],
        }

    partner = [
        {"resourceType": "Patient", "id": CHILD, "name": [{"family": "Haddad", "given": ["Noor"]}]},
        {"resourceType": "Practitioner", "id": "pr-1", "name": [{"family": "Lee", "given": ["Ana"]}]},
        team("ct-primary", "primary care"),
        team("ct-renal", "nephrology"),
    ]
    for resource in partner:
        assert client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource).status_code == 201
    record = client.get(RECORD)
    assert [team["members"][0]["id"] for team in record.json()["care_teams"]] == ["pr-1", "pr-1"]
    again = put_record(client, record.content, **{"If-Match": record.headers["ETag"]})
    assert again.status_code == 200, again.text
