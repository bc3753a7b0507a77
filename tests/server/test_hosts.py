"""Links are never built from a Host the caller chose (fhirbridge.server.hosts).

Every ``fullUrl``, paging link and ``Location`` starts with ``FHIRBRIDGE_BASE_URL`` when it is set,
otherwise with the request's Host, which must then be one of the server's own names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.server.hosts import AllowedHosts
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.factories import create, new_patient

EVIL = {"Host": "evil.example"}
PUBLIC_BASE = "https://fhir.example.org/r4"


def transaction(*patients: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient, "request": {"method": "POST", "url": "Patient"}} for patient in patients],
    }


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Host"]
    assert "evil.example" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def links_of(bundle: dict[str, Any]) -> list[str]:
    """The absolute URLs of a Bundle: its links and its entries' fullUrl."""
    urls = [link["url"] for link in bundle.get("link", [])]
    return urls + [entry["fullUrl"] for entry in bundle.get("entry", []) if "fullUrl" in entry]


@pytest.fixture
def server_with(repository: SqlRepository) -> Iterator[Any]:
    """Starts a server on the shared store with these settings (stopped at the end of the test)."""
    started: list[LiveServer] = []

    def start(**settings: Any) -> LiveServer:
        server = LiveServer(repository, Settings(auth_disabled=True, subscription_delivery=False, **settings))
        server.reset()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- by default: the server's own address and the loopback names on its port -------------------------


def test_links_name_the_host_the_request_came_to(server: LiveServer, client: httpx.Client) -> None:
    created = create(client, new_patient())
    assert created.headers["Location"].startswith(f"{server.url}/Patient/")
    as_localhost = client.get("/Patient", headers={"Host": f"localhost:{server.port}"})
    assert as_localhost.status_code == 200
    assert all(url.startswith(f"http://localhost:{server.port}/") for url in links_of(as_localhost.json()))


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:80", "localhost:1", "127.0.0.1.evil.example", "", "a/b", "x" * 300]
)
def test_any_other_host_is_refused_on_a_search(client: httpx.Client, host: str) -> None:
    assert_refused(client.get("/Patient", params={"family": "Rivera"}, headers={"Host": host}))


def test_a_plain_read_is_refused_too(client: httpx.Client) -> None:
    # GET [type]/[id] without a query is answered before the framework (server/fastread.py).
    id = create(client, new_patient()).json()["id"]
    assert client.get(f"/Patient/{id}").status_code == 200
    assert_refused(client.get(f"/Patient/{id}", headers=EVIL))
    assert_refused(client.get("/Patient/never-there", headers=EVIL))


def test_a_create_is_refused_and_stores_nothing(client: httpx.Client) -> None:
    assert_refused(client.post("/Patient", json=new_patient("Evil"), headers=EVIL))
    assert client.get("/Patient", params={"family": "Evil"}).json()["total"] == 0


def test_a_transaction_is_refused_and_stores_nothing(client: httpx.Client) -> None:
    assert_refused(client.post("/", json=transaction(new_patient("Evil")), headers=EVIL))
    assert client.get("/Patient", params={"family": "Evil"}).json()["total"] == 0


def test_metadata_and_the_coordination_api_are_refused_too(client: httpx.Client) -> None:
    assert_refused(client.get("/metadata", headers=EVIL))
    assert_refused(client.get("/coordination/children/nobody", headers=EVIL))


