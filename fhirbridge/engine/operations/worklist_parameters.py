"""The worklist as a ``Parameters`` resource: one parameter per section, its lines grouped where the
coordinator works through them so (action steps by owner, referrals by state, goals by the family's
agreement), every line naming the resources it comes from (docs/worklists.md has the shape).

Parameters rather than a Bundle: the worklist is the result of an operation, not a set of resources, and
its sections and groups are structure a Bundle's entries do not have (a ``searchset`` would also promise
matches of one search, a total and paging). Each count counts the lines listed, and only those: children
the caller may not read are in none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirbridge.engine.operations.worklist_records import (
    ChildRecord,
    EmergencyLine,
    GoalLine,
    ReferralLine,
    ReviewLine,
    StepLine,
    path_of,
)
from fhirbridge.engine.operations.worklist_sections import state_rank
from fhirbridge.storage.contract import Resource

Parameter = dict[str, Any]
# A Reference for what a line names (``Type/id`` or a Reference), with an optional display: Names.reference.
Refer = Callable[..., dict[str, Any] | None]

STEP_STATES = ("overdue", "due", "no-due-date")
AGREEMENTS = ("disagree", "pending", "not-recorded")


@dataclass(frozen=True)
class Sections:
    steps: list[StepLine]
    referrals: list[ReferralLine]
    reviews: list[ReviewLine]
    goals: list[GoalLine]
    emergency: list[EmergencyLine]


def worklist_parameters(
    caseload: Resource,
    children: list[ChildRecord],
    as_of: date,
    due_within_days: int,
    sections: Sections,
    refer: Refer,
) -> Resource:
    caseload_name = caseload.get("name") if isinstance(caseload.get("name"), str) else None
    titles = {f"CarePlan/{plan.get('id')}": _title(plan) for child in children for plan in child.of_type("CarePlan")}

    def titled(reference: Any, display: str | None = None) -> dict[str, Any] | None:
        return refer(reference, display or titles.get(reference) if isinstance(reference, str) else display)

    return {
        "resourceType": "Parameters",
        "parameter": [
            *_reference("caseload", refer(f"Group/{caseload.get('id')}", caseload_name)),
            _value("asOf", "Date", as_of.isoformat()),
            _value("dueWithinDays", "Integer", due_within_days),
            _value("children", "Integer", len(children)),
            *(p for child in children for p in _reference("child", refer(child.reference))),
            _section("actionSteps", sections.steps, _steps_by_owner(sections.steps, titled)),
            _section("referrals", sections.referrals, _referrals_by_state(sections.referrals, refer)),
            _section("reviewsOverdue", sections.reviews, [_review(line, titled) for line in sections.reviews]),
            _section("goalsWithoutFamilyAgreement", sections.goals, _goals_by_agreement(sections.goals, refer)),
            _section(
                "withoutEmergencyPlan", sections.emergency, [_emergency(line, titled) for line in sections.emergency]
            ),
        ],
    }


# -- sections -----------------------------------------------------------------------------------------


def _steps_by_owner(lines: list[StepLine], refer: Refer) -> list[Parameter]:
    groups: dict[str, list[StepLine]] = {}
    owners: dict[str, dict[str, Any] | None] = {}
    for line in lines:
        owner = refer(line.owner) if line.owner is not None else None
        key = "" if owner is None else f"{owner.get('display', '')}\x00{owner.get('reference', '')}"
        groups.setdefault(key, []).append(line)
        owners[key] = owner
    found = []
    for key in sorted(groups, key=lambda key: (key == "", key.casefold())):  # no owner recorded: last
        steps = sorted(groups[key], key=lambda s: (STEP_STATES.index(s.state), s.due or date.max, s.child, s.source))
        owner = owners[key]
        head = _reference("owner", owner) if owner is not None else [_value("notRecorded", "Code", "owner")]
        found.append(
            _group("byOwner", [*head, _value("count", "Integer", len(steps)), *(_step(s, refer) for s in steps)])
        )
    return found


def _step(line: StepLine, refer: Refer) -> Parameter:
    source = refer(line.source, line.description) if line.activity is None else refer(line.source)
    return _group(
        "step",
        [
            *_reference("child", refer(line.child)),
            *_reference("task" if line.activity is None else "carePlan", source),
            *_optional("activity", "String", line.activity),
            *_optional("description", "String", line.description),
            _value("status", "Code", line.status),
            _value("state", "Code", line.state),
            *_optional("due", "Date", line.due.isoformat() if line.due else None),
            *_optional("daysOverdue", "Integer", line.days_overdue),
            *([_value("notRecorded", "Code", "due-date")] if line.due is None else []),
        ],
    )


def _referrals_by_state(lines: list[ReferralLine], refer: Refer) -> list[Parameter]:
    groups: dict[str, list[ReferralLine]] = {}
    for line in lines:
        groups.setdefault(line.state, []).append(line)
    found = []
    for state in sorted(groups, key=state_rank):
        oldest_first = sorted(
            groups[state], key=lambda r: (r.age_days is None, -(r.age_days or 0), r.child, r.task or "")
        )
        parts = [_value("state", "Code", state), _value("count", "Integer", len(oldest_first))]
        found.append(_group("byState", [*parts, *(_referral(line, refer) for line in oldest_first)]))
    return found


def _referral(line: ReferralLine, refer: Refer) -> Parameter:
    return _group(
        "referral",
        [
            *_reference("child", refer(line.child)),
            *_reference("serviceRequest", refer(line.service_request, line.service) if line.service_request else None),
            *_reference("task", refer(line.task, line.service) if line.task else None),
            *_optional("service", "String", line.service),
            *_reference("performer", refer(line.performer) if line.performer else None),
            *_optional("authored", "Date", line.authored.isoformat() if line.authored else None),
            *_optional("ageDays", "Integer", line.age_days),
            *(_value("notRecorded", "Code", missing) for missing in line.not_recorded),
        ],
    )


def _review(line: ReviewLine, refer: Refer) -> Parameter:
    return _group(
        "review",
        [
            *_reference("child", refer(line.child)),
            _value("status", "Code", line.status),
            *_reference("carePlan", refer(line.care_plan) if line.care_plan else None),
            *_optional("level", "Code", line.level),
            *_optional("due", "Date", line.due.isoformat() if line.due else None),
            *_optional("daysOverdue", "Integer", line.days_overdue),
            *_optional("rule", "Code", line.rule),
            *_optional("basis", "String", line.basis),
            *_optional("lastReview", "Date", line.last_review.isoformat() if line.last_review else None),
            *_reference("reviewTask", refer(line.review) if line.review else None),
            *_reference("riskAssessment", refer(line.risk_assessment) if line.risk_assessment else None),
            *(_value("notRecorded", "Code", missing) for missing in line.not_recorded),
        ],
    )


def _goals_by_agreement(lines: list[GoalLine], refer: Refer) -> list[Parameter]:
    found = []
    for agreement in AGREEMENTS:
        goals = sorted((line for line in lines if line.agreement == agreement), key=lambda g: (g.child, g.goal))
        if goals:
            parts = [_value("agreement", "Code", agreement), _value("count", "Integer", len(goals))]
            found.append(_group("byAgreement", [*parts, *(_goal(goal, refer) for goal in goals)]))
    return found


def _goal(line: GoalLine, refer: Refer) -> Parameter:
    return _group(
        "goal",
        [
            *_reference("child", refer(line.child)),
            *_reference("goal", refer(line.goal, line.description)),
            *_optional("description", "String", line.description),
            _value("lifecycleStatus", "Code", line.lifecycle_status),
            *(p for individual in line.individuals for p in _reference("individual", refer(individual))),
        ],
    )


def _emergency(line: EmergencyLine, refer: Refer) -> Parameter:
    plans = [
        _group(
            "emergencyPlan",
            [
                *_reference("plan", refer(f"CarePlan/{plan.get('id')}")),
                _value("status", "Code", str(plan.get("status") or "unknown")),
                *_optional("periodStart", "Date", _day(path_of(plan, "period", "start"))),
                *_optional("periodEnd", "Date", _day(path_of(plan, "period", "end"))),
            ],
        )
        for plan in line.plans
    ]
    return _group(
        "missingPlan", [*_reference("child", refer(line.child)), _value("status", "Code", line.status), *plans]
    )


# -- Parameters ---------------------------------------------------------------------------------------


def _section(name: str, lines: list[Any], parts: Iterable[Parameter]) -> Parameter:
    return _group(name, [_value("count", "Integer", len(lines)), *parts])


def _group(name: str, parts: Iterable[Parameter]) -> Parameter:
    return {"name": name, "part": list(parts)}


def _value(name: str, kind: str, value: Any) -> Parameter:
    return {"name": name, f"value{kind}": value}


def _optional(name: str, kind: str, value: Any) -> list[Parameter]:
    return [] if value is None or value == "" else [_value(name, kind, value)]


def _reference(name: str, reference: dict[str, Any] | None) -> list[Parameter]:
    return [] if reference is None else [_value(name, "Reference", reference)]


def _title(plan: Resource) -> str | None:
    title = plan.get("title")
    return title if isinstance(title, str) and title else None


def _day(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


__all__ = ["Sections", "worklist_parameters"]
