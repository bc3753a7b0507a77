"""The child and the family around the child."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fhirbridge.domain.common import Entity

__all__ = [
    "FAMILY_RELATIONSHIPS",
    "Child",
    "FamilyMember",
    "FamilyRole",
    "Gender",
    "Identifier",
    "Relationship",
]

Gender = Literal["male", "female", "other", "unknown"]

FAMILY_RELATIONSHIPS: dict[str, str] = {
    "MTH": "mother",
    "FTH": "father",
    "PRN": "parent",
    "STPMTH": "stepmother",
    "STPFTH": "stepfather",
    "FMRSPS": "former spouse",
    "GRMTH": "grandmother",
    "GRFTH": "grandfather",
    "SIB": "sibling",
    "AUNT": "aunt",
    "UNCLE": "uncle",
    "FOSMTH": "foster mother",
    "FOSFTH": "foster father",
    "GUARD": "guardian",
    "FRND": "friend",
    "NBOR": "neighbor",
    "FAMMEMB": "family member",
}
"""How a family member is related to the child (HL7 v3 RoleCode)."""

Relationship = Literal[
    "MTH",
    "FTH",
    "PRN",
    "STPMTH",
    "STPFTH",
    "FMRSPS",
    "GRMTH",
    "GRFTH",
    "SIB",
    "AUNT",
    "UNCLE",
    "FOSMTH",
    "FOSFTH",
    "GUARD",
    "FRND",
    "NBOR",
    "FAMMEMB",
]
FamilyRole = Literal["primary-caregiver", "legal-guardian", "emergency-contact"]


class Identifier(BaseModel):
    """A number another system knows the child by (medical record number, Medicaid id)."""

    model_config = ConfigDict(extra="forbid")

    system: str
    value: str


class Child(Entity):
    given_names: list[str] = Field(default_factory=list)
    family_name: str | None = None
    birth_date: date | None = None
    gender: Gender = "unknown"
    identifiers: list[Identifier] = Field(default_factory=list)
    language: str | None = Field(default=None, description="Preferred language, a BCP-47 code such as es")
    interpreter_needed: bool | None = None
    known_only_by_reference: bool = Field(
        default=False,
        description="The partner's resources named the child without sending the Patient; "
        "fhirbridge then never writes a Patient for this child.",
    )

    @property
    def display_name(self) -> str:
        return " ".join([*self.given_names, self.family_name or ""]).strip() or f"child {self.id}"


class FamilyMember(Entity):
    given_names: list[str] = Field(default_factory=list)
    family_name: str | None = None
    relationship: Relationship | None = None
    roles: list[FamilyRole] = Field(default_factory=list)
    phone: str | None = None
    email: str | None = None
    language: str | None = None
    interpreter_needed: bool | None = None

    @property
    def display_name(self) -> str:
        return " ".join([*self.given_names, self.family_name or ""]).strip() or f"family member {self.id}"
