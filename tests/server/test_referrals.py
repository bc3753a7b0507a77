"""A referral is followed from request to result; illegal status moves are refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.engine.referrals import TRANSITIONS, check_referral_task
from fhirbridge.errors import Forbidden, Unprocessable
from fhirbridge.security.principal import Actor


def referral_task(status: str) -> dict[str, Any]:
    """The referral Task at ``status``; a rejection or cancellation says why, as it must."""
    reason = {"statusReason": {"text": "No capacity this quarter"}} if status in ("rejected", "cancelled") else {}
    return {
        "resourceType": "Task",
        "id": "referral-pt",
        "status": status,
        **reason,
        "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": "ServiceRequest/physical-therapy"},
        "for": {"reference": "Patient/child-1"},
        "requester": {"reference": "Organization/medical-home"},
        "owner": {"reference": "Organization/pt-clinic"},
    }


def store_parties(client: httpx.Client) -> None:
    """What a referral names: the child, the ServiceRequest it fulfils, the requester and the performer."""
    for resource in (
        {"resourceType": "Patient", "id": "child-1"},
        {"resourceType": "Organization", "id": "medical-home", "name": "Medical home"},
        {"resourceType": "Organization", "id": "pt-clinic", "name": "Physical therapy clinic"},
        {
            "resourceType": "ServiceRequest",
            "id": "physical-therapy",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/child-1"},
        },
        {
            "resourceType": "DocumentReference",
            "id": "pt-eval",
            "status": "current",
            "subject": {"reference": "Patient/child-1"},
            "content": [{"attachment": {"title": "Physical therapy evaluation"}}],
        },
    ):
        response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
        assert response.status_code == 201, response.text


def move(client: httpx.Client, status: str, **extra: Any) -> httpx.Response:
    return client.put("/Task/referral-pt", json={**referral_task(status), **extra})


def test_referral_followed_from_request_to_result(client: httpx.Client) -> None:
    store_parties(client)
    assert move(client, "requested").status_code == 201
    assert move(client, "accepted").status_code == 200
    assert move(client, "in-progress").status_code == 200
    result = {"type": {"text": "evaluation summary"}, "valueReference": {"reference": "DocumentReference/pt-eval"}}
    completed = move(client, "completed", output=[result])
    assert completed.status_code == 200
    history = client.get("/Task/referral-pt/_history").json()
    assert [e["resource"]["status"] for e in history["entry"]] == ["completed", "in-progress", "accepted", "requested"]
    assert (
        client.get("/Task/referral-pt").json()["output"][0]["valueReference"]["reference"]
        == "DocumentReference/pt-eval"
    )


def test_illegal_moves_are_refused_with_an_outcome(client: httpx.Client) -> None:
    store_parties(client)
    assert move(client, "requested").status_code == 201
    skipped = move(client, "completed")
    assert skipped.status_code == 422
    issue = skipped.json()["issue"][0]
    assert issue["code"] == "business-rule"
    assert issue["expression"] == ["Task.status"]
    assert move(client, "rejected").status_code == 200
    assert move(client, "in-progress").status_code == 422  # a rejected referral is closed
    assert client.get("/Task/referral-pt").json()["status"] == "rejected"


def test_a_referral_synced_mid_way_is_taken_as_it_stands(client: httpx.Client) -> None:
    store_parties(client)
    assert move(client, "in-progress").status_code == 201
    assert move(client, "requested").status_code == 422  # but it cannot go back


def test_other_tasks_are_not_referrals(client: httpx.Client) -> None:
    step = {"resourceType": "Task", "status": "completed", "intent": "plan", "description": "Call the school"}
    assert client.post("/Task", json=step).status_code == 201


@pytest.mark.parametrize(
    ("old", "new", "party"),
    [(old, new, party) for old, moves in TRANSITIONS.items() for new, party in moves.items()],
)
def test_only_the_right_party_may_move_a_referral(old: str, new: str, party: str) -> None:
    requester, performer = Actor(frozenset({"Organization/medical-home"})), Actor(frozenset({"Organization/pt-clinic"}))
    right, wrong = (requester, performer) if party == "requester" else (performer, requester)
    check_referral_task(right, referral_task(old), referral_task(new))
    with pytest.raises(Forbidden):
        check_referral_task(wrong, referral_task(old), referral_task(new))


def test_closed_referrals_cannot_reopen() -> None:
    for closed in ("rejected", "completed", "failed", "cancelled"):
        with pytest.raises(Unprocessable):
            check_referral_task(None, referral_task(closed), referral_task("requested"))


def test_worklists_of_open_and_unanswered_referrals(client: httpx.Client) -> None:
    store_parties(client)

    def referral(id: str, status: str, authored: str) -> dict[str, Any]:
        return {**referral_task(status), "id": id, "authoredOn": authored}

    client.put("/Task/old-waiting", json=referral("old-waiting", "requested", "2026-01-05T10:00:00Z"))
    client.put("/Task/old-working", json=referral("old-working", "in-progress", "2026-02-01T10:00:00Z"))
    client.put("/Task/old-done", json=referral("old-done", "completed", "2026-01-10T10:00:00Z"))
    client.put("/Task/new-waiting", json=referral("new-waiting", "requested", "2099-01-01T10:00:00Z"))

    def ids(operation: str, days: int) -> list[str]:
        bundle = client.get(f"/Task/${operation}", params={"olderThanDays": days}).json()
        return [entry["resource"]["id"] for entry in bundle.get("entry", [])]

    assert ids("open-referrals", 30) == ["old-waiting", "old-working"]
    assert ids("unanswered-referrals", 30) == ["old-waiting"]
