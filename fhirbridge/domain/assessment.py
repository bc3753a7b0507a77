"""Needs assessment with the family, and the complexity level it leads to."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from fhirbridge.domain.common import Entity, Id, Instant, NeedDomain

__all__ = [
    "AssessmentMethod",
    "ComplexityAssessment",
    "ComplexityLevel",
    "Need",
    "NeedPriority",
    "NeedStatus",
    "NeedsAssessment",
    "Readiness",
]

AssessmentMethod = Literal["in-person", "phone", "form-sent-home", "video"]
Readiness = Literal["not-ready", "considering", "ready", "seeking"]
NeedPriority = Literal["high", "medium", "low"]
NeedStatus = Literal["identified", "being-addressed", "met", "deferred"]
ComplexityLevel = Literal["low", "moderate", "high"]


class NeedsAssessment(Entity):
    """One comprehensive assessment done with the family; its needs point back at it."""

    status: Literal["in-progress", "completed", "amended", "stopped"] = "completed"
    assessed_at: Instant | None = None
    method: AssessmentMethod | None = None
    assessor_id: Id | None = Field(default=None, description="The team member who did the assessment")
    informant_id: Id | None = Field(default=None, description="The family member who answered")
    domains_reviewed: list[NeedDomain] = Field(default_factory=list)
    strengths: list[str] = Field(default_factory=list)
    family_goals: list[str] = Field(default_factory=list, description="The family's own goals, in their words")
    readiness: Readiness | None = Field(default=None, description="The family's readiness for information")


class Need(Entity):
    """One need identified with the family."""

    description: str
    domain: NeedDomain | None = None
    priority: NeedPriority | None = None
    status: NeedStatus = "identified"
    identified_on: date | None = None
    assessment_id: Id | None = None


class ComplexityAssessment(Entity):
    """The level of coordination the family needs; drives how often the plan is reviewed."""

    level: ComplexityLevel
    assessed_at: Instant | None = None
    basis_assessment_id: Id | None = None
    assessor_id: Id | None = None
    rationale: str | None = None
