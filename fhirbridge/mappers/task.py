"""Action steps with an owner, and plan reviews (Task)."""

from __future__ import annotations

from typing import Any

from fhirbridge.domain.plan import ActionStep
from fhirbridge.domain.review import Review, ReviewTrigger
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    Resource,
    clean,
    codeable,
    codes,
    first_code,
    instant_text,
    narrative,
    parse_date,
    parse_instant,
    pick,
    profile,
    resource_id,
    string,
    system_url,
    text_of,
)

__all__ = [
    "TASK_KIND",
    "action_step_from_fhir",
    "action_step_to_fhir",
    "is_review",
    "review_from_fhir",
    "review_to_fhir",
]

TASK_KIND = system_url("CodeSystem/task-kind")
REVIEW_TRIGGER = system_url("CodeSystem/review-trigger")
REVIEW_OUTPUT = system_url("CodeSystem/review-output")
PARTY = ("child", "family member", "team member", "organization")
_STEP_TO_TASK = {
    "planned": "requested",
    "in-progress": "in-progress",
    "on-hold": "on-hold",
    "completed": "completed",
    "cancelled": "cancelled",
}
_TASK_TO_STEP = {
    "draft": "planned",
    "requested": "planned",
    "received": "planned",
    "accepted": "planned",
    "ready": "planned",
    "in-progress": "in-progress",
    "on-hold": "on-hold",
    "completed": "completed",
    "cancelled": "cancelled",
    "rejected": "cancelled",
    "failed": "cancelled",
    "entered-in-error": "cancelled",
}


def action_step_to_fhir(step: ActionStep, links: Links) -> Resource:
    plans = [plan.id for plan in links.record.care_plans if step.id in plan.activities]
    return clean(
        {
            "resourceType": "Task",
            "id": resource_id(step),
            "meta": {"profile": [profile("fhirbridge-action-step-task")]},
            "text": narrative(
                f"Action step: {step.description}",
                [
                    ("Responsible", links.display(step.responsible_id)),
                    ("Due", step.due_date),
                    ("Status", step.status),
                    ("For goal", links.display(step.goal_id)),
                    ("Referral", links.display(step.referral_id)),
                ],
            ),
            "basedOn": links.refs(plans),
            "status": _STEP_TO_TASK[step.status],
            "intent": "plan",
            "code": codeable(TASK_KIND, "action-step", "Action step"),
            "description": step.description,
            "focus": links.ref(step.referral_id),
            "for": links.patient(),
            "authoredOn": instant_text(step.created_at) if step.created_at else None,
            "owner": links.ref(step.responsible_id),
            "reasonReference": links.ref(step.goal_id),
            "restriction": {"period": {"end": step.due_date.isoformat()}} if step.due_date else None,
        }
    )


def action_step_from_fhir(resource: Resource, reader: Reader) -> ActionStep:
    restriction = resource.get("restriction") if isinstance(resource.get("restriction"), dict) else {}
    period = (restriction or {}).get("period") if isinstance((restriction or {}).get("period"), dict) else {}
    focus = resource.get("focus")
    goal = resource.get("reasonReference")
    status = _TASK_TO_STEP.get(str(resource.get("status")), "planned")
    return ActionStep(
        id=resource["id"],
        description=string(resource.get("description"))
        or text_of(resource.get("code"))
        or "Task without a description",
        responsible_id=reader.resolve(resource.get("owner"), "owner", *PARTY),
        due_date=parse_date((period or {}).get("end")),
        status=status,  # type: ignore[arg-type]
        goal_id=reader.resolve(goal, "reasonReference", "goal") if reader.kind_of(goal) == "goal" else None,
        referral_id=reader.resolve(focus, "focus", "referral") if reader.kind_of(focus) == "referral" else None,
        created_at=parse_instant(resource.get("authoredOn")),
    )


def is_review(resource: Resource) -> bool:
    return (TASK_KIND, "care-plan-review") in codes(resource.get("code"))


def _output(kind: str, **value: Any) -> dict[str, Any]:
    return {"type": codeable(REVIEW_OUTPUT, kind), **value}


def review_to_fhir(review: Review, links: Links) -> Resource:
    return clean(
        {
            "resourceType": "Task",
            "id": resource_id(review),
            "text": narrative(
                f"Plan review on {review.reviewed_on or 'a date not recorded'}",
                [
                    ("Why", review.trigger),
                    ("Who", links.displays(review.participant_ids)),
                    ("Outcome", review.outcome),
                    ("Changes", review.changes),
                    ("Next review due", review.next_review_due),
                ],
            ),
            "status": "completed",
            "intent": "plan",
            "code": codeable(TASK_KIND, "care-plan-review", "Care plan review"),
            "focus": links.ref(review.plan_id),
            "for": links.patient(),
            "executionPeriod": {"end": review.reviewed_on.isoformat() if review.reviewed_on else None},
            "reasonCode": codeable(REVIEW_TRIGGER, review.trigger),
            "input": [
                {"type": codeable(REVIEW_OUTPUT, "participant"), "valueReference": ref}
                for ref in links.refs(review.participant_ids)
            ],
            "output": [
                _output("outcome", valueString=review.outcome),
                *(_output("plan-change", valueString=change) for change in review.changes),
                _output("next-review-due", valueDate=review.next_review_due.isoformat())
                if review.next_review_due
                else None,
            ],
        }
    )


def review_from_fhir(resource: Resource, reader: Reader) -> Review:
    period = resource.get("executionPeriod") if isinstance(resource.get("executionPeriod"), dict) else {}
    trigger = first_code(resource.get("reasonCode"), REVIEW_TRIGGER)
    outputs: dict[str, list[Any]] = {}
    for entry in resource.get("output", []) or []:
        kind = first_code(entry.get("type"), REVIEW_OUTPUT) if isinstance(entry, dict) else None
        if kind:
            outputs.setdefault(kind, []).append(entry.get("valueString") or entry.get("valueDate"))
    participants = [
        entry.get("valueReference")
        for entry in resource.get("input", []) or []
        if isinstance(entry, dict) and first_code(entry.get("type"), REVIEW_OUTPUT) == "participant"
    ]
    reviewed = parse_date((period or {}).get("end")) or parse_date(str(resource.get("authoredOn", ""))[:10])
    return Review(
        id=resource["id"],
        reviewed_on=reviewed,
        trigger=pick(trigger, ReviewTrigger, "scheduled"),
        plan_id=reader.resolve(resource.get("focus"), "focus", "care plan"),
        participant_ids=reader.resolve_all(participants, "input.valueReference", *PARTY),
        outcome=next((text for text in outputs.get("outcome", []) if isinstance(text, str)), ""),
        changes=[text for text in outputs.get("plan-change", []) if isinstance(text, str)],
        next_review_due=parse_date(next(iter(outputs.get("next-review-due", [])), None)),
    )
