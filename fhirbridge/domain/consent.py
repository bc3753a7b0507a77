"""The family's consent to share information with another organization."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from fhirbridge.domain.common import Entity, Id

__all__ = ["SHARED_INFORMATION", "ConsentToShare", "SharedInformation"]

SharedInformation = Literal[
    "care-plan", "goals", "referrals", "needs-assessment", "medical-summary", "emergency-plan", "care-team"
]
SHARED_INFORMATION: tuple[str, ...] = (
    "care-plan",
    "goals",
    "referrals",
    "needs-assessment",
    "medical-summary",
    "emergency-plan",
    "care-team",
)


class ConsentToShare(Entity):
    status: Literal["draft", "proposed", "active", "rejected", "inactive"] = "active"
    granted_by_id: Id | None = Field(default=None, description="The family member who consented")
    recipient_id: Id | None = Field(default=None, description="The organization the family allows to receive")
    information: list[SharedInformation] = Field(default_factory=list)
    signed_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
