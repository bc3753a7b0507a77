"""The plan of care in its three parts: medical summary, working care plan, emergency treatment plan."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fhirbridge.domain.common import Entity, Id, Instant, NeedDomain

__all__ = [
    "ActionStep",
    "ActionStepStatus",
    "CarePlan",
    "Diagnosis",
    "DiagnosisStatus",
    "EmergencyPlan",
    "EmergencyScenario",
    "Goal",
    "GoalAchievement",
    "GoalAgreement",
    "GoalStatus",
    "MedicalSummary",
    "PartnerReference",
    "PlanStatus",
    "ProgressNote",
]

PlanStatus = Literal["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]
GoalStatus = Literal["proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled", "rejected"]
GoalAchievement = Literal[
    "in-progress",
    "improving",
    "worsening",
    "no-change",
    "achieved",
    "sustaining",
    "not-achieved",
    "no-progress",
    "not-attainable",
]
DiagnosisStatus = Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"]
ActionStepStatus = Literal["planned", "in-progress", "on-hold", "completed", "cancelled"]


class Diagnosis(Entity):
    """A diagnosis or problem on the medical summary."""

    description: str
    code: str | None = None
    code_system: str | None = None
    status: DiagnosisStatus | None = None
    onset: date | None = None


class MedicalSummary(Entity):
    """What every clinician needs at a glance; diagnoses are the record's diagnoses."""

    written_at: Instant
    author_id: Id | None = None
    medications: list[str] = Field(default_factory=list)
    allergies: list[str] = Field(default_factory=list)
    equipment: list[str] = Field(default_factory=list, description="Equipment and supplies")
    hospitalizations: list[str] = Field(default_factory=list, description="Recent hospital stays")
    fhir_entry_ids: dict[str, dict[str, Id]] = Field(
        default_factory=dict,
        description="List name -> entry text -> the id of the partner's resource it was read from, where "
        "that is not the id fhirbridge derives from the summary's (it is written back under it)",
    )


class ProgressNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    written_at: Instant | None = None
    author_id: Id | None = None


class GoalAgreement(BaseModel):
    """Whether the family (or another party) agrees with a goal."""

    model_config = ConfigDict(extra="forbid")

    party_id: Id | None = None
    status: Literal["agree", "disagree", "pending"]


class Goal(Entity):
    description: str
    domain: NeedDomain | None = None
    measure: str | None = Field(default=None, description="How everyone will know the goal is reached")
    start_date: date | None = None
    target_date: date | None = None
    expressed_by_id: Id | None = Field(default=None, description="The child, a family member or a team member")
    agreements: list[GoalAgreement] = Field(default_factory=list)
    status: GoalStatus = "active"
    achievement: GoalAchievement | None = None
    addresses: list[Id] = Field(default_factory=list, description="Needs or diagnoses the goal addresses")
    progress_notes: list[ProgressNote] = Field(default_factory=list)


class ActionStep(Entity):
    """One thing someone will do to reach a goal."""

    description: str
    responsible_id: Id | None = Field(default=None, description="A family member, team member or organization")
    due_date: date | None = None
    status: ActionStepStatus = "planned"
    goal_id: Id | None = None
    referral_id: Id | None = None
    created_at: Instant | None = None
    recorded_as: Literal["task", "plan-activity"] = Field(
        default="task",
        description="How the plan carries the step: as its own Task (fhirbridge's way) or, "
        "as some partners do,"
        " inside the plan's activity",
    )


class PartnerReference(BaseModel):
    """Someone or something a partner's plan names, as the plan names it.

    Read-only: shown so the coordinator sees who else shaped a plan and what else it asks for; the
    partner's FHIR (kept with the plan) stays the source, so a write never changes it.
    """

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(default=None, description="As the plan has it: ``Practitioner/x``, a URL, ...")
    resource_type: str | None = Field(default=None, description="What kind of resource it names, when known")
    display: str | None = Field(default=None, description="The plan's own words for it")
    party_id: Id | None = Field(
        default=None, description="The part of this record it names (a team member, family member, ...), if any"
    )


class CarePlan(Entity):
    """The working care plan, developed with the family."""

    title: str | None = None
    description: str | None = None
    status: PlanStatus = "active"
    period_start: date | None = None
    period_end: date | None = None
    created_at: Instant | None = None
    author_id: Id | None = None
    care_team_ids: list[Id] = Field(default_factory=list)
    addresses: list[Id] = Field(default_factory=list, description="Needs and diagnoses the plan addresses")
    goal_ids: list[Id] = Field(default_factory=list)
    activities: list[Id] = Field(default_factory=list, description="Action steps and referrals, in plan order")
    notes: list[str] = Field(default_factory=list)
    contributors: list[PartnerReference] = Field(
        default_factory=list,
        description="Read-only: who contributed to a partner's plan (CarePlan.contributor); "
        "a write leaves them as read",
        json_schema_extra={"readOnly": True},
    )
    custodian: PartnerReference | None = Field(
        default=None,
        description="Read-only: who is responsible for a partner's plan (the HL7 MCC eCare Plan custodian "
        "extension); a write leaves it as read",
        json_schema_extra={"readOnly": True},
    )
    outside_activities: list[PartnerReference] = Field(
        default_factory=list,
        description="Read-only: activities of a partner's plan that refer to something outside the record "
        "(a MedicationRequest, another server's ServiceRequest); a write leaves them as read",
        json_schema_extra={"readOnly": True},
    )


class EmergencyScenario(BaseModel):
    """A likely emergency and what to do about it."""

    model_config = ConfigDict(extra="forbid")

    problem: str
    management: str | None = None


class EmergencyPlan(Entity):
    """What an emergency department needs to know about this child."""

    part_of_id: Id | None = Field(default=None, description="The working care plan this backs up")
    status: PlanStatus = "active"
    updated_at: Instant | None = None
    baseline: str | None = Field(default=None, description="Baseline findings, so the ED can tell what is new")
    scenarios: list[EmergencyScenario] = Field(default_factory=list)
    procedures_to_avoid: list[str] = Field(default_factory=list)
    emergency_contact_ids: list[Id] = Field(default_factory=list)
    preferred_hospital_id: Id | None = None
