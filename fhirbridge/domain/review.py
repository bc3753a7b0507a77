"""Reviews of the plan with the family: when, who, what came out of it, what changed."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from fhirbridge.domain.common import Entity, Id

__all__ = ["Review", "ReviewTrigger"]

ReviewTrigger = Literal["scheduled", "hospital-discharge", "new-need", "family-request", "transition"]


class Review(Entity):
    reviewed_on: date | None = None
    trigger: ReviewTrigger = "scheduled"
    plan_id: Id | None = None
    participant_ids: list[Id] = Field(default_factory=list)
    outcome: str
    changes: list[str] = Field(default_factory=list)
    next_review_due: date | None = None
