"""Referrals, tracked until their result comes back (the closed loop)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fhirbridge.domain.common import Entity, Id, Instant
from fhirbridge.domain.plan import ProgressNote

__all__ = ["NEEDS_REASON", "Appointment", "Referral", "ReferralPriority", "ReferralStatus", "StatusChange"]

ReferralStatus = Literal[
    "draft", "requested", "accepted", "rejected", "in-progress", "completed", "failed", "cancelled"
]
ReferralPriority = Literal["routine", "urgent", "asap", "stat"]


# A referral moving to one of these says why (the note of that status change; Task.statusReason in FHIR).
NEEDS_REASON: frozenset[str] = frozenset({"rejected", "cancelled"})


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    at: Instant
    note: str | None = None


class Appointment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id | None = Field(default=None, description="Id of the Appointment resource; default <referral id>-appt")
    starts_at: Instant
    ends_at: Instant | None = None
    status: Literal["proposed", "booked", "fulfilled", "cancelled", "noshow"] = "booked"
    description: str | None = None


class Referral(Entity):
    service: str
    reason: str | None = None
    recipient_id: Id | None = Field(default=None, description="The organization or team member referred to")
    requester_id: Id | None = None
    goal_id: Id | None = None
    priority: ReferralPriority = "routine"
    status: ReferralStatus = "draft"
    history: list[StatusChange] = Field(default_factory=list, description="Every status change, oldest first")
    appointment: Appointment | None = None
    result: str | None = None
    result_date: date | None = None
    notes: list[ProgressNote] = Field(
        default_factory=list,
        description="What either party wrote about the referral (the performer's report, a coordinator's "
        "follow-up), oldest first",
    )
    task_id: Id | None = Field(default=None, description="Id of the Task tracking the referral; default <id>-task")

    @property
    def tracking_task_id(self) -> str:
        return self.task_id or f"{self.id[:59]}-task"

    @property
    def appointment_id(self) -> str:
        return (self.appointment.id if self.appointment else None) or f"{self.id[:59]}-appt"
