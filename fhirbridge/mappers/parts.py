"""The part table: every kind of part of the record and the FHIR resource it is written as and read from,
and writing a record's resources through it (in the table's order, partner data retained).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhirbridge.domain.common import Entity
from fhirbridge.domain.record import Record
from fhirbridge.mappers import (
    assessment,
    careplan,
    consent,
    goal,
    people,
    referral,
    summary,
    task,
    team,
    transition,
)
from fhirbridge.mappers._context import Links, PartKind, Reader, is_staff
from fhirbridge.mappers._fhir import Resource, resource_id
from fhirbridge.mappers.retention import merge

__all__ = [
    "PARTS",
    "PARTS_BY_KIND",
    "PART_TYPES",
    "PLACED_WITH_OTHERS",
    "READ_WITH_OTHERS",
    "PartMapping",
    "record_to_resources",
]


def record_to_resources(record: Record) -> list[Resource]:
    """Every resource the record is written as, partner data retained, in dependency order."""
    links = Links(record)
    out: list[Resource] = []
    for part in PARTS:
        for entity, resource in part.written(record, links):
            key = f"{resource['resourceType']}/{resource['id']}"
            out.append(merge(resource, (entity.fhir_retained or {}).get(key)))
    out.extend(copy.deepcopy(resource) for resource in record.fhir_other_resources)
    return out


# --------------------------------------------------------------------------------------- the part table


@dataclass(frozen=True)
class PartMapping:
    """One kind of part of the record and the FHIR resource it is written as and read from.

    Writing, the references between parts (``Links``), placing resources and reading them all loop over
    ``PARTS``; a part that is special says so through its hooks rather than through a branch elsewhere.
    """

    kind: PartKind
    field: str
    """The record field holding these parts (``care_teams`` for team members, which sit on the teams)."""
    fhir_type: str
    recognise: Callable[[Resource], bool]
    """Whether a resource of ``fhir_type`` is this kind of part (two kinds share Condition, CarePlan, Task)."""
    to_fhir: Callable[[Any, Links], Resource | list[Resource]]
    from_fhir: Callable[[Resource, Reader], Any] | None
    """None where reading needs more than the resource (a referral's Task, a plan's inline steps)."""
    display: Callable[[Any], str | None] = lambda entity: None
    entities: Callable[[Record], list[Any]] | None = None
    """The parts in a record; by default those in ``field``."""
    writes: Callable[[Any], bool] = lambda entity: True
    """Whether a part is written as a resource of its own (an inline step is written inside its plan)."""
    once_per_resource: bool = False
    """The same person on several care teams is one Practitioner, written once."""
    also_writes: Callable[[Record, Links], list[tuple[Entity, Resource]]] | None = None
    """Resources written after these parts that belong to no one part (the child's organizations List)."""
    also_reads: tuple[str, ...] = ()
    """Other FHIR types ``to_fhir`` writes and the part is read from (the medical summary's entries)."""

    def of(self, record: Record) -> list[Any]:
        if self.entities is not None:
            return self.entities(record)
        value = getattr(record, self.field)
        return value if isinstance(value, list) else [value] if value is not None else []

    def written(self, record: Record, links: Links) -> list[tuple[Entity, Resource]]:
        found: list[tuple[Entity, Resource]] = []
        seen: set[str] = set()
        for entity in self.of(record):
            if not self.writes(entity) or (self.once_per_resource and resource_id(entity) in seen):
                continue
            seen.add(resource_id(entity))
            made = self.to_fhir(entity, links)
            found.extend((entity, resource) for resource in (made if isinstance(made, list) else [made]))
        return found + (self.also_writes(record, links) if self.also_writes else [])


def _every(resource: Resource) -> bool:
    return True


def _staff(record: Record) -> list[Any]:
    """Team members who are people of their own (Practitioners), on every team they are on."""
    return [member for care_team in record.care_teams for member in care_team.members if is_staff(member)]


def _organizations_list(record: Record, links: Links) -> list[tuple[Entity, Resource]]:
    # Written with the child (an Organization is in no child's compartment; the List brings them in).
    if record.child.known_only_by_reference:
        return []
    return [(record.child, team.organizations_list_to_fhir(record.organizations, links))]


PARTS: tuple[PartMapping, ...] = (
    PartMapping(
        "child",
        "child",
        "Patient",
        _every,
        people.child_to_fhir,
        people.child_from_fhir,
        display=lambda child: child.display_name,
        writes=lambda child: not child.known_only_by_reference,
    ),
    PartMapping(
        "family member",
        "family",
        "RelatedPerson",
        _every,
        people.family_member_to_fhir,
        people.family_member_from_fhir,
        display=lambda relative: relative.display_name,
    ),
    PartMapping(
        "organization",
        "organizations",
        "Organization",
        _every,
        team.organization_to_fhir,
        team.organization_from_fhir,
        display=lambda organization: organization.name,
        also_writes=_organizations_list,
    ),
    PartMapping(
        "team member",
        "care_teams",
        "Practitioner",
        _every,
        team.practitioner_to_fhir,
        None,
        display=lambda member: member.name,
        entities=_staff,
        once_per_resource=True,
    ),
    PartMapping(
        "care team",
        "care_teams",
        "CareTeam",
        _every,
        team.care_team_to_fhir,
        None,
        display=lambda care_team: care_team.name,
    ),
    PartMapping(
        "needs assessment",
        "assessments",
        "QuestionnaireResponse",
        assessment.is_needs_assessment,  # a screening assesses nothing: kept as it came
        assessment.needs_assessment_to_fhir,
        assessment.needs_assessment_from_fhir,
    ),
    PartMapping(
        "need",
        "needs",
        "Condition",
        assessment.is_health_concern,
        assessment.need_to_fhir,
        assessment.need_from_fhir,
        display=lambda need: need.description,
    ),
    PartMapping(
        "diagnosis",
        "diagnoses",
        "Condition",
        lambda condition: not assessment.is_health_concern(condition),
        assessment.diagnosis_to_fhir,
        assessment.diagnosis_from_fhir,
        display=lambda diagnosis: diagnosis.description,
    ),
    PartMapping(
        "complexity assessment",
        "complexity",
        "RiskAssessment",
        assessment.is_complexity,
        assessment.complexity_to_fhir,
        assessment.complexity_from_fhir,
    ),
    PartMapping(
        "goal",
        "goals",
        "Goal",
        _every,
        goal.goal_to_fhir,
        goal.goal_from_fhir,
        display=lambda item: item.description,
    ),
    PartMapping(
        "referral",
        "referrals",
        "ServiceRequest",  # with its tracking Task (and the Appointment, when read)
        _every,
        referral.referral_to_fhir,
        None,
        display=lambda item: item.service,
    ),
    PartMapping(
        "action step",
        "action_steps",
        "Task",
        lambda resource: not task.is_review(resource),  # nor a referral's tracking Task: see _place
        task.action_step_to_fhir,
        task.action_step_from_fhir,
        display=lambda step: step.description,
        writes=lambda step: step.recorded_as == "task",
    ),
    PartMapping(
        "care plan",
        "care_plans",
        "CarePlan",
        lambda plan: not careplan.is_emergency_plan(plan) and not transition.is_transition_plan(plan),
        careplan.care_plan_to_fhir,
        None,
        display=lambda plan: plan.title,
    ),
    PartMapping(
        "emergency plan",
        "emergency_plans",
        "CarePlan",
        careplan.is_emergency_plan,
        careplan.emergency_plan_to_fhir,
        careplan.emergency_plan_from_fhir,
    ),
    PartMapping(
        "transition plan",
        "transition_plans",
        "CarePlan",
        transition.is_transition_plan,
        transition.transition_plan_to_fhir,
        transition.transition_plan_from_fhir,
        display=lambda plan: plan.title,
    ),
    PartMapping(
        "medical summary",
        "medical_summary",
        "Composition",
        summary.is_medical_summary,
        summary.medical_summary_to_fhir,  # the Composition, then a resource for each entry of its lists
        summary.medical_summary_from_fhir,
        also_reads=tuple(summary.ENTRY_TYPES.values()),
    ),
    PartMapping("review", "reviews", "Task", task.is_review, task.review_to_fhir, task.review_from_fhir),
    PartMapping(
        "consent",
        "consents",
        "Consent",
        _every,
        consent.consent_to_fhir,
        consent.consent_from_fhir,
    ),
)
"""Every kind of part, in the order the record is written (what a part refers to comes before it)."""
PARTS_BY_KIND = {part.kind: part for part in PARTS}
PART_TYPES = frozenset(kind for part in PARTS for kind in (part.fhir_type, *part.also_reads))
# Placed by the hooks of another kind (team members with their care teams, reviews with the other Tasks),
# or not at all (nothing refers to the medical summary).
PLACED_WITH_OTHERS: frozenset[PartKind] = frozenset({"team member", "review", "medical summary"})
# Read with more than the resource: the child with its organizations List, care teams with their
# Practitioners, a plan with its inline steps, steps from Tasks and plans, the one medical summary.
READ_WITH_OTHERS: frozenset[PartKind] = frozenset({"child", "organization", "action step", "medical summary"})
