"""A hospital discharge, end to end: the hospital's discharge planner records the stay and sends the
discharge needs back as a referral; the child's coordinator sees the plan due for review after the
discharge; the summary lists the stay. Over real HTTP with authentication on (care-team mode, as deployed),
on each storage backend.

The planner is related to the child either as a member of the child's care team or by a Consent of the
family naming its hospital and sharing the medical summary (Encounter) and referrals. A planner related
to the child in neither way records nothing and learns nothing about the child.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from fhirbridge.assessment.reviews import DISCHARGE_REVIEW_DAYS
from fhirbridge.classification import SHARED_INFORMATION
from tests.conftest import LiveServer
from tests.factories import care_team
from tests.security import records
from tests.security.conftest import CHILD, client_as, store, token_for

TODAY = datetime.now(UTC).date()
HOSPITAL = "lakeside-childrens"
HOSPITAL_NAME = "Lakeside Children's Hospital"
HOME_HEALTH = "bright-home-health"
PLANNER = "Practitioner/planner-1"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
COMPLEXITY = "http://fhirbridge.org/fhir/CodeSystem/complexity-level"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), response.text
    return response.json()


def consent_to(org: str, *classes: str) -> dict[str, Any]:
    """The family's Consent sharing ``classes`` of Ana's record with ``org``."""
    consent = records.consent(f"ana-consent-{org}", CHILD, org)
    consent["provision"]["class"] = [{"system": SHARED_INFORMATION, "code": code} for code in classes]
    return consent


def seed(server: LiveServer, relation: str) -> None:
    """Ana: low complexity (a review every 180 days), assessed 60 days ago, her plan started 50 days ago,
    so no review is due yet; and the planner's relation to her."""
    related: dict[str, Any] = (
        care_team("ana-hospital-team", CHILD, PLANNER)
        if relation == "care-team"
        else consent_to(HOSPITAL, "medical-summary", "referrals")
    )
    store(
        server,
        records.practice_child(CHILD),
        {"resourceType": "Organization", "id": HOSPITAL, "name": HOSPITAL_NAME},
        {"resourceType": "Organization", "id": HOME_HEALTH, "name": "Bright Home Health"},
        {"resourceType": "Organization", "id": "other-hospital", "name": "Other Hospital"},
        {
            "resourceType": "RiskAssessment",
            "id": "ana-complexity",
            "status": "final",
            "subject": {"reference": f"Patient/{CHILD}"},
            "occurrenceDateTime": days_ago(60).isoformat(),
            "prediction": [{"outcome": {"coding": [{"system": COMPLEXITY, "code": "low"}]}}],
        },
        {
            "resourceType": "CarePlan",
            "id": "ana-plan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": f"Patient/{CHILD}"},
            "period": {"start": days_ago(50).isoformat()},
        },
        related,
    )


def stay(*, discharged: date | None) -> dict[str, Any]:
    """Ana's stay at the hospital, admitted 12 days ago: in progress, or finished on ``discharged``."""
    period = {"start": f"{days_ago(12).isoformat()}T09:00:00Z"}
    if discharged is not None:
        period["end"] = f"{discharged.isoformat()}T15:00:00Z"
    return {
        "resourceType": "Encounter",
        "status": "finished" if discharged else "in-progress",
        "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": {"reference": f"Patient/{CHILD}"},
        "serviceProvider": {"reference": f"Organization/{HOSPITAL}"},
        "period": period,
        "reasonCode": [{"text": "Pneumonia"}],
        "hospitalization": {"dischargeDisposition": {"text": "Home with home nursing"}},
    }


def discharge_need() -> dict[str, Any]:
    """Home nursing after discharge, requested by the hospital from a home-health agency."""
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"text": "Home nursing visits after discharge"},
        "subject": {"reference": f"Patient/{CHILD}"},
        "requester": {"reference": f"Organization/{HOSPITAL}"},
        "performer": [{"reference": f"Organization/{HOME_HEALTH}"}],
    }


def referral_task(request: str) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
        "focus": {"reference": request},
        "for": {"reference": f"Patient/{CHILD}"},
        "requester": {"reference": f"Organization/{HOSPITAL}"},
        "owner": {"reference": f"Organization/{HOME_HEALTH}"},
        "authoredOn": TODAY.isoformat(),
    }


def worklist(http: httpx.Client) -> list[dict[str, Any]]:
    """Each line of the overdue-reviews worklist as {parameter name: its value}."""
    lines = []
    for entry in ok(http.get("/CarePlan/$overdue-reviews")).get("entry") or []:
        line: dict[str, Any] = {}
        for parameter in entry["resource"]["parameter"]:
            value = next(v for k, v in parameter.items() if k.startswith("value"))
            line[parameter["name"]] = value["reference"] if isinstance(value, dict) else value
        lines.append(line)
    return lines


def hospital_stays(http: httpx.Client) -> dict[str, Any]:
    document = ok(http.get(f"/Patient/{CHILD}/$summary"))
    composition = document["entry"][0]["resource"]
    section: dict[str, Any] = next(s for s in composition["section"] if s["title"] == "Recent hospital stays")
    return section


@pytest.fixture
def coordinator(secure_server: LiveServer) -> Iterator[httpx.Client]:
    with client_as(secure_server, token_for("care-coordinator", user=records.COORDINATOR)) as http:
        yield http


