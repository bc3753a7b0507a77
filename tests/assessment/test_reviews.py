"""The review clock of a plan: the latest review, a later assessment, or the plan's start, and a hospital
discharge after the last review; each worklist line names the rule that set its date."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirbridge.assessment import overdue_reviews, plan_review
from fhirbridge.assessment.reviews import DISCHARGE_REVIEW_DAYS, discharge
from tests.assessment.builders import plan, risk

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


def stay(end: str | None, *, status: str = "finished", kind: str = "IMP", **extra: Any) -> dict[str, Any]:
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": f"stay-{end}",
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": kind},
        "subject": {"reference": "Patient/a"},
        "serviceProvider": {"reference": "Organization/lakeside", "display": "Lakeside Children's"},
        "period": {"start": "2026-05-01", **({"end": f"{end}T15:00:00Z"} if end else {})},
        **extra,
    }
    return encounter


def discharged_lines(
    *encounters: dict[str, Any], reviews: tuple[dict[str, Any], ...] = (), created: str = "2025-06-01", **names: str
) -> list[tuple[str, date, str]]:
    worklist = overdue_reviews(
        [risk("Patient/a", "high", "2026-01-10", "ra")],
        [plan("Patient/a", "cp", created)],
        today=TODAY,
        reviews=reviews,
        encounters=encounters,
        hospital_names={f"Organization/{id}": name for id, name in names.items()},
    )
    return [(line.rule, line.due, line.basis) for line in worklist]


def test_a_discharge_after_the_last_review_makes_the_plan_due_within_a_week() -> None:
    reviewed = (review("r", "2026-05-20"),)  # due 2026-06-19 by the interval
    assert discharged_lines(stay("2026-05-22"), reviews=reviewed) == [
        ("after-discharge", date(2026, 5, 29), "discharged from Lakeside Children's on 2026-05-22")
    ]
    assert DISCHARGE_REVIEW_DAYS == 7
    # Not yet a week since the discharge: not overdue.
    assert discharged_lines(stay("2026-05-28"), reviews=reviewed) == []


def test_a_review_on_or_after_the_day_of_discharge_covers_it() -> None:
    assert discharged_lines(stay("2026-05-20"), reviews=(review("r", "2026-05-20"),)) == []
    assert discharged_lines(stay("2026-05-10"), reviews=(review("r", "2026-05-20"),)) == []


def test_the_first_discharge_nobody_reviewed_after_sets_the_date() -> None:
    reviewed = (review("r", "2026-05-01"),)
    (line,) = discharged_lines(stay("2026-05-25"), stay("2026-05-05"), stay("2026-04-20"), reviews=reviewed)
    assert line == ("after-discharge", date(2026, 5, 12), "discharged from Lakeside Children's on 2026-05-05")


def test_an_earlier_due_date_by_the_review_clock_stands() -> None:
    # Reviewed 2026-04-01 (due 2026-05-01); discharged 2026-05-10 (due 2026-05-17): the earlier date stands.
    assert discharged_lines(stay("2026-05-10"), reviews=(review("r", "2026-04-01"),)) == [
        ("review-interval", date(2026, 5, 1), "interval for complexity high (30 days) after the review of 2026-04-01")
    ]


def test_a_plan_never_reviewed_counts_discharges_after_its_start() -> None:
    # Assessed 2026-05-15 (high, due 2026-06-14); the plan started 2026-05-18.
    lines_after = overdue_reviews(
        [risk("Patient/a", "high", "2026-05-15", "ra")],
        [plan("Patient/a", "cp", "2026-05-18")],
        today=TODAY,
        encounters=[stay("2026-05-16"), stay("2026-05-20")],
    )
    assert [(line.rule, line.due) for line in lines_after] == [("after-discharge", date(2026, 5, 27))]
    before_the_plan = overdue_reviews(
        [risk("Patient/a", "high", "2026-05-15", "ra")],
        [plan("Patient/a", "cp", "2026-05-18")],
        today=TODAY,
        encounters=[stay("2026-05-16")],
    )
    assert before_the_plan == []


def test_only_a_finished_hospital_stay_with_an_end_is_a_discharge() -> None:
    reviewed = (review("r", "2026-05-20"),)
    assert discharged_lines(stay("2026-05-22", status="in-progress"), reviews=reviewed) == []
    assert discharged_lines(stay("2026-05-22", kind="AMB"), reviews=reviewed) == []
    assert discharged_lines(stay(None), reviews=reviewed) == []
    assert discharged_lines({**stay("2026-05-22"), "subject": {"reference": "Patient/b"}}, reviews=reviewed) == []
    # An Encounter with a hospitalization is a hospital stay whatever its class (as in the summary).
    emergency_admission = stay("2026-05-22", kind="EMER", hospitalization={"admitSource": {"text": "ED"}})
    assert discharged_lines(emergency_admission, reviews=reviewed)[0][0] == "after-discharge"
    assert discharge(stay("2026-05-22", status="entered-in-error")) is None


def test_the_hospital_is_named_by_its_organization_else_the_display_else_the_reference() -> None:
    reviewed = (review("r", "2026-05-20"),)
    named = discharged_lines(stay("2026-05-22"), reviews=reviewed, lakeside="Lakeside Children's Hospital")
    assert named[0][2] == "discharged from Lakeside Children's Hospital on 2026-05-22"
    no_display = stay("2026-05-22", serviceProvider={"reference": "Organization/lakeside"})
    assert discharged_lines(no_display, reviews=reviewed)[0][2] == "discharged from Organization/lakeside on 2026-05-22"
    unnamed = {key: value for key, value in stay("2026-05-22").items() if key != "serviceProvider"}
    assert discharged_lines(unnamed, reviews=reviewed)[0][2] == "discharged from hospital on 2026-05-22"
