"""What a caseload's worklist is made of: each child's record as the caller may read it, the lines of each
section, and the readers of FHIR elements the sections share (``worklist_sections``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhirbridge.assessment.reviews import REVIEW_TASK_CODE, TASK_KIND
from fhirbridge.assessment.values import codings
from fhirbridge.classification import PLAN_KIND
from fhirbridge.storage.contract import Resource

# Which plans are the plan of care: not the emergency plan nor the transition plan, each a part of it.
NOT_WORKING_PLANS = frozenset({"emergency-plan", "transition-plan"})


@dataclass(frozen=True)
class ChildRecord:
    """One child of the caseload: its Patient and the resources of its record the caller may read."""

    patient: Resource
    resources: list[Resource]

    @property
    def reference(self) -> str:
        return f"Patient/{self.patient['id']}"

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.get("resourceType") == resource_type]


@dataclass(frozen=True)
class StepLine:
    child: str
    source: str  # Task/x, or CarePlan/x for a step written inline
    activity: str | None  # the inline step's activity id
    description: str | None
    owner: dict[str, Any] | None  # the Reference as the record holds it
    status: str
    state: str  # overdue | due | no-due-date
    due: date | None
    days_overdue: int | None


@dataclass(frozen=True)
class ReferralLine:
    child: str
    state: str  # the Task's status, or untracked
    service_request: str | None
    task: str | None
    service: str | None
    performer: dict[str, Any] | None
    authored: date | None
    age_days: int | None
    not_recorded: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewLine:
    child: str
    status: str  # overdue | not-recorded
    care_plan: str | None = None
    level: str | None = None
    due: date | None = None
    days_overdue: int | None = None
    rule: str | None = None
    basis: str | None = None
    last_review: date | None = None
    review: str | None = None
    risk_assessment: str | None = None
    not_recorded: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoalLine:
    child: str
    goal: str
    description: str | None
    lifecycle_status: str
    agreement: str  # disagree | pending | not-recorded
    individuals: tuple[dict[str, Any], ...] = ()  # the family members whose answer it is


@dataclass(frozen=True)
class EmergencyLine:
    child: str
    status: str  # not-recorded | not-current
    plans: tuple[Resource, ...] = field(default=())  # the emergency plans that are not current


# -- reading resources --------------------------------------------------------------------------------


def plan_kind(plan: Resource) -> str | None:
    for concept in plan.get("category") or []:
        for coding in codings(concept):
            if coding.get("system") == PLAN_KIND and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


def is_working_plan(plan: Resource) -> bool:
    return plan_kind(plan) not in NOT_WORKING_PLANS and not plan.get("partOf")


def is_review(task: Resource) -> bool:
    return any(c.get("system") == TASK_KIND and c.get("code") == REVIEW_TASK_CODE for c in codings(task.get("code")))


def path_of(resource: Any, *steps: str) -> Any:
    for step in steps:
        resource = resource.get(step) if isinstance(resource, dict) else None
    return resource


def reference_of(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) and reference else None


def first_reference(owner: Any, performers: Any) -> dict[str, Any] | None:
    if isinstance(owner, dict) and (owner.get("reference") or owner.get("display")):
        return owner
    for performer in performers if isinstance(performers, list) else []:
        if isinstance(performer, dict) and (performer.get("reference") or performer.get("display")):
            return performer
    return None


def text_of(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in codings(concept):
        if isinstance(coding.get("display"), str):
            return str(coding["display"])
    return None


def string_of(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


__all__ = [
    "NOT_WORKING_PLANS",
    "ChildRecord",
    "EmergencyLine",
    "GoalLine",
    "ReferralLine",
    "ReviewLine",
    "StepLine",
    "first_reference",
    "is_review",
    "is_working_plan",
    "path_of",
    "plan_kind",
    "reference_of",
    "string_of",
    "text_of",
]
