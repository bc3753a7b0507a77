"""The demo coordinator's caseload: valid R4, meeting its profile, naming the demo children, moving with today."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fhirbridge.demo import DEMO_CHILDREN, WRITTEN_AS_OF, demo_caseloads
from fhirbridge.engine.validation import check_resource
from fhirbridge.validation import validate_resource


def caseload(today: date | None = None) -> dict[str, Any]:
    (group,) = [e["resource"] for e in demo_caseloads(today)["entry"] if e["resource"]["resourceType"] == "Group"]
    found: dict[str, Any] = group
    return found


def test_the_caseload_lists_the_demo_children_and_its_coordinator() -> None:
    group = caseload()
    assert [m["entity"]["reference"] for m in group["member"]] == [f"Patient/{c}" for c in DEMO_CHILDREN]
    manager = group["managingEntity"]["reference"]
    assert manager in {entry["request"]["url"] for entry in demo_caseloads()["entry"]}  # loaded with it


def test_every_resource_is_valid_r4_and_meets_its_profiles() -> None:
    errors = []
    for entry in demo_caseloads()["entry"]:
        resource = entry["resource"]
        check_resource(resource)
        assert resource["text"]["status"] == "generated"
        errors += [
            f"{resource['resourceType']}/{resource['id']}: {issue.diagnostics}"
            for issue in validate_resource(resource)
            if issue.severity in ("error", "fatal")
        ]
    assert errors == []


def test_the_caseload_moves_with_today() -> None:
    written = caseload(WRITTEN_AS_OF)
    later = caseload(WRITTEN_AS_OF + timedelta(days=100))
    starts = [date.fromisoformat(m["period"]["start"]) for m in written["member"]]
    moved = [date.fromisoformat(m["period"]["start"]) for m in later["member"]]
    assert [start + timedelta(days=100) for start in starts] == moved
    assert all(start <= WRITTEN_AS_OF for start in starts)
