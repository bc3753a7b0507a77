"""The working care plan and the emergency treatment plan (CarePlan).

fhirbridge writes each action step as its own Task referenced from ``activity.reference``; partners'
plans that describe steps inline in ``activity.detail`` read into the same action steps, and are
written back inline.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.domain.plan import (
    ActionStep,
    ActionStepStatus,
    CarePlan,
    EmergencyPlan,
    EmergencyScenario,
    PartnerReference,
    PlanStatus,
)
from fhirbridge.domain.record import Record
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    US_CORE,
    Resource,
    clean,
    codeable,
    codes,
    extension,
    extension_values,
    instant_text,
    narrative,
    parse_date,
    parse_instant,
    pick,
    profile,
    reference_parts,
    resource_id,
    string,
    system_url,
    text_of,
)

__all__ = [
    "PLAN_KIND",
    "care_plan_from_fhir",
    "care_plan_to_fhir",
    "emergency_plan_from_fhir",
    "emergency_plan_to_fhir",
    "inline_steps_from_fhir",
    "is_emergency_plan",
]

CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
PLAN_KIND = system_url("CodeSystem/care-plan-kind")
RELATED_REFERRAL = profile("related-referral")
MCC_CUSTODIAN = "http://hl7.org/fhir/us/mcc/StructureDefinition/custodian"
"""HL7 MCC eCare Plan: who is responsible for the plan (a Reference)."""
_STEP_TO_DETAIL = {
    "planned": "not-started",
    "in-progress": "in-progress",
    "on-hold": "on-hold",
    "completed": "completed",
    "cancelled": "cancelled",
}
_DETAIL_TO_STEP = {
    "not-started": "planned",
    "scheduled": "planned",
    "in-progress": "in-progress",
    "on-hold": "on-hold",
    "completed": "completed",
    "cancelled": "cancelled",
    "stopped": "cancelled",
}
PARTY = ("child", "family member", "team member", "organization")


def _assess_plan() -> dict[str, Any]:
    return codeable(CAREPLAN_CATEGORY, "assess-plan", "Assessment and Plan of Treatment")


def care_plan_to_fhir(plan: CarePlan, links: Links) -> Resource:
    # contributors, custodian and outside_activities are read-only: the partner's plan, kept with the record,
    # writes them back as it had them, so a write through the record cannot change them.
    record = links.record
    steps = {step.id: step for step in record.action_steps}
    referrals = {referral.id: referral for referral in record.referrals}
    goals = {goal.id: goal for goal in record.goals}
    activity_lines = []
    for activity_id in plan.activities:
        if activity_id in steps:
            step = steps[activity_id]
            who = links.display(step.responsible_id) or "someone to be named"
            due = f", due {step.due_date}" if step.due_date else ""
            activity_lines.append(f"{step.description} ({who}{due}; {step.status})")
        elif activity_id in referrals:
            referral = referrals[activity_id]
            activity_lines.append(f"Referral: {referral.service} ({referral.status})")
    return clean(
        {
            "resourceType": "CarePlan",
            "id": resource_id(plan),
            "meta": {"profile": [f"{US_CORE}/us-core-careplan", profile("fhirbridge-shared-careplan")]},
            "text": narrative(
                plan.title or "Plan of care",
                [
                    ("Status", plan.status),
                    ("About", plan.description),
                    ("Period", _period_text(plan)),
                    ("Author", links.display(plan.author_id)),
                    ("Addresses", links.displays(plan.addresses)),
                    ("Goals", [goals[g].description for g in plan.goal_ids if g in goals]),
                    ("Action steps and referrals", activity_lines),
                    ("Notes", plan.notes),
                ],
            ),
            "status": plan.status,
            "intent": "plan",
            "category": [_assess_plan()],
            "title": plan.title,
            "description": plan.description,
            "subject": links.patient(),
            "period": {
                "start": plan.period_start.isoformat() if plan.period_start else None,
                "end": plan.period_end.isoformat() if plan.period_end else None,
            },
            "created": instant_text(plan.created_at) if plan.created_at else None,
            "author": links.ref(plan.author_id),
            "careTeam": links.refs(plan.care_team_ids),
            "addresses": links.refs(plan.addresses),
            "goal": links.refs(plan.goal_ids),
            "activity": [_activity(value, steps, links) for value in plan.activities],
            "note": [{"text": note} for note in plan.notes],
        }
    )


def _period_text(plan: CarePlan) -> str | None:
    if not (plan.period_start or plan.period_end):
        return None
    return f"{plan.period_start or '...'} to {plan.period_end or '...'}"


def _activity(activity_id: str, steps: dict[str, ActionStep], links: Links) -> dict[str, Any] | None:
    step = steps.get(activity_id)
    if step is None or step.recorded_as == "task":
        ref = links.ref(activity_id)
        return {"reference": ref} if ref else None
    return {
        "id": step.id,
        "detail": {
            "extension": [extension(RELATED_REFERRAL, valueReference=links.ref(step.referral_id))]
            if links.ref(step.referral_id)
            else [],
            "status": _STEP_TO_DETAIL[step.status],
            "description": step.description,
            "goal": [links.ref(step.goal_id)],
            "scheduledPeriod": {"end": step.due_date.isoformat()} if step.due_date else None,
            "performer": [links.ref(step.responsible_id)],
        },
    }


def care_plan_from_fhir(resource: Resource, reader: Reader, inline_steps: list[ActionStep]) -> CarePlan:
    status = resource.get("status")
    period = resource.get("period") if isinstance(resource.get("period"), dict) else {}
    inline = iter(inline_steps)
    activities: list[str] = []
    outside: list[PartnerReference] = []
    for index, activity in enumerate(resource.get("activity", []) or []):
        if not isinstance(activity, dict):
            continue
        if "reference" in activity:
            found = reader.resolve(activity["reference"], f"activity[{index}].reference", "action step", "referral")
            if found:
                activities.append(found)
            elif (shown := _partner_reference(activity["reference"], reader)) is not None:
                outside.append(shown)
        elif isinstance(activity.get("detail"), dict):
            activities.append(next(inline).id)
    custodians = [ext.get("valueReference") for ext in extension_values(resource, MCC_CUSTODIAN)]
    if resource.get("contributor"):
        reader.note("contributor", "shown read-only as the plan's contributors; kept and written back unchanged")
    return CarePlan(
        id=resource["id"],
        title=string(resource.get("title")),
        description=string(resource.get("description")),
        status=pick(status, PlanStatus, "unknown"),
        period_start=parse_date((period or {}).get("start")),
        period_end=parse_date((period or {}).get("end")),
        created_at=parse_instant(resource.get("created")),
        author_id=reader.resolve(resource.get("author"), "author", "team member"),
        care_team_ids=reader.resolve_all(resource.get("careTeam"), "careTeam", "care team"),
        addresses=reader.resolve_all(resource.get("addresses"), "addresses", "need", "diagnosis"),
        goal_ids=reader.resolve_all(resource.get("goal"), "goal", "goal"),
        activities=activities,
        notes=[
            note["text"]
            for note in resource.get("note", []) or []
            if isinstance(note, dict) and isinstance(note.get("text"), str)
        ],
        contributors=[
            shown
            for ref in resource.get("contributor", []) or []
            if (shown := _partner_reference(ref, reader)) is not None
        ],
        custodian=_partner_reference(custodians[0], reader) if custodians else None,
        outside_activities=outside,
    )


def _partner_reference(ref: Any, reader: Reader) -> PartnerReference | None:
    """A reference of a partner's plan as the coordinator is shown it; never written (the plan's FHIR is
    kept and written back as it came), so nothing here is reported as unresolved."""
    if not isinstance(ref, dict):
        return None
    parts = reference_parts(ref)
    literal = ref.get("reference") if isinstance(ref.get("reference"), str) else None
    key = reader.key(ref)
    placed = reader.placed.get(key, []) if key else []
    shown = PartnerReference(
        reference=literal,
        resource_type=parts[0] if parts else string(ref.get("type")),
        display=string(ref.get("display")),
        party_id=placed[0][1] if placed else None,
    )
    return shown if shown.reference or shown.display else None


def inline_steps_from_fhir(resource: Resource, reader: Reader) -> list[ActionStep]:
    """The action steps a plan describes inline, in ``activity.detail``."""
    steps = []
    for index, activity in enumerate(resource.get("activity", []) or []):
        if not isinstance(activity, dict) or not isinstance(activity.get("detail"), dict):
            continue
        detail = activity["detail"]
        path = f"activity[{index}].detail"
        own_id = activity.get("id")
        scheduled = detail.get("scheduledPeriod") if isinstance(detail.get("scheduledPeriod"), dict) else {}
        performers = [ref for ref in detail.get("performer", []) or []]
        goals = [ref for ref in detail.get("goal", []) or []]
        referrals = [ext.get("valueReference") for ext in extension_values(detail, RELATED_REFERRAL)]
        status = _DETAIL_TO_STEP.get(str(detail.get("status")), "planned")
        steps.append(
            ActionStep(
                id=own_id if isinstance(own_id, str) else f"{resource['id'][:52]}-step-{index + 1}",
                description=string(detail.get("description"))
                or text_of(detail.get("code"))
                or "Activity without a description",
                responsible_id=reader.resolve(performers[0], f"{path}.performer[0]", *PARTY) if performers else None,
                due_date=parse_date((scheduled or {}).get("end")),
                status=pick(status, ActionStepStatus, "planned"),
                goal_id=reader.resolve(goals[0], f"{path}.goal[0]", "goal") if goals else None,
                referral_id=reader.resolve(referrals[0], f"{path}.extension", "referral") if referrals else None,
                recorded_as="plan-activity",
            )
        )
    return steps


def is_emergency_plan(resource: Resource) -> bool:
    return (PLAN_KIND, "emergency-plan") in codes(resource.get("category", []))


def emergency_plan_to_fhir(emergency: EmergencyPlan, links: Links) -> Resource:
    summary = links.record.medical_summary
    contacts = [_contact_line(contact_id, links.record) for contact_id in emergency.emergency_contact_ids]
    return clean(
        {
            "resourceType": "CarePlan",
            "id": resource_id(emergency),
            "meta": {"profile": [f"{US_CORE}/us-core-careplan", profile("fhirbridge-emergency-careplan")]},
            "text": narrative(
                f"Emergency treatment plan for {links.record.child.display_name}",
                [
                    ("Baseline", emergency.baseline),
                    ("Medications", summary.medications if summary else []),
                    ("Allergies", summary.allergies if summary else []),
                    (
                        "Likely emergencies",
                        [f"{s.problem}: {s.management or 'see care team'}" for s in emergency.scenarios],
                    ),
                    ("Avoid", emergency.procedures_to_avoid),
                    ("Emergency contacts", contacts),
                    ("Preferred hospital", links.display(emergency.preferred_hospital_id)),
                    ("Updated", emergency.updated_at),
                ],
            ),
            "status": emergency.status,
            "intent": "plan",
            "category": [_assess_plan(), codeable(PLAN_KIND, "emergency-plan", "Emergency treatment plan")],
            "title": "Emergency treatment plan",
            "description": emergency.baseline,
            "subject": links.patient(),
            "partOf": [links.ref(emergency.part_of_id)],
            "created": instant_text(emergency.updated_at) if emergency.updated_at else None,
            "supportingInfo": [
                *links.refs(emergency.emergency_contact_ids),
                links.ref(emergency.preferred_hospital_id),
            ],
            "activity": [
                *(
                    {
                        "detail": {
                            "status": "not-started",
                            "code": {"text": s.problem},
                            "description": s.management,
                        }
                    }
                    for s in emergency.scenarios
                ),
                *(
                    {"detail": {"status": "not-started", "doNotPerform": True, "code": {"text": procedure}}}
                    for procedure in emergency.procedures_to_avoid
                ),
            ],
        }
    )


def _contact_line(contact_id: str, record: Record) -> str:
    for relative in record.family:
        if relative.id == contact_id:
            return " ".join(part for part in (relative.display_name, relative.phone or "") if part)
    return contact_id


def emergency_plan_from_fhir(resource: Resource, reader: Reader) -> EmergencyPlan:
    status = resource.get("status")
    scenarios, avoid = [], []
    for activity in resource.get("activity", []) or []:
        detail = activity.get("detail") if isinstance(activity, dict) else None
        if not isinstance(detail, dict):
            continue
        what = text_of(detail.get("code")) or string(detail.get("description"))
        if what is None:
            continue
        if detail.get("doNotPerform") is True:
            avoid.append(what)
        else:
            scenarios.append(EmergencyScenario(problem=what, management=string(detail.get("description"))))
    supporting = [ref for ref in resource.get("supportingInfo", []) or []]
    hospitals = [ref for ref in supporting if reader.kind_of(ref) == "organization"]
    part_of = [ref for ref in resource.get("partOf", []) or []]
    return EmergencyPlan(
        id=resource["id"],
        part_of_id=reader.resolve(part_of[0], "partOf[0]", "care plan") if part_of else None,
        status=pick(status, PlanStatus, "unknown"),
        updated_at=parse_instant(resource.get("created")),
        baseline=string(resource.get("description")),
        scenarios=scenarios,
        procedures_to_avoid=avoid,
        emergency_contact_ids=[
            found
            for index, ref in enumerate(supporting)
            if reader.kind_of(ref) == "family member"
            and (found := reader.resolve(ref, f"supportingInfo[{index}]", "family member"))
        ],
        preferred_hospital_id=reader.resolve(hospitals[0], "supportingInfo", "organization") if hospitals else None,
    )
