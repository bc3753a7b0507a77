"""When each plan of care is next due for review, which rule set the date, and the overdue worklist.

A child's complexity level (its latest complexity RiskAssessment) sets how often the plan is reviewed.
The plan's clock runs from the latest of what happened to it:

- a **review** (a completed Task ``care-plan-review`` whose ``focus`` is the plan, or that names the
  child and no plan; or the plan's ``careplan-last-review`` extension): the review's own next review
  date (its ``next-review-due`` output) when it set one, else the level's interval after the review;
- an **assessment** later than any review: the level's interval after it (a reassessment can raise the
  level, and the review interval with it);
- otherwise the **plan's start** (``period.start``, else ``created``): the level's interval after it.

A **hospital discharge** after the plan's last review (or, never reviewed, after its start) makes the plan
due within ``DISCHARGE_REVIEW_DAYS`` of the discharge, when that comes before the date above: transitions
are the moments of highest risk, and the team reviews the plan after any hospital stay. A discharge is a
finished inpatient Encounter of the child (class ``IMP``, ``ACUTE``, ``NONAC``, or one with
``hospitalization``, as the summary counts hospital stays) with a ``period.end``.

A child assessed but without an active plan is due the level's interval after the assessment; a child
with a plan but no assessment has no level and is not listed. Every line says which rule set its date
(``rule``, a code, and ``basis``, in words: "next_review_due of the review of 2026-05-01", "discharged
from Children's Hospital on 2026-05-20").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Literal

from fhirbridge.assessment.complexity import complexity_level
from fhirbridge.assessment.definitions import BASE, default_rules
from fhirbridge.assessment.values import codings, day_of, exact_date, reference_to

Resource = dict[str, Any]
LAST_REVIEW_EXTENSION = f"{BASE}/StructureDefinition/careplan-last-review"
TASK_KIND = f"{BASE}/CodeSystem/task-kind"
REVIEW_TASK_CODE = "care-plan-review"
REVIEW_OUTPUT = f"{BASE}/CodeSystem/review-output"
NEXT_REVIEW_DUE_OUTPUT = "next-review-due"

# A plan is due for review within this many days of the child's discharge from a hospital stay.
DISCHARGE_REVIEW_DAYS = 7
# Encounter classes (v3-ActCode) of a hospital stay; an Encounter with ``hospitalization`` is one too.
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})

DueRule = Literal["review-next-due", "review-interval", "assessment-interval", "plan-start-interval", "after-discharge"]


@dataclass(frozen=True)
class PlanReview:
    """A review of a plan that took place."""

    reviewed: date
    next_review_due: date | None
    subject: str | None
    plan: str | None  # the plan reviewed (``Task.focus``); None: the child's plans
    task: str | None  # the Task recording it (None: the plan's ``careplan-last-review`` extension)


@dataclass(frozen=True)
class Discharge:
    """A child's discharge from a hospital stay."""

    subject: str
    discharged: date
    hospital: str  # the hospital's name, else its reference, else "hospital"
    encounter: str | None


@dataclass(frozen=True)
class OverdueReview:
    """A line of the worklist: a child whose plan of care is past its review date."""

    subject: str
    care_plan: str | None
    level: str
    last_review: date | None
    due: date
    days_overdue: int
    risk_assessment: str | None
    rule: DueRule
    basis: str  # the rule in words, with the date it ran from
    review: str | None = None  # the review Task the date came from


def plan_review(task: Resource) -> PlanReview | None:
    """The review a Task records, or None when it is not a completed plan review with a date."""
    if task.get("resourceType") != "Task" or task.get("status") != "completed":
        return None
    if not any(
        coding.get("system") == TASK_KIND and coding.get("code") == REVIEW_TASK_CODE
        for coding in codings(task.get("code"))
    ):
        return None
    period = task.get("executionPeriod")
    reviewed = exact_date(period.get("end") if isinstance(period, dict) else None) or exact_date(task.get("authoredOn"))
    if reviewed is None:
        return None
    next_due = None
    for output in task.get("output") or []:
        if not isinstance(output, dict):
            continue
        kinds = {coding.get("code") for coding in codings(output.get("type")) if coding.get("system") == REVIEW_OUTPUT}
        if NEXT_REVIEW_DUE_OUTPUT in kinds:
            next_due = exact_date(output.get("valueDate") or output.get("valueDateTime"))
    return PlanReview(
        reviewed=reviewed,
        next_review_due=next_due,
        subject=_reference(task.get("for")),
        plan=_reference(task.get("focus")),
        task=f"Task/{task['id']}" if task.get("id") else None,
    )