@pytest.mark.parametrize("relation", ["care-team", "consent"])
def test_the_discharge_planner_records_the_stay_and_the_coordinator_reviews_after_it(
    secure_server: LiveServer, coordinator: httpx.Client, relation: str
) -> None:
    seed(secure_server, relation)
    assert worklist(coordinator) == []
    discharged = days_ago(10)
    with client_as(secure_server, token_for("discharge-planner", user=PLANNER, org=HOSPITAL)) as planner:
        admitted = ok(planner.post("/Encounter", json=stay(discharged=None)), 201)
        encounter = f"Encounter/{admitted['id']}"
        # Still in hospital: nothing is due yet.
        assert worklist(coordinator) == []
        ok(planner.put(f"/{encounter}", json={**stay(discharged=discharged), "id": admitted["id"]}))

        request = ok(planner.post("/ServiceRequest", json=discharge_need()), 201)
        task = ok(planner.post("/Task", json=referral_task(f"ServiceRequest/{request['id']}")), 201)

        section = hospital_stays(planner)
        assert [entry["reference"] for entry in section["entry"]] == [encounter]
        assert f"{html.escape(HOSPITAL_NAME)}, {days_ago(12)} to {discharged}, Pneumonia" in section["text"]["div"]

    (line,) = worklist(coordinator)
    due = discharged + timedelta(days=DISCHARGE_REVIEW_DAYS)
    assert line["carePlan"] == "CarePlan/ana-plan"
    assert (line["rule"], line["due"], line["daysOverdue"]) == ("after-discharge", due.isoformat(), (TODAY - due).days)
    assert line["basis"] == f"discharged from {HOSPITAL_NAME} on {discharged.isoformat()}"

    # The coordinator's summary lists the stay too, and the discharge need among the open referrals.
    assert [entry["reference"] for entry in hospital_stays(coordinator)["entry"]] == [encounter]
    document = ok(coordinator.get(f"/Patient/{CHILD}/$summary"))
    referrals = next(s for s in document["entry"][0]["resource"]["section"] if s["title"] == "Open referrals")
    assert {f"ServiceRequest/{request['id']}", f"Task/{task['id']}"} <= {e["reference"] for e in referrals["entry"]}

    # A review after the discharge takes the plan off the worklist.
    review = {
        "resourceType": "Task",
        "id": "ana-review",
        "status": "completed",
        "intent": "plan",
        "code": {"coding": [{"system": "http://fhirbridge.org/fhir/CodeSystem/task-kind", "code": "care-plan-review"}]},
        "focus": {"reference": "CarePlan/ana-plan"},
        "for": {"reference": f"Patient/{CHILD}"},
        "executionPeriod": {"end": TODAY.isoformat()},
    }
    ok(coordinator.put("/Task/ana-review", json=review), 201)
    assert worklist(coordinator) == []


def test_a_discharge_planner_not_related_to_the_child_records_and_sees_nothing(
    secure_server: LiveServer, coordinator: httpx.Client
) -> None:
    seed(secure_server, "care-team")
    recorded = ok(coordinator.post("/Encounter", json=stay(discharged=days_ago(10))), 201)
    stranger = token_for("discharge-planner", user="Practitioner/planner-9", org="other-hospital")
    with client_as(secure_server, stranger) as planner:
        # Writing about a child the caller is not related to is refused; what exists stays hidden (404).
        assert planner.post("/Encounter", json=stay(discharged=days_ago(10))).status_code == 403
        assert planner.put(f"/Encounter/{recorded['id']}", json=recorded).status_code == 404
        assert planner.get(f"/Encounter/{recorded['id']}").status_code == 404
        need = {**discharge_need(), "requester": {"reference": "Organization/other-hospital"}}
        assert planner.post("/ServiceRequest", json=need).status_code == 403
        assert planner.get(f"/Patient/{CHILD}/$summary").status_code == 404
        assert ok(planner.get("/Encounter", params={"patient": CHILD})).get("entry") is None
    # Only the coordinator's own record of the stay is there.
    stays = ok(coordinator.get("/Encounter", params={"patient": CHILD}))
    assert [entry["resource"]["id"] for entry in stays["entry"]] == [recorded["id"]]


def test_a_consent_that_does_not_share_the_medical_summary_does_not_let_the_hospital_record_the_stay(
    secure_server: LiveServer,
) -> None:
    seed(secure_server, "consent")
    store(secure_server, consent_to("other-hospital", "referrals"))
    with client_as(secure_server, token_for("discharge-planner", org="other-hospital")) as planner:
        stay_elsewhere = {
            **stay(discharged=days_ago(10)),
            "serviceProvider": {"reference": "Organization/other-hospital"},
        }
        assert planner.post("/Encounter", json=stay_elsewhere).status_code == 403
        need = {**discharge_need(), "requester": {"reference": "Organization/other-hospital"}}
        ok(planner.post("/ServiceRequest", json=need), 201)


def test_a_hospital_records_only_its_own_stays(secure_server: LiveServer) -> None:
    """A hospital related by Consent records a stay in its own name and changes only its own stays."""
    seed(secure_server, "consent")
    clinic_visit = {**stay(discharged=days_ago(30)), "id": "clinic-stay"}
    clinic_visit["serviceProvider"] = {"reference": f"Organization/{HOME_HEALTH}"}
    store(secure_server, clinic_visit)
    with client_as(secure_server, token_for("discharge-planner", user=PLANNER, org=HOSPITAL)) as planner:
        elsewhere = {**stay(discharged=None), "serviceProvider": {"reference": "Organization/other-hospital"}}
        refused = planner.post("/Encounter", json=elsewhere)
        assert refused.status_code == 403, refused.text
        assert refused.json()["issue"][0]["expression"] == ["Encounter.serviceProvider"]
        assert planner.post("/Encounter", json=stay(discharged=None)).status_code == 201
        changed = {**clinic_visit, "status": "cancelled"}
        assert planner.put("/Encounter/clinic-stay", json=changed).status_code == 403
