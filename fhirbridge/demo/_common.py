"""Shared pieces of the demo: the medical home every demo child belongs to, and time helpers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from fhirbridge.domain import Organization, TeamMember

__all__ = ["CENTRAL", "at", "day", "medical_home", "medical_home_staff"]

CENTRAL = timezone(timedelta(hours=-6))


def at(year: int, month: int, day_of_month: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day_of_month, hour, minute, tzinfo=CENTRAL)


def day(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, day_of_month)


def medical_home(prefix: str) -> Organization:
    return Organization(
        id=f"{prefix}-riverside", name="Riverside Pediatrics", kind="medical-home", phone="555-0100"
    )


def medical_home_staff(prefix: str) -> list[TeamMember]:
    """The coordinator and pediatrician at the medical home (one Practitioner per child's record)."""
    return [
        TeamMember(
            id=f"{prefix}-coordinator",
            role="care-coordinator",
            role_text="Nurse care coordinator",
            name="Dana Whitfield",
            organization_id=f"{prefix}-riverside",
            responsibilities=["Keeps the plan of care current", "Tracks referrals until results return"],
            phone="555-0101",
            email="dwhitfield@riverside.example.org",
        ),
        TeamMember(
            id=f"{prefix}-pcp",
            role="primary-care-provider",
            role_text="Pediatrician",
            name="Priya Raman",
            organization_id=f"{prefix}-riverside",
            responsibilities=["Medical home physician", "Signs orders and prior authorizations"],
        ),
    ]
