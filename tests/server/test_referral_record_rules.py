"""The record's referral rules as a coordinator meets them over /coordination, on both backends.

A referral may be addressed to an Organization the server holds (its directory) before the record
holds it, when the caller may read that Organization; an id that names nothing is refused. A rejected
or cancelled referral says why on its last status change, refused before anything is written, at the
record's own field rather than at the FHIR element it would become.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import organization
from tests.security import records
from tests.security.conftest import CHILD, client_as, signed, store, token_for

Resource = dict[str, Any]
AGENCY = "noor-audiology"
JSON = {"Content-Type": "application/json"}


def the_record(*referrals: Resource) -> Resource:
    """Maya's record: her medical home and ENT clinic, and a referral to the clinic, accepted."""
    return {
        "child": {"id": "maya", "given_names": ["Maya"], "family_name": "Okafor"},
        "organizations": [
            {"id": "maya-home", "name": "Riverside Medical Home"},
            {"id": "maya-ent", "name": "Children's ENT"},
        ],
        "referrals": [
            {
                "id": "maya-ref-ent",
                "service": "ENT evaluation",
                "recipient_id": "maya-ent",
                "status": "accepted",
                "history": [
                    {"status": "requested", "at": "2026-02-02T09:00:00Z"},
                    {"status": "accepted", "at": "2026-02-03T09:00:00Z"},
                ],
            },
            *referrals,
        ],
    }


def hearing_referral(recipient_id: str, id: str = "maya-ref-hearing") -> Resource:
    return {
        "id": id,
        "service": "Hearing evaluation",
        "recipient_id": recipient_id,
        "status": "requested",
        "history": [{"status": "requested", "at": "2026-02-04T09:00:00Z"}],
    }


def write_record(http: httpx.Client, record: Resource, child: str = "maya") -> httpx.Response:
    return http.put(f"/coordination/children/{child}", json=record, headers=JSON)


def expressions(response: httpx.Response) -> list[str]:
    return [expression for issue in response.json()["issue"] for expression in issue.get("expression", [])]


# -- a recipient from the directory ----------------------------------------------------------------------


def test_a_referral_may_name_an_organization_of_the_directory(client: httpx.Client) -> None:
    assert write_record(client, the_record()).status_code == 200
    assert client.put(f"/Organization/{AGENCY}", json=organization(AGENCY, name="Noor Audiology")).status_code == 201
    referrals = client.get("/coordination/children/maya/referrals").json()

    written = client.put("/coordination/children/maya/referrals", json=[*referrals, hearing_referral(AGENCY)])

    assert written.status_code == 200, written.text
    assert client.get("/ServiceRequest/maya-ref-hearing").json()["performer"] == [
        {"reference": f"Organization/{AGENCY}"}
    ]
    assert client.get("/Task/maya-ref-hearing-task").json()["owner"] == {"reference": f"Organization/{AGENCY}"}
    organizations = client.get("/coordination/children/maya/organizations").json()
    assert AGENCY in {o["id"] for o in organizations}  # named once, the organization is in the record
    (hearing,) = [r for r in written.json() if r["id"] == "maya-ref-hearing"]
    assert hearing["recipient_id"] == AGENCY


def test_a_whole_record_may_name_an_organization_of_the_directory(client: httpx.Client) -> None:
    assert client.put(f"/Organization/{AGENCY}", json=organization(AGENCY, name="Noor Audiology")).status_code == 201

    written = write_record(client, the_record(hearing_referral(AGENCY)))

    assert written.status_code == 200, written.text
    assert {o["id"] for o in written.json()["organizations"]} >= {"maya-home", "maya-ent", AGENCY}
    # The record read back is one its rules accept: it writes back, unchanged.
    assert write_record(client, written.json()).status_code == 200


def test_a_recipient_neither_in_the_record_nor_on_the_server_is_refused(client: httpx.Client) -> None:
    assert write_record(client, the_record()).status_code == 200
    referrals = client.get("/coordination/children/maya/referrals").json()

    refused = client.put("/coordination/children/maya/referrals", json=[*referrals, hearing_referral("nowhere")])

    assert refused.status_code == 422
    assert expressions(refused) == ["referrals[1].recipient_id"]
    assert "'nowhere', which is not in the record" in refused.json()["issue"][0]["diagnostics"]
    assert client.get("/ServiceRequest/maya-ref-hearing").status_code == 404
    whole = write_record(client, the_record(hearing_referral("nowhere", id="maya-ref-other")))
    assert whole.status_code == 422
    assert expressions(whole) == ["referrals[1].recipient_id"]
    assert client.get("/ServiceRequest/maya-ref-other").status_code == 404


def test_a_directory_id_of_another_type_is_no_organization(client: httpx.Client) -> None:
    assert write_record(client, the_record()).status_code == 200
    practitioner = {"resourceType": "Practitioner", "id": "dr-noor", "name": [{"family": "Noor"}]}
    assert client.put("/Practitioner/dr-noor", json=practitioner).status_code == 201
    referrals = client.get("/coordination/children/maya/referrals").json()

    refused = client.put("/coordination/children/maya/referrals", json=[*referrals, hearing_referral("dr-noor")])

    assert refused.status_code == 422
    assert expressions(refused) == ["referrals[1].recipient_id"]