def test_a_refusal_comes_in_the_format_asked_for(client: httpx.Client) -> None:
    response = client.get("/Patient", headers={**EVIL, "Accept": "application/fhir+xml"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/fhir+xml")
    assert b"<OperationOutcome" in response.content


def test_with_authentication_on_the_host_is_refused_before_the_token_is_asked_for(secure_server: LiveServer) -> None:
    with httpx.Client(base_url=secure_server.url, timeout=30) as http:
        assert http.get("/Patient").status_code == 401
        assert_refused(http.get("/Patient", headers=EVIL))
        assert_refused(http.get("/Patient/anyone", headers=EVIL))


# -- FHIRBRIDGE_BASE_URL: links use it, whatever the Host ------------------------------------------------


def test_with_a_base_url_every_link_uses_it(server_with: Any) -> None:
    server = server_with(base_url=PUBLIC_BASE)
    hosts = [f"127.0.0.1:{server.port}", f"localhost:{server.port}", "fhir.example.org"]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create(http, new_patient())  # so that a page of one has a next page
        for host in hosts:
            headers = {"Host": host}
            created = http.post("/Patient", json=new_patient(), headers=headers)
            assert created.status_code == 201, created.text
            assert created.headers["Location"].startswith(f"{PUBLIC_BASE}/Patient/")
            page = http.get("/Patient", params={"_count": 1}, headers=headers).json()
            assert {link["relation"] for link in page["link"]} >= {"self", "next"}
            stored = http.post("/", json=transaction(new_patient()), headers=headers).json()
            history = http.get("/Patient/_history", headers=headers).json()
            metadata = http.get("/metadata", headers=headers).json()
            urls = links_of(page) + links_of(stored) + links_of(history) + [metadata["implementation"]["url"]]
            assert urls and all(url.startswith(f"{PUBLIC_BASE}/") or url == PUBLIC_BASE for url in urls), urls


def test_with_a_base_url_a_foreign_host_is_still_refused(server_with: Any) -> None:
    # A page on a name rebound to this server's address (DNS rebinding) must not read it.
    server = server_with(base_url=PUBLIC_BASE)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert_refused(http.get("/Patient", headers=EVIL))


def test_listed_hosts_replace_the_defaults(server_with: Any) -> None:
    server = server_with(allowed_hosts=["fhir.internal", "[::1]:9999"])
    with httpx.Client(base_url=server.url, timeout=30) as http:
        found = http.get("/Patient", headers={"Host": "fhir.internal:8443"})
        assert found.status_code == 200
        assert found.json()["link"][0]["url"].startswith("http://fhir.internal:8443/Patient")
        assert http.get("/Patient", headers={"Host": "[::1]:9999"}).status_code == 200
        assert http.get("/Patient", headers={"Host": f"127.0.0.1:{server.port}"}).status_code == 400


# -- the rule itself ---------------------------------------------------------------------------------------


def scope(host: str | None, server: tuple[str, int] = ("10.0.0.5", 8080), scheme: str = "http") -> dict[str, Any]:
    headers = [(b"host", host.encode())] if host is not None else []
    return {"type": "http", "scheme": scheme, "server": server, "headers": headers, "root_path": ""}


def test_the_default_names_follow_the_address_the_request_arrived_on() -> None:
    hosts = AllowedHosts(base_url="", allowed_hosts=[], host="0.0.0.0", port=8080)
    assert hosts.link_base(scope("10.0.0.5:8080")) == "http://10.0.0.5:8080"
    assert hosts.link_base(scope("LOCALHOST:8080")) == "http://localhost:8080"
    assert hosts.link_base(scope("[::1]:8080")) == "http://[::1]:8080"
    assert hosts.link_base(scope(None)) == "http://10.0.0.5:8080"  # no Host: the socket's own address
    assert hosts.link_base(scope("[fd00::1]:443", server=("fd00::1", 443), scheme="https")) == "https://[fd00::1]:443"
    assert (
        hosts.link_base(scope("example.test", server=("example.test", 443), scheme="https")) == "https://example.test"
    )
    for refused in ("10.0.0.6:8080", "10.0.0.5:8081", "fhir.internal:8080", "10.0.0.5:8080@evil.example"):
        assert hosts.host(scope(refused)) is None, refused


def test_a_malformed_setting_stops_the_start() -> None:
    with pytest.raises(ValueError, match="ALLOWED_HOSTS"):
        AllowedHosts(base_url="", allowed_hosts=["https://fhir.example.org/"], host="127.0.0.1", port=8080)
    with pytest.raises(ValueError, match="BASE_URL"):
        AllowedHosts(base_url="fhir.example.org", allowed_hosts=[], host="127.0.0.1", port=8080)
