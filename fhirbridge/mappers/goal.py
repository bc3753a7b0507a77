"""Goals agreed with the family (Goal)."""

from __future__ import annotations

from typing import Any, Literal

from fhirbridge.domain.common import NEED_DOMAINS
from fhirbridge.domain.plan import Goal, GoalAchievement, GoalAgreement, GoalStatus, ProgressNote
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    US_CORE,
    Resource,
    clean,
    codeable,
    extension_values,
    first_code,
    instant_text,
    narrative,
    parse_date,
    parse_instant,
    pick,
    profile,
    resource_id,
    string,
    text_of,
)
from fhirbridge.mappers.assessment import NEED_DOMAIN

__all__ = ["GOAL_ACCEPTANCE", "goal_from_fhir", "goal_to_fhir"]

GOAL_ACCEPTANCE = "http://hl7.org/fhir/StructureDefinition/goal-acceptance"
ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
AgreementStatus = Literal["agree", "disagree", "pending"]
PARTY = ("child", "family member", "team member", "organization")


def goal_to_fhir(goal: Goal, links: Links) -> Resource:
    has_target = goal.measure or goal.target_date
    return clean(
        {
            "resourceType": "Goal",
            "id": resource_id(goal),
            "meta": {"profile": [f"{US_CORE}/us-core-goal", profile("fhirbridge-goal")]},
            "text": narrative(
                f"Goal: {goal.description}",
                [
                    ("Domain", goal.domain),
                    ("Measure", goal.measure),
                    ("Target date", goal.target_date),
                    ("Expressed by", links.display(goal.expressed_by_id)),
                    ("Status", goal.status),
                    ("Progress", goal.achievement),
                    (
                        "Agreement",
                        [f"{links.display(a.party_id) or 'unknown'}: {a.status}" for a in goal.agreements],
                    ),
                    ("Notes", [note.text for note in goal.progress_notes]),
                ],
            ),
            "extension": [_acceptance(agreement, links) for agreement in goal.agreements],
            "lifecycleStatus": goal.status,
            "achievementStatus": codeable(ACHIEVEMENT, goal.achievement) if goal.achievement else None,
            "category": [codeable(NEED_DOMAIN, goal.domain)] if goal.domain else [],
            "description": {"text": goal.description},
            "subject": links.patient(),
            "startDate": goal.start_date.isoformat() if goal.start_date else None,
            "target": [
                {
                    "measure": {"text": goal.measure} if goal.measure else None,
                    "dueDate": goal.target_date.isoformat() if goal.target_date else None,
                }
            ]
            if has_target
            else [],
            "expressedBy": links.ref(goal.expressed_by_id),
            "addresses": links.refs(goal.addresses),
            "note": [
                {
                    "authorReference": links.ref(note.author_id),
                    "time": instant_text(note.written_at) if note.written_at else None,
                    "text": note.text,
                }
                for note in goal.progress_notes
            ],
        }
    )


def _acceptance(agreement: GoalAgreement, links: Links) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    individual = links.ref(agreement.party_id)
    if individual:
        parts.append({"url": "individual", "valueReference": individual})
    parts.append({"url": "status", "valueCode": agreement.status})
    return {"url": GOAL_ACCEPTANCE, "extension": parts}


def goal_from_fhir(resource: Resource, reader: Reader) -> Goal:
    targets = [target for target in resource.get("target", []) or [] if isinstance(target, dict)]
    target = targets[0] if targets else {}
    status = resource.get("lifecycleStatus")
    achievement = first_code(resource.get("achievementStatus"), ACHIEVEMENT)
    domain = first_code(resource.get("category", []), NEED_DOMAIN)
    return Goal(
        id=resource["id"],
        description=text_of(resource.get("description")) or "Goal without a description",
        domain=domain if domain in NEED_DOMAINS else None,
        measure=text_of(target.get("measure")),
        start_date=parse_date(resource.get("startDate")),
        target_date=parse_date(target.get("dueDate")),
        expressed_by_id=reader.resolve(
            resource.get("expressedBy"), "expressedBy", "child", "family member", "team member"
        ),
        agreements=_agreements(resource, reader),
        status=pick(status, GoalStatus, "active"),
        achievement=pick(achievement, GoalAchievement),
        addresses=reader.resolve_all(resource.get("addresses"), "addresses", "need", "diagnosis"),
        progress_notes=[
            ProgressNote(
                text=note["text"],
                written_at=parse_instant(note.get("time")),
                author_id=reader.resolve(note.get("authorReference"), f"note[{index}].authorReference", *PARTY),
            )
            for index, note in enumerate(resource.get("note", []) or [])
            if isinstance(note, dict) and isinstance(note.get("text"), str)
        ],
    )


def _agreements(resource: Resource, reader: Reader) -> list[GoalAgreement]:
    found = []
    for index, ext in enumerate(extension_values(resource, GOAL_ACCEPTANCE)):
        parts = {part.get("url"): part for part in ext.get("extension", []) or [] if isinstance(part, dict)}
        status = string(parts.get("status", {}).get("valueCode"))
        if status not in ("agree", "disagree", "pending"):
            continue
        individual = parts.get("individual", {}).get("valueReference")
        party = reader.resolve(individual, f"extension[{index}].individual", *PARTY) if individual else None
        found.append(GoalAgreement(party_id=party, status=pick(status, AgreementStatus, "pending")))
    return found
