"""Concurrent writers never lose a write, and If-Match lets exactly one of them win each version."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import LiveServer
from tests.factories import goal, patient

WRITERS = 8


def register_child(server: LiveServer) -> None:
    """The child the goal is about: a goal for a child the server does not hold is refused."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.put("/Patient/child-1", json=patient("child-1")).status_code == 201


def test_if_match_lets_exactly_one_writer_win(server: LiveServer) -> None:
    register_child(server)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert (
            http.put("/Goal/walk-unaided", json=goal("walk-unaided", "child-1", description_text="start")).status_code
            == 201
        )

    def write(n: int) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            return http.put(
                "/Goal/walk-unaided",
                json=goal("walk-unaided", "child-1", description_text=f"writer {n}"),
                headers={"If-Match": 'W/"1"'},
            ).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(write, range(WRITERS)))
    assert sorted(statuses) == [200] + [412] * (WRITERS - 1)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/Goal/walk-unaided").json()["meta"]["versionId"] == "2"


def test_without_if_match_no_update_is_lost(server: LiveServer) -> None:
    register_child(server)

    def write(n: int) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            return http.put(
                "/Goal/walk-unaided", json=goal("walk-unaided", "child-1", description_text=f"writer {n}")
            ).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(write, range(WRITERS * 2)))
    # One writer created the resource; all the others updated it.
    assert sorted(statuses) == [200] * (WRITERS * 2 - 1) + [201]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        current = http.get("/Goal/walk-unaided").json()
        assert current["meta"]["versionId"] == str(WRITERS * 2)
        history = http.get("/Goal/walk-unaided/_history", params={"_count": 100}).json()
    versions = sorted(int(entry["resource"]["meta"]["versionId"]) for entry in history["entry"])
    assert versions == list(range(1, WRITERS * 2 + 1))
    descriptions = {entry["resource"]["description"]["text"] for entry in history["entry"]}
    assert descriptions == {f"writer {n}" for n in range(WRITERS * 2)}
