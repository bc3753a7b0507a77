"""Who is calling: the verified claims of a bearer token, in the terms fhirbridge decides on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirbridge.security.scopes import Scope, parse_scopes

# Claims fhirbridge reads besides the registered ones (RFC 7519) and SMART's ``patient``/``fhirUser``.
ORG_CLAIM = "fhirbridge_org"
TEAM_CLAIM = "fhirbridge_team"
ROLE_CLAIM = "fhirbridge_role"
TREATING_TEAM = "treating"


@dataclass(frozen=True)
class Principal:
    subject: str
    client_id: str
    scopes: tuple[Scope, ...]
    # SMART launch context: the one child this token is confined to under patient/ scopes.
    patient: str | None = None
    # ``Practitioner/12``, ``RelatedPerson/4``: the user behind the token, when there is one.
    fhir_user: str | None = None
    # ``Organization/payer-1``: the organization the caller acts for.
    organization: str | None = None
    # Whether the organization is on the child's treating team (asserted by the authorization server).
    treating: bool = False
    role: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def consent_required(self) -> bool:
        """Organizations outside the treating team (payer, school, agency) see data only by consent."""
        return self.organization is not None and not self.treating

    @property
    def display(self) -> str:
        return self.fhir_user or self.subject

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        organization = claims.get(ORG_CLAIM)
        fhir_user = claims.get("fhirUser")
        if organization is None and isinstance(fhir_user, str) and _relative(fhir_user).startswith("Organization/"):
            organization = fhir_user
        return cls(
            subject=str(claims.get("sub", "")),
            client_id=str(claims.get("client_id") or claims.get("azp") or claims.get("sub", "")),
            scopes=parse_scopes(claims.get("scope") if "scope" in claims else claims.get("scp")),
            patient=_text(claims.get("patient")),
            fhir_user=_relative(fhir_user) if isinstance(fhir_user, str) else None,
            organization=_relative(organization) if isinstance(organization, str) else None,
            treating=claims.get(TEAM_CLAIM) == TREATING_TEAM,
            role=_text(claims.get(ROLE_CLAIM)),
            claims=claims,
        )


@dataclass(frozen=True)
class Actor:
    """The references (``Organization/x``, ``Practitioner/y``, ...) a caller acts as, for business rules
    such as who may move a referral."""

    references: frozenset[str] = field(default_factory=frozenset)

    def is_any_of(self, references: set[str]) -> bool:
        return bool(self.references & references)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _relative(reference: str) -> str:
    """``https://ehr.example/fhir/Practitioner/12`` -> ``Practitioner/12``."""
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


__all__ = ["ORG_CLAIM", "ROLE_CLAIM", "TEAM_CLAIM", "TREATING_TEAM", "Actor", "Principal"]
