"""The transition plan (pediatric to adult care) <-> a CarePlan of its own kind.

A CarePlan with category ``care-plan-kind#transition-plan`` next to US Core's ``assess-plan``, about the
youth: the target age and date of transfer and the receiving adult providers as extensions, the youth's
own goals as ``goal``, the youth's latest readiness answers (a QuestionnaireResponse to
``Questionnaire/transition-readiness``) as ``supportingInfo``. docs/mapping.md has the table.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirbridge.domain.plan import PlanStatus
from fhirbridge.domain.transition import ReceivingProvider, TransitionPlan
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
    reference,
    reference_parts,
    resource_id,
    string,
    system_url,
)

__all__ = [
    "READINESS_QUESTIONNAIRE",
    "is_readiness_response",
    "is_transition_plan",
    "transition_plan_from_fhir",
    "transition_plan_to_fhir",
]

CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
PLAN_KIND = system_url("CodeSystem/care-plan-kind")
TRANSITION = "transition-plan"
TARGET_AGE = profile("transition-target-age")
TARGET_DATE = profile("transition-target-date")
RECEIVING_PROVIDER = profile("transition-receiving-provider")
READINESS_QUESTIONNAIRE = system_url("Questionnaire/transition-readiness")
UCUM = "http://unitsofmeasure.org"
PROVIDER_TYPES = ("Practitioner", "PractitionerRole", "Organization")


def is_transition_plan(resource: Resource) -> bool:
    return (PLAN_KIND, TRANSITION) in codes(resource.get("category", []))


def is_readiness_response(resource: Resource) -> bool:
    """A youth's answers to the transition-readiness questionnaire (any version of it)."""
    canonical = resource.get("questionnaire")
    return isinstance(canonical, str) and canonical.split("|", 1)[0] == READINESS_QUESTIONNAIRE


def transition_plan_to_fhir(plan: TransitionPlan, links: Links) -> Resource:
    record = links.record
    goals = {goal.id: goal for goal in record.goals}
    return clean(
        {
            "resourceType": "CarePlan",
            "id": resource_id(plan),
            "meta": {"profile": [f"{US_CORE}/us-core-careplan"]},
            "text": narrative(
                f"{plan.title}: {record.child.display_name}",
                [
                    ("Status", plan.status),
                    ("Move at age", plan.target_transfer_age),
                    ("First adult visit planned", plan.target_transfer_date),
                    ("Receiving adult providers", [_provider_line(p) for p in plan.receiving_providers]),
                    ("The youth's goals", [goals[g].description for g in plan.goal_ids if g in goals]),
                    (
                        "Readiness answers",
                        f"QuestionnaireResponse/{plan.readiness_response_id}" if plan.readiness_response_id else None,
                    ),
                    ("Author", links.display(plan.author_id)),
                    ("Notes", plan.notes),
                ],
            ),
            "extension": [
                *_target_age(plan.target_transfer_age),
                *(
                    [extension(TARGET_DATE, valueDate=plan.target_transfer_date.isoformat())]
                    if plan.target_transfer_date
                    else []
                ),
                *(_provider_to_fhir(provider) for provider in plan.receiving_providers),
            ],
            "status": plan.status,
            "intent": "plan",
            "category": [
                codeable(CAREPLAN_CATEGORY, "assess-plan", "Assessment and Plan of Treatment"),
                codeable(PLAN_KIND, TRANSITION, "Transition to adult care plan"),
            ],
            "title": plan.title,
            "subject": links.patient(),
            "created": instant_text(plan.created_at) if plan.created_at else None,
            "author": links.ref(plan.author_id),
            "goal": links.refs(plan.goal_ids),
            "supportingInfo": [reference("QuestionnaireResponse", plan.readiness_response_id)]
            if plan.readiness_response_id
            else [],
            "note": [{"text": note} for note in plan.notes],
        }
    )


def _provider_line(provider: ReceivingProvider) -> str:
    return provider.name + (f" ({provider.specialty})" if provider.specialty else "")


def _target_age(age: int | None) -> list[dict[str, Any]]:
    if age is None:
        return []
    return [extension(TARGET_AGE, valueAge={"value": age, "unit": "years", "system": UCUM, "code": "a"})]


def _target_date(day: date | None) -> list[dict[str, Any]]:
    return [extension(TARGET_DATE, valueDate=day.isoformat())] if day else []


def _provider_to_fhir(provider: ReceivingProvider) -> dict[str, Any]:
    who: dict[str, Any] = {"display": provider.name}
    if provider.reference:
        who = {"reference": provider.reference, **who}
    parts = [extension("provider", valueReference=who)]
    if provider.specialty:
        parts.append(extension("specialty", valueString=provider.specialty))
    return {"url": RECEIVING_PROVIDER, "extension": parts}


def transition_plan_from_fhir(resource: Resource, reader: Reader) -> TransitionPlan:
    supporting = [ref for ref in resource.get("supportingInfo", []) or [] if isinstance(ref, dict)]
    responses = [
        parts[1] for ref in supporting if (parts := reference_parts(ref)) and parts[0] == "QuestionnaireResponse"
    ]
    dates = [parse_date(ext.get("valueDate")) for ext in extension_values(resource, TARGET_DATE)]
    return TransitionPlan(
        id=resource["id"],
        status=pick(resource.get("status"), PlanStatus, "unknown"),
        title=string(resource.get("title")) or "Transition to adult care",
        target_transfer_age=_age_from_fhir(resource),
        target_transfer_date=dates[0] if dates else None,
        receiving_providers=[
            provider
            for ext in extension_values(resource, RECEIVING_PROVIDER)
            if (provider := _provider_from_fhir(ext)) is not None
        ],
        goal_ids=reader.resolve_all(resource.get("goal"), "goal", "goal"),
        readiness_response_id=responses[0] if responses else None,
        created_at=parse_instant(resource.get("created")),
        author_id=reader.resolve(resource.get("author"), "author", "team member"),
        notes=[
            note["text"]
            for note in resource.get("note", []) or []
            if isinstance(note, dict) and isinstance(note.get("text"), str)
        ],
    )


def _age_from_fhir(resource: Resource) -> int | None:
    for ext in extension_values(resource, TARGET_AGE):
        value = (ext.get("valueAge") or {}).get("value") if isinstance(ext.get("valueAge"), dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 12 <= value <= 30:
            return value
    return None  # another age (or a decimal) is kept with the partner's resource, as it came


def _provider_from_fhir(ext: dict[str, Any]) -> ReceivingProvider | None:
    who = next((part.get("valueReference") for part in extension_values(ext, "provider")), None)
    specialty = next((part.get("valueString") for part in extension_values(ext, "specialty")), None)
    if not isinstance(who, dict):
        return None
    parts = reference_parts(who)
    literal = (
        f"{parts[0]}/{parts[1]}" if parts and parts[0] in ("Practitioner", "PractitionerRole", "Organization") else None
    )
    name = string(who.get("display")) or literal
    if name is None:
        return None
    return ReceivingProvider(name=name, reference=literal, specialty=string(specialty))
