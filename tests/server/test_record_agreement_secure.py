"""A new child's record kept by a coordinator, an EHR and an agency at once, each with its own token,
over real HTTP with authentication on (care-team mode, as deployed), on each storage backend.

The coordinator keeps the record through ``/coordination``; the EHR and the agency work over FHIR. The
coordinator's stale write is refused rather than undoing the EHR's change, writing the record back
unchanged makes no new version of anything, and a referral the agency moved over FHIR is in the
record's history, by the agency, so the record read back writes back.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.security.conftest import client_as, token_for

CHILD = "noor-secure"
RECORD = f"/coordination/children/{CHILD}"
PRACTICE = "riverside-peds"
AGENCY = "sunrise-ei"
COORDINATOR = "Practitioner/coord-kim"
JSON = {"Content-Type": "application/json"}


def ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), response.text
    return response.json()


def the_new_childs_record(registered: dict[str, Any]) -> dict[str, Any]:
    """What the coordinator's tool adds to the record of a child the practice has just registered."""
    record = dict(registered)
    record["family"] = [{"id": "noor-mom", "given_names": ["Rana"], "family_name": "Haddad", "relationship": "MTH"}]
    record["organizations"] = [
        *registered["organizations"],
        {"id": AGENCY, "name": "Sunrise Early Intervention", "kind": "early-intervention"},
        {"id": "valley-medicaid", "name": "Valley Medicaid Plan", "kind": "payer"},
    ]
    record["care_teams"] = [
        {
            "id": "noor-team",
            "name": "Medical home team",
            "members": [
                {"id": "coord-kim", "name": "Kim Park", "role": "care-coordinator", "organization_id": PRACTICE},
                {"id": "dr-lee", "name": "Ana Lee", "role": "specialist"},
            ],
        },
        {"id": "noor-cardio", "name": "Cardiology", "members": [{"id": "dr-lee", "name": "Ana Lee", "role": "other"}]},
    ]
    record["goals"] = [{"id": "noor-walk", "description": "Noor walks across the room", "expressed_by_id": "noor-mom"}]
    record["referrals"] = [
        {
            "id": "noor-ei",
            "service": "Early intervention evaluation",
            "recipient_id": AGENCY,
            "requester_id": "coord-kim",
            "status": "requested",
            "history": [{"status": "requested", "at": "2025-03-03T09:00:00Z"}],
        }
    ]
    record["consents"] = [
        {
            "id": "noor-consent-ei",
            "granted_by_id": "noor-mom",
            "recipient_id": AGENCY,
            "information": ["referrals"],
            "signed_on": "2025-03-03",
        }
    ]
    return record


def history_totals(http: httpx.Client, keys: list[str]) -> dict[str, int]:
    return {key: ok(http.get(f"/{key}/_history"))["total"] for key in keys}


def test_coordinator_ehr_and_agency_keep_one_record(secure_server: LiveServer) -> None:
    ehr = client_as(secure_server, token_for("ehr-system", org=PRACTICE))
    coordinator = client_as(secure_server, token_for("care-coordinator", org=PRACTICE, user=COORDINATOR))
    agency = client_as(secure_server, token_for("referral-partner", org=AGENCY))
    with ehr, coordinator, agency:
        # The practice registers the child (its EHR names itself the managing organization).
        ok(
            ehr.put(
                f"/Organization/{PRACTICE}", json={"resourceType": "Organization", "id": PRACTICE, "name": "Riverside"}
            ),
            201,
        )
        patient = {
            "resourceType": "Patient",
            "id": CHILD,
            "name": [{"family": "Haddad", "given": ["Noor"]}],
            "managingOrganization": {"reference": f"Organization/{PRACTICE}"},
        }
        ok(ehr.put(f"/Patient/{CHILD}", json=patient), 201)

        # The coordinator writes the new child's record.
        registered = coordinator.get(RECORD)
        record = the_new_childs_record(ok(registered))
        first = coordinator.put(RECORD, json=record, headers={"If-Match": registered.headers["ETag"]})
        ok(first)
        assert [o["id"] for o in first.json()["organizations"]] == [PRACTICE, AGENCY, "valley-medicaid"]
        assert ok(ehr.get(f"/Patient/{CHILD}"))["managingOrganization"] == patient["managingOrganization"]

        # The EHR reports progress on the goal while the coordinator holds the record as it was.
        stale = coordinator.get(RECORD)
        goal = ok(ehr.get("/Goal/noor-walk"))
        goal["achievementStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/goal-achievement", "code": "improving"}]
        }
        goal["note"] = [{"text": "Walked four steps at the clinic visit"}]
        ok(ehr.put("/Goal/noor-walk", json=goal))

        edited = ok(stale)
        edited["goals"][0]["measure"] = "Ten steps without support"
        refused = coordinator.put(RECORD, json=edited, headers={"If-Match": stale.headers["ETag"]})
        assert refused.status_code == 412, refused.text

        fresh = coordinator.get(RECORD)
        edited = ok(fresh)
        assert edited["goals"][0]["achievement"] == "improving"
        edited["goals"][0]["measure"] = "Ten steps without support"
        ok(coordinator.put(RECORD, json=edited, headers={"If-Match": fresh.headers["ETag"]}))
        goal = ok(ehr.get("/Goal/noor-walk"))
        assert goal["target"][0]["measure"]["text"] == "Ten steps without support"
        assert goal["achievementStatus"]["coding"][0]["code"] == "improving"
        assert [note["text"] for note in goal["note"]] == ["Walked four steps at the clinic visit"]

        # Writing the record back unchanged makes no new version of anything.
        everything = ok(coordinator.get(f"/Patient/{CHILD}/$everything", params={"_count": 500}))
        keys = sorted(
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in everything["entry"]
            if e["resource"]["resourceType"] != "Provenance"
        )
        assert {
            "Patient/" + CHILD,
            "Practitioner/dr-lee",
            f"Organization/{AGENCY}",
            "List/noor-secure-organizations",
        } <= set(keys)
        before = history_totals(coordinator, keys)
        current = coordinator.get(RECORD)
        again = coordinator.put(RECORD, content=current.content, headers={**JSON, "If-Match": current.headers["ETag"]})
        ok(again)
        assert again.headers["ETag"] == current.headers["ETag"]
        assert history_totals(coordinator, keys) == before

        # The agency accepts the referral over FHIR; the record read back has the move and writes back.
        task = ok(agency.get("/Task/noor-ei-task"))
        task["status"] = "accepted"
        ok(agency.put("/Task/noor-ei-task", json=task))
        current = coordinator.get(RECORD)
        (referral,) = ok(current)["referrals"]
        assert referral["status"] == "accepted"
        assert [change["status"] for change in referral["history"]] == ["requested", "accepted"]
        # Who: the author of the Task version's Provenance (the agency's client), for the agency.
        note = referral["history"][-1]["note"]
        assert (
            note
            == f"changed over FHIR by referral-partner-client for Sunrise Early Intervention (Organization/{AGENCY})"
        )
        again = coordinator.put(RECORD, content=current.content, headers={**JSON, "If-Match": current.headers["ETag"]})
        ok(again)
        assert again.json()["referrals"][0]["history"] == referral["history"]
