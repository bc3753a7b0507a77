"""Plain reads are answered before the framework (fhirbridge.server.fastread): same answer as the route.

``GET [type]/[id]`` with a query string always goes through the FastAPI route, so comparing the two
over real HTTP shows the short path changes nothing a client can see; and the short path is an ordinary
middleware of the application, so a middleware added to it applies to plain reads too.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge.config import Settings
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.server.fastread import plain_read
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.factories import create, new_patient

# Headers that describe the resource or protect it; Date and Server are uvicorn's, equal by construction.
COMPARED_HEADERS = (
    "content-type",
    "content-length",
    "etag",
    "last-modified",
    "cache-control",
    "pragma",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
)


def _headers(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in COMPARED_HEADERS}


def test_plain_read_answers_as_the_route_does(client: httpx.Client) -> None:
    created = create(client, new_patient()).json()
    plain = client.get(f"/Patient/{created['id']}")
    routed = client.get(f"/Patient/{created['id']}", params={"_summary": "false"})
    assert plain.status_code == routed.status_code == 200
    assert plain.content == routed.content
    assert _headers(plain) == _headers(routed)
    assert plain.headers["etag"] == 'W/"1"'


@pytest.mark.parametrize("setup", ["unknown", "deleted", "bad-id"])
def test_plain_read_errors_are_operation_outcomes_as_from_the_route(client: httpx.Client, setup: str) -> None:
    id = "no-such-child" if setup == "unknown" else "not valid!" if setup == "bad-id" else None
    if id is None:
        id = create(client, new_patient()).json()["id"]
        assert client.delete(f"/Patient/{id}").status_code == 204
    plain = client.get(f"/Patient/{id}")
    routed = client.get(f"/Patient/{id}", params={"_summary": "false"})
    assert plain.status_code == routed.status_code == {"unknown": 404, "deleted": 410, "bad-id": 400}[setup]
    assert plain.json() == routed.json()
    assert plain.json()["resourceType"] == "OperationOutcome"


def test_a_new_version_is_read_at_once(client: httpx.Client) -> None:
    body = create(client, new_patient()).json()
    assert client.get(f"/Patient/{body['id']}").json()["name"][0]["family"] == "Rivera"
    for family in ("Rivera-Lopez", "Lopez"):
        body["name"][0]["family"] = family
        assert client.put(f"/Patient/{body['id']}", json=body).status_code == 200
        assert client.get(f"/Patient/{body['id']}").json()["name"][0]["family"] == family


def test_reads_the_short_path_leaves_to_the_route(client: httpx.Client) -> None:
    body = create(client, new_patient()).json()
    path = f"/Patient/{body['id']}"
    xml = client.get(path, headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/fhir+xml")
    assert client.get(path, headers={"Accept": "image/png"}).status_code == 406
    assert client.get(path, headers={"If-None-Match": 'W/"1"'}).status_code == 304


def _scope(path: str, *, query: bytes = b"", method: str = "GET", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": query,
        "headers": [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()],
    }


@pytest.mark.parametrize(
    ("scope", "taken"),
    [
        (_scope("/Patient/ana"), True),
        (_scope("/CarePlan/plan-1.2", accept="application/fhir+json"), True),
        (_scope("/Goal/g", accept="application/json, */*;q=0.5"), True),
        (_scope("/Patient/ana", query=b"_elements=name"), False),
        (_scope("/Patient/ana", accept="application/fhir+xml"), False),
        (_scope("/Patient/ana", accept="text/plain"), False),
        (_scope("/Patient/ana", if_none_match='W/"1"'), False),
        (_scope("/Patient/ana", if_modified_since="Mon, 23 Nov 2026 10:00:00 GMT"), False),
        (_scope("/Patient/ana", method="PUT"), False),
        (_scope("/Patient/ana/"), False),
        (_scope("/Patient/_history"), False),
        (_scope("/Patient/$everything"), False),
        (_scope("/Child/ana"), False),
        (_scope("/coordination/children"), False),
        (_scope("/Patient/ana/_history/1"), False),
    ],
)
def test_which_requests_are_plain_reads(scope: dict[str, Any], taken: bool) -> None:
    target = plain_read(scope)
    assert (target is not None) is taken
    if target is not None:
        assert target == tuple(scope["path"].split("/")[1:])
        assert target[0] in resource_types()


class Stamp:
    """A middleware as any later one would be: it stamps each response, and notes whether a route answered."""

    def __init__(self, app: ASGIApp, *, routed: list[bool]) -> None:
        self.app = app
        self.routed = routed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-stamp", b"stamped")]
            await send(message)

        await self.app(scope, receive, stamped)
        self.routed.append("endpoint" in scope)  # the framework's router names the endpoint it chose


def test_a_middleware_added_the_ordinary_way_applies_to_plain_reads(repository: SqlRepository) -> None:
    live = LiveServer(repository, Settings(auth_disabled=True, subscription_delivery=False))
    routed: list[bool] = []
    live.app.add_middleware(Stamp, routed=routed)
    live.reset()
    live.start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            id = create(http, new_patient()).json()["id"]
            routed.clear()
            plain = http.get(f"/Patient/{id}")
            by_route = http.get(f"/Patient/{id}", params={"_summary": "false"})
    finally:
        live.stop()
    assert routed == [False, True]  # the plain read never reached the framework; the other did
    assert plain.status_code == by_route.status_code == 200
    assert plain.headers["x-stamp"] == by_route.headers["x-stamp"] == "stamped"
    assert plain.content == by_route.content