# -- a rejection or a cancellation says why --------------------------------------------------------------


@pytest.mark.parametrize("status", ["rejected", "cancelled"])
def test_a_rejected_or_cancelled_referral_needs_a_note(client: httpx.Client, status: str) -> None:
    record = the_record()
    record["referrals"][0] |= {"status": "requested", "history": record["referrals"][0]["history"][:1]}
    assert write_record(client, record).status_code == 200
    referrals = client.get("/coordination/children/maya/referrals").json()
    task_before = client.get("/Task/maya-ref-ent-task").json()
    closed = {**referrals[0], "status": status}
    closed["history"] = [*referrals[0]["history"], {"status": status, "at": "2026-02-05T09:00:00Z"}]

    refused = client.put("/coordination/children/maya/referrals", json=[closed])

    assert refused.status_code == 422
    (issue,) = refused.json()["issue"]
    assert issue["code"] == "business-rule"
    assert issue["expression"] == ["referrals[0].history[1].note"]
    assert f"a {status} referral needs a note" in issue["diagnostics"]
    assert client.get("/Task/maya-ref-ent-task").json()["meta"] == task_before["meta"]  # nothing written

    closed["history"][-1]["note"] = "No pediatric ENT within reach"
    written = client.put("/coordination/children/maya/referrals", json=[closed])
    assert written.status_code == 200, written.text
    task = client.get("/Task/maya-ref-ent-task").json()
    assert task["status"] == status
    assert task["statusReason"] == {"text": "No pediatric ENT within reach"}


def test_a_referral_closed_without_a_word_before_the_rule_does_not_lock_the_record(
    client: httpx.Client, server: LiveServer
) -> None:
    """Data stored before reasons were required reads back and writes back; only new closures say why."""
    record = the_record()
    assert write_record(client, record).status_code == 200
    stored = client.get("/Task/maya-ref-ent-task").json()
    stored["status"] = "cancelled"  # as a store written before the rule holds it: no statusReason
    stored.pop("meta", None)
    server.repository.run_write(lambda tx: tx.put("Task", stored["id"], stored, method="PUT"))
    read = client.get("/coordination/children/maya")
    assert read.status_code == 200, read.text
    assert read.json()["referrals"][0]["status"] == "cancelled"
    assert write_record(client, read.json()).status_code == 200
    goals = client.put("/coordination/children/maya/goals", json=[{"id": "maya-goal", "description": "Hears"}])
    assert goals.status_code == 200, goals.text


def test_a_whole_record_with_a_rejection_that_does_not_say_why_is_refused(client: httpx.Client) -> None:
    record = the_record()
    record["referrals"][0]["status"] = "rejected"
    record["referrals"][0]["history"][1] = {"status": "rejected", "at": "2026-02-03T09:00:00Z", "note": " "}

    refused = write_record(client, record)

    assert refused.status_code == 422
    assert expressions(refused) == ["referrals[0].history[1].note"]
    assert client.get("/Patient/maya").status_code == 404  # nothing written


# -- under the caller's access ---------------------------------------------------------------------------


@pytest.fixture
def practice(secure_live_server: LiveServer) -> LiveServer:
    """Ana, treated by the medical home; the audiology agency in the directory, not in her record."""
    secure_live_server.reset()
    store(
        secure_live_server,
        records.practice_child(CHILD),
        organization(records.PRACTICE),
        organization(AGENCY),
    )
    return secure_live_server


def anas_referral() -> Resource:
    return {**hearing_referral(AGENCY, id="ana-hearing"), "service": "Hearing evaluation"}


def test_the_coordinator_may_address_an_organization_it_may_read(practice: LiveServer) -> None:
    with client_as(practice, token_for("care-coordinator", org=records.PRACTICE)) as coordinator:
        written = coordinator.put(f"/coordination/children/{CHILD}/referrals", json=[anas_referral()])
        assert written.status_code == 200, written.text
        task = coordinator.get("/Task/ana-hearing-task").json()
        assert task["owner"] == {"reference": f"Organization/{AGENCY}"}


def test_an_organization_the_caller_may_not_read_is_not_known(practice: LiveServer) -> None:
    """Without the scope to read Organizations, the directory is not the caller's to name from."""
    scopes = " ".join(
        f"user/{grant}" for grant in ("Patient.crus", "ServiceRequest.crus", "Task.crus", "Appointment.crus")
    )
    token = signed({"scope": scopes, "fhirbridge_org": f"Organization/{records.PRACTICE}", "sub": "narrow-tool"})
    with client_as(practice, token) as tool:
        refused = tool.put(f"/coordination/children/{CHILD}/referrals", json=[anas_referral()])
        assert refused.status_code == 422, refused.text
        assert expressions(refused) == ["referrals[0].recipient_id"]
        assert tool.get("/ServiceRequest/ana-hearing").status_code == 404
