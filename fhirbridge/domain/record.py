"""One child's whole care-coordination record."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fhirbridge.domain.assessment import ComplexityAssessment, Need, NeedsAssessment
from fhirbridge.domain.consent import ConsentToShare
from fhirbridge.domain.people import Child, FamilyMember
from fhirbridge.domain.plan import ActionStep, CarePlan, Diagnosis, EmergencyPlan, Goal, MedicalSummary
from fhirbridge.domain.referral import Referral
from fhirbridge.domain.review import Review
from fhirbridge.domain.team import CareTeam, Organization
from fhirbridge.domain.transition import TransitionPlan

__all__ = ["Record"]


class Record(BaseModel):
    """Everything the team coordinates for one child, as the coordinator sees it.

    Parts refer to each other by id (a goal's ``expressed_by_id`` is the id of the child, a family member
    or a team member); ids are unique across the whole record.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    child: Child
    family: list[FamilyMember] = Field(default_factory=list)
    organizations: list[Organization] = Field(default_factory=list)
    care_teams: list[CareTeam] = Field(default_factory=list)
    assessments: list[NeedsAssessment] = Field(default_factory=list)
    needs: list[Need] = Field(default_factory=list)
    complexity: list[ComplexityAssessment] = Field(default_factory=list, description="Oldest first")
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    medical_summary: MedicalSummary | None = None
    care_plans: list[CarePlan] = Field(default_factory=list)
    goals: list[Goal] = Field(default_factory=list)
    action_steps: list[ActionStep] = Field(default_factory=list)
    emergency_plans: list[EmergencyPlan] = Field(default_factory=list)
    referrals: list[Referral] = Field(default_factory=list)
    reviews: list[Review] = Field(default_factory=list)
    consents: list[ConsentToShare] = Field(default_factory=list)
    transition_plans: list[TransitionPlan] = Field(
        default_factory=list, description="The plan for the move to adult care (one, from early adolescence)"
    )
    fhir_other_resources: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Partner resources about the child that have no place in the record, kept as they came",
    )

    @property
    def working_plan(self) -> CarePlan | None:
        """The plan of care the team works from: the first active plan, else the first plan."""
        active = [plan for plan in self.care_plans if plan.status == "active"]
        candidates = active or self.care_plans
        return candidates[0] if candidates else None

    @property
    def current_complexity(self) -> ComplexityAssessment | None:
        return self.complexity[-1] if self.complexity else None
