"""Coordination time over HTTP, on both storage backends, with tokens as deployed (care-team mode), over the
caseload world of tests/server/caseloads.py (Dana, Practitioner/coord-a, treats Ana; Sam, coord-b, of
another practice, treats Fay and Ben, not Ana). Ana's activities, all by Dana, worked out by hand:

- January: a call 10:00-10:20 (20 minutes): exactly 99490's 20 minutes, no 99439 unit;
- February: a call of 12 minutes and a letter of 7 minutes 30 seconds (7 whole minutes): 19, below 99490;
- March: a call of 20 minutes and a visit from 31 March 23:30 to 1 April 00:15 (45 minutes, counted in March,
  where it starts): 65 minutes; 99490 reached, 99439 (65 - 20) // 20 = 2 units, 99491 (30) and 99487 (60)
  reached, 99489 (65 - 60) // 30 = 0 units; a call marked entered-in-error (30 minutes) is not counted;
  a team meeting with no end is listed as not counted;
- April: nothing starts in April: "no activity recorded", not 0 minutes.
Sam's 30-minute call about Fay in March is his alone: Dana sees none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.security.conftest import client_as, store, token_for
from tests.server.caseloads import COORDINATOR_A, COORDINATOR_B, world

ACTIVITY = "http://fhirbridge.org/fhir/CodeSystem/coordination-activity"


def activity(
    id: str, child: str, kind: str, start: str, end: str | None, *, by: str = COORDINATOR_A, status: str = "completed"
) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Procedure",
        "id": id,
        "status": status,
        "category": {"coding": [{"system": ACTIVITY, "code": kind}]},
        "subject": {"reference": f"Patient/{child}"},
        "performedPeriod": period,
        "performer": [{"actor": {"reference": by}}],
    }


def activities() -> list[dict[str, Any]]:
    return [
        activity("jan-call", "ana", "call", "2026-01-14T10:00:00Z", "2026-01-14T10:20:00Z"),
        activity("feb-call", "ana", "call", "2026-02-03T09:00:00Z", "2026-02-03T09:12:00Z"),
        activity("feb-letter", "ana", "letter", "2026-02-10T15:00:00Z", "2026-02-10T15:07:30Z"),
        activity("mar-call", "ana", "call", "2026-03-02T10:00:00Z", "2026-03-02T10:20:00Z"),
        activity("mar-visit", "ana", "visit", "2026-03-31T23:30:00Z", "2026-04-01T00:15:00Z"),
        activity("mar-error", "ana", "call", "2026-03-03T10:00:00Z", "2026-03-03T10:30:00Z", status="entered-in-error"),
        activity("mar-meeting", "ana", "team-meeting", "2026-03-04T13:00:00Z", None),
        activity("fay-call", "fay", "call", "2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z", by=COORDINATOR_B),
    ]


# Dana in her role at the practice: an EHR may record her activities against it rather than against her.
DANA_ROLE = {
    "resourceType": "PractitionerRole",
    "id": "dana-coordinator-role",
    "active": True,
    "practitioner": {"reference": COORDINATOR_A},
    "code": [{"text": "care coordinator"}],
}


@pytest.fixture
def dana(secure_server: LiveServer) -> Iterator[httpx.Client]:
    store(secure_server, *world(), *activities())
    with client_as(secure_server, token_for("care-coordinator", org="riverside", user=COORDINATOR_A)) as http:
        yield http


@pytest.fixture
def sam(secure_server: LiveServer, dana: httpx.Client) -> Iterator[httpx.Client]:
    with client_as(secure_server, token_for("care-coordinator", org="northside", user=COORDINATOR_B)) as http:
        yield http


def outline(parameters: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Parameters as (name, value) pairs: a Reference as its reference, a Coding as its code."""
    found: list[tuple[str, Any]] = []
    for parameter in parameters:
        value = parameter.get("part")
        if value is not None:
            found.append((parameter["name"], outline(value)))
            continue
        value = next(item for key, item in parameter.items() if key.startswith("value"))
        found.append(
            (parameter["name"], value.get("reference", value.get("code")) if isinstance(value, dict) else value)
        )
    return found


def time_of(http: httpx.Client, who: str, month: str) -> list[tuple[str, Any]]:
    response = http.get(f"/{who}/$coordination-time", params={"month": month})
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "Parameters"
    return outline(response.json()["parameter"])


def value(found: list[tuple[str, Any]], name: str) -> Any:
    return next(item for key, item in found if key == name)


