"""The care team: who serves the child, in which role, for which organization, responsible for what."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from fhirbridge.domain.common import Entity, Id

__all__ = ["CareTeam", "MemberRole", "Organization", "OrganizationKind", "TeamMember"]

OrganizationKind = Literal[
    "medical-home",
    "specialty-clinic",
    "hospital",
    "payer",
    "school",
    "early-intervention",
    "community-agency",
    "home-health",
    "public-health",
    "equipment-supplier",
    "other",
]
MemberRole = Literal[
    "care-coordinator",
    "primary-care-provider",
    "specialist",
    "nurse",
    "therapist",
    "social-worker",
    "school-staff",
    "case-manager",
    "family",
    "other",
]


class Organization(Entity):
    name: str
    kind: OrganizationKind = "other"
    phone: str | None = None
    active: bool = True


class TeamMember(Entity):
    """A person (or an organization acting as one) on the team.

    A family member on the team points at the family member with ``family_member_id``; a staff member
    has a ``name``; an organization taking part as a whole sets only ``organization_id``.
    """

    role: MemberRole = "other"
    role_text: str | None = Field(default=None, description="The role as the team calls it, e.g. pediatric neurologist")
    name: str | None = None
    family_member_id: Id | None = None
    organization_id: Id | None = None
    responsibilities: list[str] = Field(default_factory=list)
    phone: str | None = None
    email: str | None = None
    since: date | None = None


class CareTeam(Entity):
    name: str | None = None
    status: Literal["proposed", "active", "suspended", "inactive"] = "active"
    members: list[TeamMember] = Field(default_factory=list)
