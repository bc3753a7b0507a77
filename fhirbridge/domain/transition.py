"""The move from pediatric to adult care: the transition plan part of a child's record.

Planned from early adolescence with the youth (not only the family): when the youth is to move, which
adult providers take over, what the youth wants to be able to do (goals in the youth's own words, the
record's goals expressed by the child), and the latest transition-readiness questionnaire the youth
answered.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fhirbridge.domain.common import Entity, Id, Instant
from fhirbridge.domain.plan import PlanStatus

__all__ = ["ProviderReference", "ReceivingProvider", "TransitionPlan"]

ProviderReference = Annotated[
    str, StringConstraints(pattern=r"^(Practitioner|PractitionerRole|Organization)/[A-Za-z0-9\-.]{1,64}$")
]
"""An adult provider as the directory knows it: ``Organization/x``, ``Practitioner/y``, ``PractitionerRole/z``."""


class ReceivingProvider(BaseModel):
    """An adult practice or clinician who is to take over the youth's care."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(min_length=1, description="The practice or clinician, as the youth and family know it")
    reference: ProviderReference | None = Field(
        default=None, description="Where the directory (or the record's organizations) holds it, when it does"
    )
    specialty: str | None = Field(default=None, description="What it takes over: adult primary care, neurology...")


class TransitionPlan(Entity):
    status: PlanStatus = "active"
    title: str = "Transition to adult care"
    target_transfer_age: int | None = Field(default=None, ge=12, le=30, description="Age the youth is to move at")
    target_transfer_date: date | None = Field(default=None, description="When the first adult visit is planned")
    receiving_providers: list[ReceivingProvider] = Field(default_factory=list)
    goal_ids: list[Id] = Field(
        default_factory=list,
        description="The youth's own goals for the move: goals of the record expressed by the child",
    )
    readiness_response_id: Id | None = Field(
        default=None, description="The youth's latest answers to the transition-readiness questionnaire"
    )
    created_at: Instant | None = None
    author_id: Id | None = None
    notes: list[str] = Field(default_factory=list)