def thresholds(found: list[tuple[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Each threshold as code -> (reached, units when an add-on)."""
    return {
        dict(parts)["code"]: tuple(item for key, item in parts if key in ("reached", "units"))
        for _, parts in value(found, "thresholds")
    }


def test_a_child_s_months_worked_out_by_hand(dana: httpx.Client) -> None:
    january = time_of(dana, "Patient/ana", "2026-01")
    assert value(january, "totalMinutes") == 20
    assert thresholds(january) == {
        "99490": (True,),
        "99439": (False, 0),
        "99491": (False,),
        "99487": (False,),
        "99489": (False, 0),
    }
    february = time_of(dana, "Patient/ana", "2026-02")
    assert value(february, "totalMinutes") == 19  # 12 + 7 (the letter's 30 seconds dropped)
    assert thresholds(february)["99490"] == (False,)
    march = time_of(dana, "Patient/ana", "2026-03")
    assert march[:3] == [("subject", "Patient/ana"), ("month", "2026-03"), ("totalMinutes", 65)]
    assert [parts for key, parts in march if key == "byKind"] == [
        [("kind", "call"), ("minutes", 20), ("count", 1)],
        [("kind", "visit"), ("minutes", 45), ("count", 1)],
    ]
    assert thresholds(march) == {
        "99490": (True,),
        "99439": (True, 2),
        "99491": (True,),
        "99487": (True,),
        "99489": (False, 0),
    }
    assert [dict(parts)["procedure"] for key, parts in march if key == "activity"] == [
        "Procedure/mar-call",
        "Procedure/mar-visit",
    ]
    assert [parts for key, parts in march if key == "notCounted"] == [
        [("procedure", "Procedure/mar-meeting"), ("reason", "performedPeriod.end is missing or has no time of day")]
    ]


def test_a_month_without_activity_says_so(dana: httpx.Client) -> None:
    april = time_of(dana, "Patient/ana", "2026-04")  # the visit ending on 1 April counted in March
    assert april == [
        ("subject", "Patient/ana"),
        ("month", "2026-04"),
        ("notRecorded", "activity"),
        ("summary", "No coordination activity recorded in 2026-04"),
    ]


def test_a_coordinator_s_month_by_child(dana: httpx.Client) -> None:
    march = time_of(dana, f"{COORDINATOR_A}", "2026-03")
    assert value(march, "totalMinutes") == 65
    assert value(march, "byChild") == [("child", [("subject", "Patient/ana"), ("minutes", 65)])]
    assert all(key != "thresholds" for key, _ in march)


def test_activities_recorded_against_a_coordinator_s_role_are_hers(dana: httpx.Client) -> None:
    assert dana.put(f"/PractitionerRole/{DANA_ROLE['id']}", json=DANA_ROLE).status_code == 201
    by_role = activity(
        "mar-role-call",
        "ana",
        "call",
        "2026-03-09T10:00:00Z",
        "2026-03-09T10:10:00Z",
        by=f"PractitionerRole/{DANA_ROLE['id']}",
    )
    assert dana.put("/Procedure/mar-role-call", json=by_role).status_code == 201
    march = time_of(dana, COORDINATOR_A, "2026-03")
    assert value(march, "totalMinutes") == 75  # 65 recorded against her, 10 against her role
    assert value(march, "byChild") == [("child", [("subject", "Patient/ana"), ("minutes", 75)])]


def test_another_practice_s_coordinator_sees_nothing(sam: httpx.Client) -> None:
    assert sam.get("/Patient/ana/$coordination-time", params={"month": "2026-03"}).status_code == 404
    assert value(time_of(sam, COORDINATOR_A, "2026-03"), "notRecorded") == "activity"
    assert value(time_of(sam, COORDINATOR_B, "2026-03"), "totalMinutes") == 30


def test_dana_does_not_count_sam_s_child(dana: httpx.Client) -> None:
    assert value(time_of(dana, COORDINATOR_B, "2026-03"), "notRecorded") == "activity"


def test_month_is_required_and_strict(dana: httpx.Client) -> None:
    for params in ({}, {"month": "2026-3"}, {"month": "2026-13"}, {"month": "2026-03", "as-of": "2026-03-01"}):
        response = dana.get("/Patient/ana/$coordination-time", params=params)
        assert response.status_code == 400, params


def test_a_bad_activity_is_refused_naming_the_element(dana: httpx.Client) -> None:
    no_end = activity("new-call", "ana", "call", "2026-03-06T10:00:00Z", None)
    refused = dana.put("/Procedure/new-call", json=no_end)
    assert refused.status_code == 422, refused.text
    assert "fhirbridge-coordination-1" in refused.text and "performedPeriod" in refused.text
    no_performer = {**activity("new-call", "ana", "call", "2026-03-06T10:00:00Z", "2026-03-06T10:10:00Z")}
    del no_performer["performer"]
    refused = dana.put("/Procedure/new-call", json=no_performer)
    assert refused.status_code == 422, refused.text
    assert "Procedure.performer" in refused.text
    good = activity("new-call", "ana", "call", "2026-03-06T10:00:00Z", "2026-03-06T10:10:00Z")
    assert dana.put("/Procedure/new-call", json=good).status_code == 201
    assert value(time_of(dana, "Patient/ana", "2026-03"), "totalMinutes") == 75
