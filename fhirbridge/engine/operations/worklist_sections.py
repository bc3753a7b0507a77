"""The sections of a caseload's worklist, computed from the children's records as the caller may read them.

Pure functions over FHIR resources (no store, no access: ``worklist.py`` reads the records under the
caller's access and passes them in). Each section answers one question of a coordinator's day, and
never takes "not recorded" for "nothing to do": a child without a plan of care, an action step without
a due date, a referral nobody tracks are lines of their own (``not_recorded`` names what is missing).

- **action steps** due within the window or overdue, and those with no due date, by owner: Tasks that are
  neither referrals nor plan reviews, and the steps a working plan writes inline (``activity.detail``);
- **referrals** still open, by state (the referral Task's status) and age in days; a ServiceRequest
  without a tracking Task is ``untracked``;
- **reviews overdue**: the plan-review clock of ``assessment.reviews``, plus the children whose review date
  cannot be known (no plan of care, no complexity level);
- **goals the family disagrees with**, and those whose family agreement is pending or not recorded;
- **children without a current emergency plan** (none recorded, or none active and in its period).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from fhirbridge.assessment.complexity import complexity_level
from fhirbridge.assessment.reviews import overdue_reviews
from fhirbridge.assessment.values import exact_date
from fhirbridge.classification import is_referral_task
from fhirbridge.engine.operations.worklist_records import (
    ChildRecord,
    EmergencyLine,
    GoalLine,
    ReferralLine,
    ReviewLine,
    StepLine,
    first_reference,
    is_review,
    is_working_plan,
    path_of,
    plan_kind,
    reference_of,
    string_of,
    text_of,
)
from fhirbridge.storage.contract import Resource

GOAL_ACCEPTANCE = "http://hl7.org/fhir/StructureDefinition/goal-acceptance"
CLOSED_TASK = frozenset({"completed", "cancelled", "rejected", "failed", "entered-in-error"})
CLOSED_DETAIL = frozenset({"completed", "cancelled", "stopped", "entered-in-error"})
OPEN_REQUEST = frozenset({"draft", "active", "on-hold"})
OPEN_GOAL = frozenset({"proposed", "planned", "accepted", "active", "on-hold"})
# The referral states in the order a referral moves through them (others, a partner's, after them).
STATE_ORDER = ("draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold", "untracked")


# -- action steps -------------------------------------------------------------------------------------


def action_steps(children: Iterable[ChildRecord], as_of: date, due_within_days: int) -> list[StepLine]:
    """Open action steps due by ``as_of + due_within_days`` (or overdue), and those with no due date."""
    lines: list[StepLine] = []
    for child in children:
        for task in child.of_type("Task"):
            if is_referral_task(task) or is_review(task) or task.get("status") in CLOSED_TASK:
                continue
            due = exact_date(path_of(task, "restriction", "period", "end"))
            line = _step(child, f"Task/{task.get('id')}", None, task.get("description"), task.get("owner"), task, due)
            lines += _if_listed(line, as_of, due_within_days)
        for plan in child.of_type("CarePlan"):
            if not is_working_plan(plan) or plan.get("status") != "active":
                continue
            for index, activity in enumerate(plan.get("activity") or []):
                detail = activity.get("detail") if isinstance(activity, dict) else None
                if not isinstance(detail, dict) or detail.get("doNotPerform") is True:
                    continue
                if detail.get("status") in CLOSED_DETAIL:
                    continue
                performers = [p for p in detail.get("performer") or [] if isinstance(p, dict)]
                description = detail.get("description") or text_of(detail.get("code"))
                due = exact_date(path_of(detail, "scheduledPeriod", "end"))
                step_id = str(activity.get("id") or f"{plan.get('id')}-step-{index + 1}")
                source = f"CarePlan/{plan.get('id')}"
                line = _step(child, source, step_id, description, performers[0] if performers else None, detail, due)
                lines += _if_listed(line, as_of, due_within_days)
    return lines


def _step(
    child: ChildRecord,
    source: str,
    activity: str | None,
    description: Any,
    owner: Any,
    holder: Resource,
    due: date | None,
) -> StepLine:
    return StepLine(
        child=child.reference,
        source=source,
        activity=activity,
        description=description if isinstance(description, str) else None,
        owner=owner if isinstance(owner, dict) and (owner.get("reference") or owner.get("display")) else None,
        status=str(holder.get("status") or "unknown"),
        state="no-due-date",
        due=due,
        days_overdue=None,
    )


def _if_listed(line: StepLine, as_of: date, due_within_days: int) -> list[StepLine]:
    if line.due is None:
        return [line]
    if line.due < as_of:
        return [replace(line, state="overdue", days_overdue=(as_of - line.due).days)]
    if (line.due - as_of).days <= due_within_days:
        return [replace(line, state="due")]
    return []


# -- referrals ----------------------------------------------------------------------------------------


def referrals(children: Iterable[ChildRecord], as_of: date) -> list[ReferralLine]:
    """Open referrals with their state and age; requests nobody tracks with a Task are ``untracked``."""
    lines: list[ReferralLine] = []
    for child in children:
        requests = {f"ServiceRequest/{r.get('id')}": r for r in child.of_type("ServiceRequest")}
        tracked: set[str] = set()
        for task in child.of_type("Task"):
            if not is_referral_task(task):
                continue
            focus = reference_of(task.get("focus"))
            tracked.add(focus or "")
            if task.get("status") in CLOSED_TASK:
                continue
            request = requests.get(focus or "")
            authored = exact_date(task.get("authoredOn")) or exact_date((request or {}).get("authoredOn"))
            lines.append(
                ReferralLine(
                    child=child.reference,
                    state=str(task.get("status") or "unknown"),
                    service_request=focus,
                    task=f"Task/{task.get('id')}",
                    service=text_of((request or {}).get("code")) or string_of(task.get("description")),
                    performer=first_reference(task.get("owner"), (request or {}).get("performer")),
                    authored=authored,
                    age_days=(as_of - authored).days if authored else None,
                    not_recorded=() if authored else ("authored-on",),
                )
            )
        for reference, request in requests.items():
            if reference in tracked or request.get("status") not in OPEN_REQUEST:
                continue
            authored = exact_date(request.get("authoredOn"))
            lines.append(
                ReferralLine(
                    child=child.reference,
                    state="untracked",
                    service_request=reference,
                    task=None,
                    service=text_of(request.get("code")),
                    performer=first_reference(None, request.get("performer")),
                    authored=authored,
                    age_days=(as_of - authored).days if authored else None,
                    not_recorded=("task",) if authored else ("task", "authored-on"),
                )
            )
    return lines


def state_rank(state: str) -> tuple[int, str]:
    return (STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER), state)


# -- reviews ------------------------------------------------------------------------------------------


def reviews_overdue(
    children: list[ChildRecord], as_of: date, hospital_names: Mapping[str, str] | None = None
) -> list[ReviewLine]:
    """Plans past their review date, most overdue first, then the children whose date cannot be known."""
    plans = [plan for child in children for plan in child.of_type("CarePlan") if is_working_plan(plan)]
    overdue = overdue_reviews(
        [risk for child in children for risk in child.of_type("RiskAssessment")],
        plans,
        today=as_of,
        reviews=[task for child in children for task in child.of_type("Task") if is_review(task)],
        encounters=[stay for child in children for stay in child.of_type("Encounter")],
        hospital_names=hospital_names,
    )
    lines = [
        ReviewLine(
            child=line.subject,
            status="overdue",
            care_plan=line.care_plan,
            level=line.level,
            due=line.due,
            days_overdue=line.days_overdue,
            rule=line.rule,
            basis=line.basis,
            last_review=line.last_review,
            review=line.review,
            risk_assessment=line.risk_assessment,
            not_recorded=() if line.care_plan else ("plan-of-care",),
        )
        for line in overdue
    ]
    listed_without_plan = {line.child for line in lines if line.care_plan is None}
    unknown: list[ReviewLine] = []
    for child in children:
        active = [p for p in child.of_type("CarePlan") if is_working_plan(p) and p.get("status") == "active"]
        levelled = any(
            complexity_level(risk) is not None and risk.get("status") != "entered-in-error"
            for risk in child.of_type("RiskAssessment")
        )
        missing_level = () if levelled else ("complexity-level",)
        if not active and child.reference not in listed_without_plan:
            unknown.append(ReviewLine(child.reference, "not-recorded", not_recorded=("plan-of-care", *missing_level)))
        elif active and not levelled:
            unknown += [
                ReviewLine(
                    child.reference, "not-recorded", care_plan=f"CarePlan/{plan.get('id')}", not_recorded=missing_level
                )
                for plan in active
            ]
    return lines + sorted(unknown, key=lambda line: (line.child, line.care_plan or ""))


# -- goals --------------------------------------------------------------------------------------------


def goals_without_agreement(children: Iterable[ChildRecord]) -> list[GoalLine]:
    """Open goals the family disagrees with, or whose family agreement is pending or not recorded.

    The family is the child and its RelatedPersons: any of them disagreeing makes it ``disagree``; else
    any answer pending makes it ``pending``; no answer from the family at all is ``not-recorded``."""
    lines: list[GoalLine] = []
    for child in children:
        for goal in child.of_type("Goal"):
            status = str(goal.get("lifecycleStatus") or "")
            if status not in OPEN_GOAL:
                continue
            answers = [a for a in _acceptances(goal) if _is_family(a[0], child.reference)]
            agreement, individuals = _family_agreement(answers)
            if agreement == "agree":
                continue
            lines.append(
                GoalLine(
                    child=child.reference,
                    goal=f"Goal/{goal.get('id')}",
                    description=text_of(goal.get("description")),
                    lifecycle_status=status,
                    agreement=agreement,
                    individuals=individuals,
                )
            )
    return lines


def _acceptances(goal: Resource) -> list[tuple[dict[str, Any], str]]:
    found = []
    for extension in goal.get("extension") or []:
        if not isinstance(extension, dict) or extension.get("url") != GOAL_ACCEPTANCE:
            continue
        parts = {p.get("url"): p for p in extension.get("extension") or [] if isinstance(p, dict)}
        individual = parts.get("individual", {}).get("valueReference")
        status = parts.get("status", {}).get("valueCode")
        if isinstance(individual, dict) and isinstance(status, str):
            found.append((individual, status))
    return found


def _is_family(individual: dict[str, Any], child: str) -> bool:
    reference = str(individual.get("reference") or "")
    return reference.startswith("RelatedPerson/") or reference == child


def _family_agreement(answers: list[tuple[dict[str, Any], str]]) -> tuple[str, tuple[dict[str, Any], ...]]:
    for position in ("disagree", "pending", "agree"):
        individuals = tuple(individual for individual, status in answers if status == position)
        if individuals:
            return position, individuals
    return "not-recorded", ()


# -- emergency plans ----------------------------------------------------------------------------------


def without_emergency_plan(children: Iterable[ChildRecord], as_of: date) -> list[EmergencyLine]:
    """Children with no emergency plan recorded, or none active and in its period on ``as_of``."""
    lines: list[EmergencyLine] = []
    for child in children:
        plans = [
            plan
            for plan in child.of_type("CarePlan")
            if plan_kind(plan) == "emergency-plan" and plan.get("status") != "entered-in-error"
        ]
        if not plans:
            lines.append(EmergencyLine(child.reference, "not-recorded"))
        elif not any(_is_current(plan, as_of) for plan in plans):
            lines.append(EmergencyLine(child.reference, "not-current", tuple(plans)))
    return lines


def _is_current(plan: Resource, as_of: date) -> bool:
    start = exact_date(path_of(plan, "period", "start"))
    end = exact_date(path_of(plan, "period", "end"))
    return plan.get("status") == "active" and (start is None or start <= as_of) and (end is None or as_of <= end)


__all__ = [
    "CLOSED_TASK",
    "action_steps",
    "goals_without_agreement",
    "referrals",
    "reviews_overdue",
    "state_rank",
    "without_emergency_plan",
]
