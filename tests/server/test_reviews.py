"""Plan reviews count: the overdue worklist runs each plan's clock from its latest review (that review's
next review date, or the complexity level's interval after it), and every line says which rule set its
date. Over HTTP, on both storage backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.assessment.builders import answered

TASK_KIND = "http://fhirbridge.org/fhir/CodeSystem/task-kind"
REVIEW_OUTPUT = "http://fhirbridge.org/fhir/CodeSystem/review-output"
TODAY = datetime.now(UTC).date()


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def put(http: httpx.Client, resource: dict[str, Any]) -> None:
    response = http.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text


def plan(start: date) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "maya-plan",
        "status": "active",
        "intent": "plan",
        "category": [
            {"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "code": "assess-plan"}]}
        ],
        "subject": {"reference": "Patient/maya"},
        "period": {"start": start.isoformat()},
    }


def review_task(id: str, reviewed: date, next_due: date | None = None) -> dict[str, Any]:
    """A plan review as the record writes it (mappers/task.py): a completed Task care-plan-review."""
    outputs: list[dict[str, Any]] = [
        {"type": {"coding": [{"system": REVIEW_OUTPUT, "code": "outcome"}]}, "valueString": "Reviewed with the family"}
    ]
    if next_due:
        outputs.append(
            {
                "type": {"coding": [{"system": REVIEW_OUTPUT, "code": "next-review-due"}]},
                "valueDate": next_due.isoformat(),
            }
        )
    return {
        "resourceType": "Task",
        "id": id,
        "status": "completed",
        "intent": "plan",
        "code": {"coding": [{"system": TASK_KIND, "code": "care-plan-review"}]},
        "focus": {"reference": "CarePlan/maya-plan"},
        "for": {"reference": "Patient/maya"},
        "executionPeriod": {"end": reviewed.isoformat()},
        "output": outputs,
    }


@pytest.fixture
def http(client: httpx.Client) -> httpx.Client:
    """Maya, assessed 200 days ago (high complexity: a review every 30 days), her family and team."""
    for resource in (
        {"resourceType": "Patient", "id": "maya", "name": [{"given": ["Maya"], "family": "Okafor"}]},
        {
            "resourceType": "RelatedPerson",
            "id": "maya-mother",
            "patient": {"reference": "Patient/maya"},
            "name": [{"given": ["Ada"], "family": "Okafor"}],
        },
        {"resourceType": "Practitioner", "id": "coordinator-lee", "name": [{"given": ["Sam"], "family": "Lee"}]},
        {
            "resourceType": "CareTeam",
            "id": "maya-team",
            "status": "active",
            "subject": {"reference": "Patient/maya"},
            "participant": [
                {"member": {"reference": "Practitioner/coordinator-lee"}},
                {"member": {"reference": "RelatedPerson/maya-mother"}},
            ],
        },
    ):
        put(client, resource)
    response = answered()
    response["authored"] = f"{days_ago(200).isoformat()}T15:00:00Z"
    stored = client.post("/QuestionnaireResponse", json=response)
    assert stored.status_code == 201, stored.text
    assessed = client.post(f"/QuestionnaireResponse/{stored.json()['id']}/$assess")
    assert assessed.status_code == 200, assessed.text
    return client


def worklist(http: httpx.Client) -> list[dict[str, Any]]:
    """Each line of the worklist as {parameter name: its value}."""
    bundle = http.get("/CarePlan/$overdue-reviews")
    assert bundle.status_code == 200, bundle.text
    lines = []
    for entry in bundle.json().get("entry") or []:
        line: dict[str, Any] = {}
        for parameter in entry["resource"]["parameter"]:
            value = next(v for k, v in parameter.items() if k.startswith("value"))
            line[parameter["name"]] = value["reference"] if isinstance(value, dict) else value
        lines.append(line)
    return lines


def test_a_review_dated_today_takes_the_plan_off_the_worklist(http: httpx.Client) -> None:
    put(http, plan(start=days_ago(400)))
    (line,) = worklist(http)
    assert (line["carePlan"], line["daysOverdue"]) == ("CarePlan/maya-plan", 170)
    put(http, review_task("review-today", TODAY))
    assert worklist(http) == []


def test_a_review_recorded_in_the_record_counts(http: httpx.Client) -> None:
    put(http, plan(start=days_ago(400)))
    assert len(worklist(http)) == 1
    review = {
        "id": "review-today",
        "reviewed_on": TODAY.isoformat(),
        "plan_id": "maya-plan",
        "outcome": "Plan reviewed with the family",
        "next_review_due": (TODAY + timedelta(days=60)).isoformat(),
    }
    written = http.put("/coordination/children/maya/reviews", json=[review])
    assert written.status_code == 200, written.text
    assert worklist(http) == []


def test_without_a_review_the_plan_runs_from_its_start_or_a_later_assessment(http: httpx.Client) -> None:
    put(http, plan(start=days_ago(150)))  # started after the assessment
    (line,) = worklist(http)
    assert line["rule"] == "plan-start-interval"
    assert line["due"] == days_ago(120).isoformat()
    assert line["basis"] == f"no review yet: interval for complexity high (30 days) from plan start {days_ago(150)}"
    assert "lastReview" not in line and "review" not in line

    put(http, plan(start=days_ago(400)))  # started before it: the assessment set the date
    (line,) = worklist(http)
    assert (line["rule"], line["due"]) == ("assessment-interval", days_ago(170).isoformat())
    assert (
        line["basis"]
        == f"no review yet: interval for complexity high (30 days) after the assessment of {days_ago(200)}"
    )


def test_the_latest_review_sets_the_date_and_the_line_says_how(http: httpx.Client) -> None:
    put(http, plan(start=days_ago(400)))
    put(http, review_task("review-1", days_ago(100)))
    (line,) = worklist(http)
    assert (line["rule"], line["due"], line["daysOverdue"]) == ("review-interval", days_ago(70).isoformat(), 70)
    assert line["basis"] == f"interval for complexity high (30 days) after the review of {days_ago(100)}"
    assert (line["review"], line["lastReview"]) == ("Task/review-1", days_ago(100).isoformat())

    put(http, review_task("review-2", days_ago(50), next_due=days_ago(10)))
    (line,) = worklist(http)
    assert (line["rule"], line["due"], line["daysOverdue"]) == ("review-next-due", days_ago(10).isoformat(), 10)
    assert line["basis"] == f"next_review_due of the review of {days_ago(50)}"
    assert line["review"] == "Task/review-2"


def test_a_review_not_done_does_not_count(http: httpx.Client) -> None:
    put(http, plan(start=days_ago(400)))
    scheduled = {**review_task("review-planned", TODAY), "status": "requested"}
    put(http, scheduled)
    assert worklist(http)[0]["rule"] == "assessment-interval"