def discharge(encounter: Resource, hospital_names: Mapping[str, str] | None = None) -> Discharge | None:
    """The discharge an Encounter records, or None when it is not a finished hospital stay with an end.
    ``hospital_names``: names of the organizations it may name as ``serviceProvider``, by reference."""
    if encounter.get("resourceType") != "Encounter" or encounter.get("status") != "finished":
        return None
    kind = encounter.get("class")
    if not (isinstance(kind, dict) and kind.get("code") in INPATIENT_CLASSES) and not encounter.get("hospitalization"):
        return None
    subject = _reference(encounter.get("subject"))
    period = encounter.get("period")
    discharged = exact_date(period.get("end") if isinstance(period, dict) else None)
    if subject is None or discharged is None:
        return None
    provider = encounter.get("serviceProvider")
    reference = _reference(provider)
    display = provider.get("display") if isinstance(provider, dict) else None
    hospital = (
        (hospital_names or {}).get(reference or "")
        or (display if isinstance(display, str) and display else None)
        or reference
        or "hospital"
    )
    return Discharge(subject, discharged, hospital, reference_to(encounter))


def overdue_reviews(
    risk_assessments: Iterable[Resource],
    care_plans: Iterable[Resource],
    *,
    today: date,
    reviews: Iterable[Resource] = (),
    encounters: Iterable[Resource] = (),
    hospital_names: Mapping[str, str] | None = None,
    rules: Mapping[str, Any] | None = None,
) -> list[OverdueReview]:
    """The worklist of plans of care past their review date, most overdue first (see the module)."""
    intervals = {str(level["code"]): int(level["reviewIntervalDays"]) for level in (rules or default_rules())["levels"]}
    latest: dict[str, Resource] = {}
    for assessment in risk_assessments:
        subject = _reference(assessment.get("subject"))
        if subject is None or complexity_level(assessment) is None or assessment.get("status") == "entered-in-error":
            continue
        current = latest.get(subject)
        if current is None or day_of(current.get("occurrenceDateTime")) < day_of(assessment.get("occurrenceDateTime")):
            latest[subject] = assessment
    plans: dict[str, list[Resource]] = {}
    for plan in care_plans:
        subject = _reference(plan.get("subject"))
        # Only the main plan is reviewed; an emergency plan is part of it (partOf).
        if subject is not None and plan.get("status") == "active" and not plan.get("partOf"):
            plans.setdefault(subject, []).append(plan)
    recorded = [review for review in (plan_review(task) for task in reviews) if review is not None]
    discharges: dict[str, list[Discharge]] = {}
    for found in (discharge(encounter, hospital_names) for encounter in encounters):
        if found is not None:
            discharges.setdefault(found.subject, []).append(found)
    worklist: list[OverdueReview] = []
    for subject, assessment in latest.items():
        level = complexity_level(assessment) or ""
        interval = intervals.get(level)
        if interval is None:
            continue
        assessed = day_of(assessment.get("occurrenceDateTime"))
        subject_plans: list[Resource | None] = list(plans.get(subject, [])) or [None]
        for open_plan in subject_plans:
            line = _due(subject, open_plan, level, interval, assessment, assessed, recorded)
            if open_plan is not None:
                line = _after_discharge(line, open_plan, subject, recorded, discharges.get(subject, []))
            if line.due < today:
                worklist.append(replace(line, days_overdue=(today - line.due).days))
    return sorted(worklist, key=lambda line: (-line.days_overdue, line.subject))


