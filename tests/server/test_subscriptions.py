"""R4 rest-hook Subscriptions, delivered to a real HTTP receiver, with retries and an error status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.factories import task
from tests.receiver import TO_LOCAL_RECEIVER, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    partner = Receiver()
    yield partner
    partner.server.shutdown()
    partner.server.server_close()


@pytest.fixture
def fast_server(repository: SqlRepository) -> Iterator[LiveServer]:
    settings = Settings(
        auth_disabled=True,
        subscription_poll_seconds=0.05,
        subscription_retry_seconds=0.1,
        subscription_max_attempts=3,
        **TO_LOCAL_RECEIVER,
    )
    server = LiveServer(repository, settings)
    server.reset()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(fast_server: LiveServer) -> Iterator[httpx.Client]:
    """This module's client talks to a server configured for the local receiver."""
    with httpx.Client(base_url=fast_server.url, timeout=30) as http:
        yield http


def subscribe(http: httpx.Client, endpoint: str, criteria: str, payload: str | None = None) -> str:
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint, "header": ["Authorization: Bearer partner"]}
    if payload:
        channel["payload"] = payload
    subscription = {
        "resourceType": "Subscription",
        "status": "active",
        "reason": "Follow referrals to the PT clinic",
        "criteria": criteria,
        "channel": channel,
    }
    response = http.post("/Subscription", json=subscription)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_matching_writes_are_notified_with_the_resource(fast_server: LiveServer, receiver: Receiver) -> None:
    with httpx.Client(base_url=fast_server.url, timeout=30) as http:
        subscribe(http, receiver.url, "Task?status=completed", payload="application/fhir+json")
        http.put("/Task/t1", json=task("t1", None, status="in-progress"))  # does not match
        http.put("/Task/t1", json=task("t1", None, status="completed"))
    receiver.wait_for(1)
    time.sleep(0.3)
    assert len(receiver.received) == 1
    method, path, body, headers = receiver.received[0]
    assert (method, path) == ("PUT", "/hook/Task/t1")
    assert b'"status":"completed"' in body
    assert headers["Authorization"] == "Bearer partner"
    assert headers["Content-Location"].endswith("/Task/t1/_history/2")


def test_without_payload_the_notification_is_an_empty_post(fast_server: LiveServer, receiver: Receiver) -> None:
    with httpx.Client(base_url=fast_server.url, timeout=30) as http:
        subscribe(http, receiver.url, "Task?status=completed")
        http.put("/Task/t1", json=task("t1", None, status="completed"))
    receiver.wait_for(1)
    method, path, body, _ = receiver.received[0]
    assert (method, path, body) == ("POST", "/hook", b"")


def test_a_partner_that_was_down_gets_it_later(fast_server: LiveServer, receiver: Receiver) -> None:
    receiver.failing = True
    with httpx.Client(base_url=fast_server.url, timeout=30) as http:
        subscribe(http, receiver.url, "Task?status=completed")
        http.put("/Task/t1", json=task("t1", None, status="completed"))
        time.sleep(0.15)
        receiver.failing = False
    receiver.wait_for(1)


def test_repeated_failure_puts_the_subscription_in_error(fast_server: LiveServer, receiver: Receiver) -> None:
    receiver.failing = True
    with httpx.Client(base_url=fast_server.url, timeout=30) as http:
        id = subscribe(http, receiver.url, "Task?status=completed")
        http.put("/Task/t1", json=task("t1", None, status="completed"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            subscription = http.get(f"/Subscription/{id}").json()
            if subscription["status"] == "error":
                break
            time.sleep(0.1)
    assert subscription["status"] == "error"
    assert "503" in subscription["error"]


def test_queued_notifications_survive_a_restart(repository: SqlRepository, receiver: Receiver) -> None:
    # The first server queues the notification but does not deliver ...
    slow = LiveServer(repository, Settings(auth_disabled=True, subscription_delivery=False, **TO_LOCAL_RECEIVER))
    slow.reset()
    with httpx.Client(base_url=slow.url, timeout=30) as http:
        slow.start()
        subscribe(http, receiver.url, "Task?status=completed")
        http.put("/Task/t1", json=task("t1", None, status="completed"))
    slow.stop()
    assert receiver.received == []
    # ... and the next one, on the same database, delivers it.
    fresh = LiveServer(repository, Settings(auth_disabled=True, subscription_poll_seconds=0.05, **TO_LOCAL_RECEIVER))
    fresh.start()
    try:
        receiver.wait_for(1)
    finally:
        fresh.stop()


def test_subscriptions_the_server_cannot_honour_are_refused(client: httpx.Client) -> None:
    def subscription(criteria: str, channel_type: str = "rest-hook", endpoint: str = "http://127.0.0.1:9/hook") -> dict:
        return {
            "resourceType": "Subscription",
            "status": "active",
            "reason": "test",
            "criteria": criteria,
            "channel": {"type": channel_type, "endpoint": endpoint},
        }

    assert client.post("/Subscription", json=subscription("Task?status=completed")).status_code == 201
    for bad in (
        subscription("Spaceship?status=x"),
        subscription("Task?colour=red"),
        subscription("Task?status=completed", channel_type="email"),
        subscription("Task?status=completed", endpoint="not a url"),
    ):
        response = client.post("/Subscription", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["issue"][0]["expression"][0].startswith("Subscription.")
