"""History at instance, type and system level, with _since, _count and paging links."""

from __future__ import annotations

import time

import httpx


def register_child(client: httpx.Client) -> None:
    """The child the goals are about: a goal for a child the server does not hold is refused."""
    assert client.put("/Patient/child-1", json={"resourceType": "Patient", "id": "child-1"}).status_code == 201


def put_goal(client: httpx.Client, id: str, text: str) -> httpx.Response:
    goal = {
        "resourceType": "Goal",
        "id": id,
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": {"reference": "Patient/child-1"},
    }
    response = client.put(f"/Goal/{id}", json=goal)
    assert response.status_code in (200, 201)
    return response


def test_type_and_system_history(client: httpx.Client) -> None:
    register_child(client)
    put_goal(client, "g1", "one")
    put_goal(client, "g2", "two")
    put_goal(client, "g1", "one, revised")
    goals = client.get("/Goal/_history").json()
    assert goals["total"] == 3
    assert [e["resource"]["description"]["text"] for e in goals["entry"]] == ["one, revised", "two", "one"]
    everything = client.get("/_history").json()
    assert everything["total"] == 4
    assert everything["entry"][-1]["resource"]["resourceType"] == "Patient"


def test_since_filters_older_versions(client: httpx.Client) -> None:
    register_child(client)
    put_goal(client, "g1", "before")
    time.sleep(0.05)
    marker = put_goal(client, "g2", "after").json()["meta"]["lastUpdated"]
    recent = client.get("/Goal/_history", params={"_since": marker}).json()
    assert [e["resource"]["id"] for e in recent["entry"]] == ["g2"]


def test_paging_links_walk_every_version_while_others_write(client: httpx.Client) -> None:
    register_child(client)
    for n in range(7):
        put_goal(client, "g1", f"version {n + 1}")
    first = client.get("/Goal/g1/_history", params={"_count": 3}).json()
    assert first["total"] == 7
    seen = [e["resource"]["meta"]["versionId"] for e in first["entry"]]
    # A write after the first page must not shift the pages the client is walking through.
    put_goal(client, "g1", "version 8")
    page = first
    while next_link := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = client.get(next_link).json()
        seen += [e["resource"]["meta"]["versionId"] for e in page["entry"]]
    assert seen == ["7", "6", "5", "4", "3", "2", "1"]
    previous = [link for link in page["link"] if link["relation"] == "previous"]
    assert previous