def _due(
    subject: str,
    plan: Resource | None,
    level: str,
    interval: int,
    assessment: Resource,
    assessed: date,
    recorded: list[PlanReview],
) -> OverdueReview:
    """When ``plan`` (None: the child has no plan) is next due for review, and the rule that says so."""
    period = f"interval for complexity {level} ({interval} days)"

    def line(due: date, rule: DueRule, basis: str, review: PlanReview | None = None) -> OverdueReview:
        return OverdueReview(
            subject=subject,
            care_plan=reference_to(plan),
            level=level,
            last_review=review.reviewed if review else None,
            due=due,
            days_overdue=0,
            risk_assessment=reference_to(assessment),
            rule=rule,
            basis=basis,
            review=review.task if review else None,
        )

    if plan is None:
        return line(
            assessed + timedelta(days=interval),
            "assessment-interval",
            f"no plan yet: {period} after the assessment of {assessed.isoformat()}",
        )
    review = _latest_review(plan, subject, recorded)
    if review is not None and review.reviewed >= assessed:
        when = review.reviewed.isoformat()
        if review.next_review_due is not None:
            return line(review.next_review_due, "review-next-due", f"next_review_due of the review of {when}", review)
        return line(
            review.reviewed + timedelta(days=interval),
            "review-interval",
            f"{period} after the review of {when}",
            review,
        )
    start = _plan_start(plan)
    if start is None or assessed >= start:
        prefix = "" if review is not None else "no review yet: "
        return line(
            assessed + timedelta(days=interval),
            "assessment-interval",
            f"{prefix}{period} after the assessment of {assessed.isoformat()}",
            review,
        )
    return line(
        start + timedelta(days=interval),
        "plan-start-interval",
        f"no review yet: {period} from plan start {start.isoformat()}",
    )


def _after_discharge(
    line: OverdueReview, plan: Resource, subject: str, recorded: list[PlanReview], discharges: list[Discharge]
) -> OverdueReview:
    """``line``, or the after-discharge date when the child left hospital after the plan's last review (or,
    never reviewed, after its start) and that date comes first. The first discharge nobody reviewed
    after counts: the review was due from then. A review on the day of discharge counts as after it."""
    review = _latest_review(plan, subject, recorded)
    since = review.reviewed if review is not None else _plan_start(plan)
    unreviewed = [stay for stay in discharges if since is None or stay.discharged > since]
    if not unreviewed:
        return line
    first = min(unreviewed, key=lambda stay: stay.discharged)
    due = first.discharged + timedelta(days=DISCHARGE_REVIEW_DAYS)
    if due > line.due:
        return line
    basis = f"discharged from {first.hospital} on {first.discharged.isoformat()}"
    return replace(line, due=due, rule="after-discharge", basis=basis)


def _latest_review(plan: Resource, subject: str, recorded: list[PlanReview]) -> PlanReview | None:
    plan_reference = reference_to(plan)
    found = [
        review
        for review in recorded
        if review.plan == plan_reference or (review.plan is None and review.subject == subject)
    ]
    for extension in plan.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == LAST_REVIEW_EXTENSION:
            reviewed = exact_date(extension.get("valueDateTime") or extension.get("valueDate"))
            if reviewed is not None:
                found.append(PlanReview(reviewed, None, subject, plan_reference, None))
    # The latest review; of two on one day, one that set the next date.
    return max(found, key=lambda review: (review.reviewed, review.next_review_due is not None), default=None)


def _plan_start(plan: Resource) -> date | None:
    period = plan.get("period")
    return exact_date(period.get("start") if isinstance(period, dict) else None) or exact_date(plan.get("created"))


def _reference(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    return str(reference) if reference else None


__all__ = [
    "DISCHARGE_REVIEW_DAYS",
    "INPATIENT_CLASSES",
    "LAST_REVIEW_EXTENSION",
    "REVIEW_OUTPUT",
    "REVIEW_TASK_CODE",
    "TASK_KIND",
    "Discharge",
    "DueRule",
    "OverdueReview",
    "PlanReview",
    "discharge",
    "overdue_reviews",
    "plan_review",
]
