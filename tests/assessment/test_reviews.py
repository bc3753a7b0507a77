"""The review clock of a plan: the latest review, a later assessment, or the plan's start; each worklist line
names the rule that set its date."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirbridge.assessment import overdue_reviews, plan_review
from tests.assessment.test_stratification import plan, risk

TASK_KIND = "http://fhirbridge.org/fhir/CodeSystem/task-kind"
REVIEW_OUTPUT = "http://fhirbridge.org/fhir/CodeSystem/review-output"
TODAY = date(2026, 6, 1)


def review(
    id: str, reviewed: str, *, plan: str | None = "CarePlan/cp", next_due: str | None = None, status: str = "completed"
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": id,
        "status": status,
        "intent": "plan",
        "code": {"coding": [{"system": TASK_KIND, "code": "care-plan-review"}]},
        "for": {"reference": "Patient/a"},
        "executionPeriod": {"end": reviewed},
    }
    if plan:
        task["focus"] = {"reference": plan}
    if next_due:
        task["output"] = [
            {"type": {"coding": [{"system": REVIEW_OUTPUT, "code": "next-review-due"}]}, "valueDate": next_due}
        ]
    return task


def lines(*reviews: dict[str, Any], created: str = "2025-06-01") -> list[tuple[str, date, str]]:
    worklist = overdue_reviews(
        [risk("Patient/a", "high", "2026-01-10", "ra")],
        [plan("Patient/a", "cp", created)],
        today=TODAY,
        reviews=reviews,
    )
    return [(line.rule, line.due, line.basis) for line in worklist]


def test_a_plan_review_is_read_from_its_task() -> None:
    found = plan_review(review("r", "2026-05-02", next_due="2026-08-01"))
    assert found is not None
    assert (found.reviewed, found.next_review_due, found.plan, found.task) == (
        date(2026, 5, 2),
        date(2026, 8, 1),
        "CarePlan/cp",
        "Task/r",
    )
    assert plan_review(review("r", "2026-05-02", status="cancelled")) is None
    assert plan_review({**review("r", "2026-05-02"), "code": {"text": "something else"}}) is None


def test_a_review_after_the_assessment_sets_the_date() -> None:
    assert lines(review("r", "2026-03-01")) == [
        ("review-interval", date(2026, 3, 31), "interval for complexity high (30 days) after the review of 2026-03-01")
    ]
    assert lines(review("r", "2026-03-01", next_due="2026-05-01")) == [
        ("review-next-due", date(2026, 5, 1), "next_review_due of the review of 2026-03-01")
    ]
    assert lines(review("r", "2026-05-20")) == []


def test_the_latest_review_counts_and_one_naming_no_plan_is_the_childs() -> None:
    older, newer = review("r1", "2026-02-01", next_due="2026-02-15"), review("r2", "2026-04-01", plan=None)
    assert lines(older, newer) == [
        ("review-interval", date(2026, 5, 1), "interval for complexity high (30 days) after the review of 2026-04-01")
    ]
    of_another_plan = review("r3", "2026-05-25", plan="CarePlan/other")
    assert lines(older, newer, of_another_plan)[0][1] == date(2026, 5, 1)


def test_a_reassessment_after_the_last_review_restarts_the_clock() -> None:
    assert lines(review("r", "2025-12-01", next_due="2026-12-01")) == [
        (
            "assessment-interval",
            date(2026, 2, 9),
            "interval for complexity high (30 days) after the assessment of 2026-01-10",
        )
    ]


def test_without_a_review_the_plan_runs_from_its_start() -> None:
    assert lines(created="2026-02-01") == [
        (
            "plan-start-interval",
            date(2026, 3, 3),
            "no review yet: interval for complexity high (30 days) from plan start 2026-02-01",
        )
    ]
