"""Subscriptions cannot aim the server's notifications inside its network (fhirbridge.subscriptions.rules).

By default a rest-hook endpoint must be https and public, and a Subscription chooses no headers; the
settings relax each rule. Delivery checks again, on the address it connects to, so a name rebound to
an inside address after the Subscription was accepted reaches nothing.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import requests

from fhirbridge.config import Settings
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.subscriptions import rules
from fhirbridge.subscriptions.delivery import endpoint_session
from fhirbridge.subscriptions.rules import EndpointPolicy
from tests.conftest import LiveServer
from tests.security.conftest import bearer, secure_settings, token_for

ENDPOINT = "Subscription.channel.endpoint"
HEADER = "Subscription.channel.header"
PUBLIC = "https://93.184.215.14/hook"  # a public address: accepted without any DNS

StartServer = Callable[..., LiveServer]


def subscription(endpoint: str, *headers: str, id: str | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint}
    if headers:
        channel["header"] = list(headers)
    resource = {
        "resourceType": "Subscription",
        "status": "active",
        "reason": "Follow completed tasks",
        "criteria": "Task?status=completed",
        "channel": channel,
    }
    return {**resource, "id": id} if id else resource


def refused(response: httpx.Response, expression: str = ENDPOINT) -> bool:
    assert response.status_code == 422, response.text
    return bool(response.json()["issue"][0]["expression"] == [expression])


class Partner:
    """An endpoint on loopback that records each request and answers ``status`` (with ``headers``)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, str]]] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                partner.received.append((self.command, self.path, dict(self.headers)))
                self.send_response(partner.status)
                for name, value in partner.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def partner() -> Iterator[Partner]:
    endpoint = Partner()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names the server resolves as this dict says (any other as usual); change it to rebind a name."""
    names: dict[str, str] = {}
    real = rules.resolve

    def resolve(host: str, port: int | None) -> list[rules.IPAddress]:
        name = host.lower().rstrip(".")
        return [ipaddress.ip_address(names[name])] if name in names else real(host, port)

    monkeypatch.setattr(rules, "resolve", resolve)
    return names


@pytest.fixture
def server_with(repository: SqlRepository) -> Iterator[StartServer]:
    """Starts a server on the shared store with these settings (stopped at the end of the test)."""
    started: list[LiveServer] = []

    def start(**settings: Any) -> LiveServer:
        values = {"auth_disabled": True, "subscription_delivery": False, **settings}
        server = LiveServer(repository, Settings(**values))
        server.reset()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait_for_error(http: httpx.Client, id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    current: dict[str, Any] = {}
    while time.monotonic() < deadline:
        current = http.get(f"/Subscription/{id}").json()
        if current["status"] == "error":
            return current
        time.sleep(0.05)
    raise AssertionError(f"Subscription/{id} never went to error: {current}")


# -- on write, by default ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/hook",
        "https://127.1.2.3:5432/",
        "https://localhost:8080/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one number: the resolver reads it so
        "https://10.0.0.8/hook",
        "https://172.16.4.4/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[::ffff:10.0.0.8]/hook",
        "https://[::]/hook",
    ],
)
def test_an_inside_address_is_refused(client: httpx.Client, endpoint: str) -> None:
    assert refused(client.post("/Subscription", json=subscription(endpoint)))


def test_a_name_that_resolves_inside_is_refused(client: httpx.Client, dns: dict[str, str]) -> None:
    dns["partner.test"] = "10.20.30.40"
    assert refused(client.post("/Subscription", json=subscription("https://partner.test/hook")))
    dns["partner.test"] = "93.184.215.14"
    assert client.post("/Subscription", json=subscription("https://partner.test/hook")).status_code == 201


def test_a_public_https_endpoint_is_accepted(client: httpx.Client) -> None:
    assert client.post("/Subscription", json=subscription(PUBLIC)).status_code == 201
    assert client.post("/Subscription", json=subscription("https://[2606:4700::1111]:8443/hook")).status_code == 201


def test_http_is_refused(client: httpx.Client) -> None:
    assert refused(client.post("/Subscription", json=subscription("http://93.184.215.14/hook")))


def test_headers_and_credentials_are_refused(client: httpx.Client) -> None:
    assert refused(client.post("/Subscription", json=subscription(PUBLIC, "Authorization: Bearer x")), HEADER)
    assert refused(client.post("/Subscription", json=subscription("https://user:secret@93.184.215.14/hook")))


def test_an_update_may_not_move_the_endpoint_inside(client: httpx.Client) -> None:
    id = client.post("/Subscription", json=subscription(PUBLIC)).json()["id"]
    assert refused(client.put(f"/Subscription/{id}", json=subscription("https://10.0.0.8/hook", id=id)))
    patch = [{"op": "replace", "path": "/channel/endpoint", "value": "https://127.0.0.1/hook"}]
    assert refused(
        client.patch(f"/Subscription/{id}", json=patch, headers={"Content-Type": "application/json-patch+json"})
    )
    entry = {
        "resource": subscription("https://127.0.0.1/hook", id=id),
        "request": {"method": "PUT", "url": f"Subscription/{id}"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    assert client.post("/", json=bundle).status_code == 422
    assert client.get(f"/Subscription/{id}").json()["channel"]["endpoint"] == PUBLIC


# -- on write, as configured -----------------------------------------------------------------------------


def test_the_settings_relax_one_rule_each(server_with: StartServer) -> None:
    development = server_with(subscription_allow_http=True)
    with httpx.Client(base_url=development.url, timeout=30) as http:
        assert http.post("/Subscription", json=subscription("http://93.184.215.14/hook")).status_code == 201
        assert refused(http.post("/Subscription", json=subscription("http://127.0.0.1:9/hook")))
    listed = server_with(subscription_allowed_hosts=["127.0.0.1", "Partner.Internal"])
    with httpx.Client(base_url=listed.url, timeout=30) as http:
        assert http.post("/Subscription", json=subscription("https://127.0.0.1:9/hook")).status_code == 201
        assert http.post("/Subscription", json=subscription("https://partner.internal/hook")).status_code == 201
        assert refused(http.post("/Subscription", json=subscription("https://127.0.0.2/hook")))
        assert refused(http.post("/Subscription", json=subscription("http://127.0.0.1:9/hook")))
    with_headers = server_with(subscription_allow_headers=True)
    with httpx.Client(base_url=with_headers.url, timeout=30) as http:
        assert http.post("/Subscription", json=subscription(PUBLIC, "Authorization: Bearer x")).status_code == 201
        for bad in ("Host: 127.0.0.1", "Transfer-Encoding: chunked", "no colon", "X-A: b\r\nX-Injected: c"):
            assert refused(http.post("/Subscription", json=subscription(PUBLIC, bad)), HEADER), bad


def test_a_single_practice_server_refuses_inside_endpoints_to_its_care_team(repository: SqlRepository) -> None:
    server = LiveServer(repository, secure_settings(treating_relationship="claim"))
    server.reset()
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30, headers=bearer(token_for("care-coordinator"))) as http:
            assert refused(http.post("/Subscription", json=subscription("https://127.0.0.1/hook")))
            assert refused(http.post("/Subscription", json=subscription(PUBLIC, "Authorization: Bearer x")), HEADER)
            assert http.post("/Subscription", json=subscription(PUBLIC)).status_code == 201
    finally:
        server.stop()


# -- on delivery -----------------------------------------------------------------------------------------


DELIVERING = {
    "subscription_delivery": True,
    "subscription_poll_seconds": 0.05,
    "subscription_retry_seconds": 0.05,
    "subscription_max_attempts": 2,
    "subscription_allow_http": True,
}
COMPLETED_TASK = {"resourceType": "Task", "id": "t1", "status": "completed", "intent": "order"}


def test_a_name_rebound_inside_after_the_check_is_not_reached(
    server_with: StartServer, partner: Partner, dns: dict[str, str]
) -> None:
    server = server_with(**DELIVERING)
    dns["partner.test"] = "93.184.215.14"  # public when the Subscription is written ...
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = http.post("/Subscription", json=subscription(f"http://partner.test:{partner.port}/hook"))
        assert created.status_code == 201, created.text
        dns["partner.test"] = "127.0.0.1"  # ... the partner's address when it is delivered
        assert http.put("/Task/t1", json=COMPLETED_TASK).status_code == 201
        failed = wait_for_error(http, created.json()["id"])
    assert "partner.test resolves to a loopback address" in failed["error"]
    assert partner.received == []


def test_a_subscription_stored_before_the_rules_is_not_delivered(server_with: StartServer, partner: Partner) -> None:
    server = server_with(**DELIVERING)
    inside = subscription(f"http://127.0.0.1:{partner.port}/hook", id="inside")
    with_headers = subscription(PUBLIC, "Authorization: Bearer x", id="with-headers")
    server.repository.run_write(
        lambda tx: [tx.put("Subscription", s["id"], s, method="PUT") for s in (inside, with_headers)]
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.put("/Task/t1", json=COMPLETED_TASK).status_code == 201
        assert "loopback" in wait_for_error(http, "inside")["error"]
        assert "headers" in wait_for_error(http, "with-headers")["error"]
    assert partner.received == []


def test_a_redirect_is_not_followed(server_with: StartServer, partner: Partner) -> None:
    server = server_with(**DELIVERING, subscription_allowed_hosts=["127.0.0.1"])
    partner.status = 307
    partner.headers = {"Location": f"http://127.0.0.1:{partner.port}/inside"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        id = http.post("/Subscription", json=subscription(f"http://127.0.0.1:{partner.port}/hook")).json()["id"]
        assert http.put("/Task/t1", json=COMPLETED_TASK).status_code == 201
        assert "307" in wait_for_error(http, id)["error"]
    assert {path for _, path, _ in partner.received} == {"/hook"}


def test_the_connection_goes_to_the_address_that_was_checked(partner: Partner, dns: dict[str, str]) -> None:
    # Here loopback counts as public, so the partner stands in for the address the check approved.
    dns["partner.test"] = "127.0.0.1"
    session = endpoint_session(EndpointPolicy(allow_http=True))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rules, "address_problem", lambda address: None)
        response = session.post(f"http://partner.test:{partner.port}/hook", timeout=5)
    session.close()
    assert response.status_code == 200
    assert partner.received[0][2]["Host"] == f"partner.test:{partner.port}"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_every_connection_is_checked(scheme: str) -> None:
    session = endpoint_session(EndpointPolicy(allow_http=True))
    with pytest.raises(requests.ConnectionError, match="resolves to a loopback address"):
        session.post(f"{scheme}://127.0.0.1:9/hook", timeout=5)
    session.close()


def test_a_slow_resolver_does_not_hold_a_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def stuck(host: str, port: int | None) -> list[rules.IPAddress]:
        time.sleep(5)
        return []

    monkeypatch.setattr(rules, "resolve", stuck)
    started = time.monotonic()
    assert rules.resolve_within("slow.test", 443, 0.1) is None
    assert time.monotonic() - started < 1
