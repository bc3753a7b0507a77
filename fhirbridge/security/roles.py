"""Role presets: the scopes and claims each kind of fhirbridge user is given.

The authorization server decides what a caller gets; these presets are what fhirbridge recommends (and
what ``fhirbridge token`` mints for development). ``docs/security.md`` explains each choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fhirbridge.security.principal import ORG_CLAIM, ROLE_CLAIM, TEAM_CLAIM, TREATING_TEAM

# What a token's fhirUser may name: a user resource (SMART App Launch), or the Organization acting (read
# as fhirbridge_org), as Type/id or the absolute URL of one.
USER_REFERENCE = re.compile(
    r"(https?://[^\s]+/)?(Practitioner|PractitionerRole|RelatedPerson|Patient|Person|Organization)/[A-Za-z0-9\-.]{1,64}"
)
DIRECTORY_READ = ("Organization.rs", "Practitioner.rs", "PractitionerRole.rs", "Location.rs", "HealthcareService.rs")


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    scopes: tuple[str, ...]
    # On the child's treating team (sees the record without consent) or an outside organization.
    treating: bool
    needs_patient: bool = False
    needs_org: bool = False


def _user(*grants: str) -> tuple[str, ...]:
    return tuple(f"user/{grant}" for grant in (*grants, *DIRECTORY_READ))


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(
            "ehr-system",
            "A hospital or practice EHR keeping its copy of the plan in sync (back-end service).",
            ("system/*.cruds",),
            treating=True,
            needs_org=True,
        ),
        Role(
            "care-coordinator",
            "The medical-home care coordinator who writes the assessment, plan, goals and referrals.",
            ("user/*.crus",),
            treating=True,
        ),
        Role(
            "discharge-planner",
            "A hospital discharge planner: reads the current summary, records the hospital stay, sends back "
            "discharge needs as referrals.",
            _user(
                "Patient.rs",
                "CarePlan.rs",
                "Goal.rs",
                "CareTeam.rs",
                "Condition.rs",
                "AllergyIntolerance.rs",
                "MedicationRequest.rs",
                "MedicationStatement.rs",
                "Device.rs",
                "Composition.rs",
                "DocumentReference.rs",
                "Observation.rs",
                "Encounter.crus",  # the hospital stay it records (medical-summary: docs/security.md)
                "RelatedPerson.rs",
                "ServiceRequest.crs",
                "Task.crs",
            ),
            treating=True,
        ),
        Role(
            "payer-case-manager",
            "A payer or Medicaid case manager: reads goals and progress the family consented to share.",
            _user("Patient.rs", "CarePlan.rs", "Goal.rs", "Observation.rs", "Condition.rs", "CareTeam.rs"),
            treating=False,
            needs_org=True,
        ),
        Role(
            "referral-partner",
            "A specialist, agency or school: receives a referral, updates its status, returns a result.",
            _user(
                "Patient.rs",
                "ServiceRequest.rs",
                "Task.rus",
                "Observation.crs",
                "DocumentReference.crs",
                "Communication.crs",
                "Procedure.c",  # what it did for a referral it performs (security/policy.py)
            ),
            treating=False,
            needs_org=True,
        ),
        Role(
            "adult-practice",
            "The adult practice a youth moves to: reads the transfer summary the youth consented to share.",
            _user(
                "Patient.rs",
                "CarePlan.rs",
                "Goal.rs",
                "CareTeam.rs",
                "Condition.rs",
                "AllergyIntolerance.rs",
                "MedicationRequest.rs",
                "MedicationStatement.rs",
                "Device.rs",
                "DeviceUseStatement.rs",
                "Encounter.rs",
                "QuestionnaireResponse.rs",
                "Questionnaire.rs",
                "RelatedPerson.rs",
            ),
            treating=False,
            needs_org=True,
        ),
        Role(
            "family",
            "The child's family: sees the child's whole plan, records its agreement and its own answers.",
            (
                "patient/*.rs",
                "patient/Goal.rus",
                "patient/Task.rus",
                "patient/QuestionnaireResponse.crus",
                "patient/Communication.crs",
            ),
            treating=False,
            needs_patient=True,
        ),
    )
}


def role_claims(
    name: str, *, patient: str | None = None, org: str | None = None, user: str | None = None
) -> dict[str, Any]:
    """The fhirbridge claims of a token for one role (without the registered iss/aud/exp claims)."""
    role = ROLES.get(name)
    if role is None:
        raise ValueError(f"unknown role '{name}'; choose one of {', '.join(sorted(ROLES))}")
    if role.needs_patient and not patient:
        raise ValueError(f"the {name} role needs --patient (the child the token is confined to)")
    if role.needs_org and not org:
        raise ValueError(f"the {name} role needs --org (the organization the caller acts for)")
    if user and not USER_REFERENCE.fullmatch(user):
        # Caught here rather than by the server: a login name (make's USER) would make a token that names
        # nobody, whose every request is then refused for no visible reason.
        raise ValueError(
            f"--user must name the user as a reference, e.g. Practitioner/12 or RelatedPerson/4, not '{user}'"
        )
    claims: dict[str, Any] = {"scope": " ".join(role.scopes), ROLE_CLAIM: name}
    if role.treating:
        claims[TEAM_CLAIM] = TREATING_TEAM
    if patient:
        claims["patient"] = patient
    if org:
        claims[ORG_CLAIM] = org if org.startswith("Organization/") else f"Organization/{org}"
    if user:
        claims["fhirUser"] = user
    return claims


__all__ = ["ROLES", "USER_REFERENCE", "Role", "role_claims"]
