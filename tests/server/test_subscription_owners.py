"""A Subscription delivers only what its owner may read (fhirbridge.subscriptions.owner).

With authentication on, the server records the caller who sets up a Subscription as its owner, and each
notification goes out only if that owner, as the access policy decides for it at delivery, may read what
it is about. Real HTTP receivers on loopback, allowed by configuration as in test_subscriptions.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fhirbridge.classification import SHARED_INFORMATION
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.subscriptions.delivery import PAYLOAD_CONTENT
from fhirbridge.subscriptions.owner import OWNER, owner_of
from fhirbridge.subscriptions.schema import PENDING, notifications
from tests.conftest import LiveServer
from tests.factories import goal
from tests.receiver import TO_LOCAL_RECEIVER, Receiver
from tests.security.conftest import CHILD, OTHER_CHILD, PAYER, bearer, secure_settings, signed, store, token_for
from tests.security.records import COORDINATOR, PRACTICE, behavioral_condition, consent, practice_child

OTHER_PRACTICE = "other-practice"
FULL = "full-resource"
ID_ONLY = "id-only"
NO_PAYLOAD = "none"
DELIVERING: dict[str, Any] = {
    "subscription_delivery": True,
    "subscription_poll_seconds": 0.05,
    "subscription_retry_seconds": 0.1,
    "subscription_max_attempts": 3,
    **TO_LOCAL_RECEIVER,
}


@pytest.fixture(scope="module")
def live(repository: SqlRepository) -> Iterator[LiveServer]:
    server = LiveServer(repository, secure_settings(**DELIVERING))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secured(live: LiveServer) -> LiveServer:
    """Ana is a child of the medical home (its coordinator treats her); Ben is another practice's."""
    live.reset()
    ben = {**practice_child(OTHER_CHILD), "managingOrganization": {"reference": f"Organization/{OTHER_PRACTICE}"}}
    del ben["generalPractitioner"]
    store(live, practice_child(CHILD), ben)
    return live


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    partner = Receiver()
    yield partner
    partner.server.shutdown()
    partner.server.server_close()


def calling_as(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers=bearer(token))


def coordinator(server: LiveServer) -> httpx.Client:
    """The medical home's care coordinator: treats Ana, not Ben."""
    return calling_as(server, token_for("care-coordinator", org=PRACTICE, user=COORDINATOR))


def other_practice(server: LiveServer) -> httpx.Client:
    """Ben's practice's EHR: treats Ben, not Ana."""
    return calling_as(server, token_for("ehr-system", org=OTHER_PRACTICE))


def subscription(endpoint: str, criteria: str, payload: str = NO_PAYLOAD, **extra: Any) -> dict[str, Any]:
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint}
    if payload != NO_PAYLOAD:
        channel["payload"] = "application/fhir+json"
    if payload == ID_ONLY:
        channel["_payload"] = {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "id-only"}]}
    return {
        "resourceType": "Subscription",
        "status": "active",
        "reason": "Follow the children's goals",
        "criteria": criteria,
        "channel": channel,
        **extra,
    }


def subscribe(http: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/Subscription", json=resource)
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


def write(http: httpx.Client, resource: dict[str, Any]) -> None:
    response = http.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text


def settled(server: LiveServer, count: int, seconds: float = 15) -> dict[str, str]:
    """Once ``count`` notifications are queued and none is pending: each one's resource and state."""
    deadline = time.monotonic() + seconds
    while True:
        with server.repository.connect() as conn:
            rows = conn.execute(sa.select(notifications).order_by(notifications.c.pk)).all()
        if len(rows) >= count and all(row.state != PENDING for row in rows):
            return {f"{row.resource_type}/{row.resource_id}": row.state for row in rows}
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)


def forged_owner() -> dict[str, Any]:
    """An owner extension as a client might write it, claiming to be everyone's care team."""
    claims = {"sub": "intruder", "scope": "system/*.cruds", "fhirbridge_team": "treating"}
    claims["fhirbridge_org"] = f"Organization/{OTHER_PRACTICE}"
    return {"url": OWNER, "extension": [{"url": name, "valueString": value} for name, value in claims.items()]}


def owner_is_the_coordinator(stored: dict[str, Any]) -> None:
    assert [extension["url"] for extension in stored.get("extension", [])].count(OWNER) == 1
    owner = owner_of(stored)
    assert owner is not None
    assert (owner.fhir_user, owner.organization) == (COORDINATOR, f"Organization/{PRACTICE}")
    assert [str(scope) for scope in owner.scopes] == ["user/*.crus"]


# -- the owner's access decides what is sent ----------------------------------------------------------------


@pytest.mark.parametrize("payload", [FULL, ID_ONLY, NO_PAYLOAD])
def test_a_care_coordinator_is_told_only_of_the_children_it_treats(
    secured: LiveServer, receiver: Receiver, payload: str
) -> None:
    with coordinator(secured) as http, other_practice(secured) as ben_practice:
        owned = subscribe(http, subscription(receiver.url, "Goal?lifecycle-status=active", payload))
        owner_is_the_coordinator(owned)
        write(ben_practice, goal("ben-goal", OTHER_CHILD))  # first in the queue: delivered first if at all
        write(http, goal("ana-goal", CHILD))
    assert settled(secured, 2) == {"Goal/ben-goal": "withheld", "Goal/ana-goal": "delivered"}
    receiver.wait_for(1)
    assert len(receiver.received) == 1
    method, path, body, headers = receiver.received[0]
    assert "ben-goal" not in f"{path} {body!r} {headers}"
    if payload == FULL:
        assert (method, path) == ("PUT", "/hook/Goal/ana-goal")
        assert b'"id":"ana-goal"' in body
    elif payload == ID_ONLY:
        assert (method, path, body) == ("POST", "/hook", b"")
        assert headers["Content-Location"].endswith("/Goal/ana-goal/_history/1")
    else:
        assert (method, path, body) == ("POST", "/hook", b"")


def test_whoever_changes_a_subscription_becomes_its_owner(secured: LiveServer, receiver: Receiver) -> None:
    with coordinator(secured) as http, other_practice(secured) as ben_practice:
        owned = subscribe(http, subscription(receiver.url, "Goal?lifecycle-status=active", FULL))
        # Another practice that may change Subscriptions redirects it: now it is delivered as that
        # practice, which reads Ben's goals and not Ana's.
        write(ben_practice, {**owned, "reason": "Follow Ben's goals"})
        stored = ben_practice.get(f"/Subscription/{owned['id']}").json()
        owner = owner_of(stored)
        assert owner is not None and owner.organization == f"Organization/{OTHER_PRACTICE}"
        write(http, goal("ana-goal", CHILD))
        write(ben_practice, goal("ben-goal", OTHER_CHILD))
    assert settled(secured, 2) == {"Goal/ana-goal": "withheld", "Goal/ben-goal": "delivered"}
    receiver.wait_for(1)
    assert [path for _, path, _, _ in receiver.received] == ["/hook/Goal/ben-goal"]


def test_chained_and_has_criteria_count_only_what_the_owner_sees(secured: LiveServer, receiver: Receiver) -> None:
    # A payer the family shares Ana's goals with: it reads Ana's Patient and goals, never her conditions.
    shared = consent("ana-consent", CHILD, PAYER)
    shared["provision"]["class"] = [{"system": SHARED_INFORMATION, "code": "goals"}]
    store(secured, shared, behavioral_condition("ana-autism", CHILD))
    claims = {
        "scope": "user/Patient.rs user/Goal.rs user/Condition.rs user/Subscription.crs",
        "fhirbridge_org": f"Organization/{PAYER}",
    }
    with calling_as(secured, signed(claims)) as payer, coordinator(secured) as http:
        # Whether Ana has an autism diagnosis would show in whether her Patient is notified.
        diagnosis = subscribe(payer, subscription(receiver.url, "Patient?_has:Condition:patient:code=F84.0", FULL))
        goals = subscribe(payer, subscription(receiver.url, "Patient?_has:Goal:patient:lifecycle-status=active", FULL))
        write(http, goal("ana-goal", CHILD))
        write(http, {**practice_child(CHILD), "birthDate": "2018-03-02"})
    settled(secured, 2)
    with secured.repository.connect() as conn:
        rows = conn.execute(sa.select(notifications)).all()
    assert {row.subscription_id: row.state for row in rows} == {diagnosis["id"]: "withheld", goals["id"]: "delivered"}
    assert [path for _, path, _, _ in receiver.received] == [f"/hook/Patient/{CHILD}"]


# -- the owner is the server's to record --------------------------------------------------------------------


def test_an_owner_sent_by_the_client_is_replaced_by_the_caller(secured: LiveServer, receiver: Receiver) -> None:
    with coordinator(secured) as http, other_practice(secured) as ben_practice:
        forged = subscription(receiver.url, "Goal?lifecycle-status=active", FULL, extension=[forged_owner()])
        owned = subscribe(http, forged)
        owner_is_the_coordinator(owned)
        id = owned["id"]
        write(http, {**owned, "extension": [forged_owner()]})
        owner_is_the_coordinator(http.get(f"/Subscription/{id}").json())
        patch = [{"op": "replace", "path": "/extension/0", "value": forged_owner()}]
        patched = http.patch(f"/Subscription/{id}", json=patch, headers={"Content-Type": "application/json-patch+json"})
        assert patched.status_code == 200, patched.text
        owner_is_the_coordinator(patched.json())
        entry = {
            "resource": {**owned, "extension": [forged_owner()]},
            "request": {"method": "PUT", "url": f"Subscription/{id}"},
        }
        bundle = http.post("/", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]})
        assert bundle.status_code == 200, bundle.text
        owner_is_the_coordinator(http.get(f"/Subscription/{id}").json())
        write(ben_practice, goal("ben-goal", OTHER_CHILD))
        write(http, goal("ana-goal", CHILD))
    assert settled(secured, 2) == {"Goal/ben-goal": "withheld", "Goal/ana-goal": "delivered"}
    assert [path for _, path, _, _ in receiver.received] == ["/hook/Goal/ana-goal"]


def test_a_subscription_without_an_owner_delivers_nothing(secured: LiveServer, receiver: Receiver) -> None:
    # Stored by no caller (as before owners were recorded): nobody's access to deliver it under.
    stored = {**subscription(receiver.url, "Goal?lifecycle-status=active", FULL), "id": "ownerless"}
    store(secured, stored)
    with coordinator(secured) as http:
        write(http, goal("ana-goal", CHILD))
        assert settled(secured, 1) == {"Goal/ana-goal": "withheld"}  # after the Subscription was marked
        marked = http.get("/Subscription/ownerless").json()
    assert marked["status"] == "error" and "no owner" in marked["error"]
    assert owner_of(marked) is None
    assert receiver.received == []


def test_with_authentication_off_a_client_cannot_set_an_owner(client: httpx.Client) -> None:
    forged = subscription("https://93.184.215.14/hook", "Goal?lifecycle-status=active", extension=[forged_owner()])
    response = client.post("/Subscription", json=forged)
    assert response.status_code == 201, response.text
    assert owner_of(response.json()) is None
    assert "extension" not in response.json()
