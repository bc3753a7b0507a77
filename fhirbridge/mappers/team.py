"""The care team (CareTeam), its staff (Practitioner) and the organizations they work for (Organization)."""

from __future__ import annotations

from typing import Any, get_args

from fhirbridge.domain.team import CareTeam, MemberRole, Organization, OrganizationKind, TeamMember
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    US_CORE,
    Resource,
    clean,
    codeable,
    codes,
    extension,
    extension_values,
    first_code,
    narrative,
    parse_date,
    pick,
    profile,
    resource_id,
    string,
    system_url,
    text_of,
)
from fhirbridge.mappers.people import contact, telecom

__all__ = [
    "care_team_from_fhir",
    "care_team_to_fhir",
    "is_organizations_list",
    "organization_from_fhir",
    "organization_to_fhir",
    "organizations_list_id",
    "organizations_list_order",
    "organizations_list_to_fhir",
    "practitioner_to_fhir",
    "staff_member_from_fhir",
]

ORGANIZATION_KIND = system_url("CodeSystem/organization-kind")
TEAM_ROLE = system_url("CodeSystem/care-team-role")
PRACTITIONER_SID = system_url("sid/practitioner")
RECORD_LIST = system_url("CodeSystem/record-list")
RESPONSIBILITY = profile("responsibility")
TEAM_STATUSES = ("proposed", "active", "suspended", "inactive")


def organization_to_fhir(organization: Organization, links: Links) -> Resource:
    return clean(
        {
            "resourceType": "Organization",
            "id": resource_id(organization),
            "meta": {"profile": [f"{US_CORE}/us-core-organization"]},
            "text": narrative(
                f"Organization: {organization.name}",
                [("Kind", organization.kind), ("Phone", organization.phone)],
            ),
            "active": organization.active,
            "type": [codeable(ORGANIZATION_KIND, organization.kind)],
            "name": organization.name,
            "telecom": telecom(organization.phone, None),
        }
    )


def organization_from_fhir(resource: Resource, reader: Reader) -> Organization:
    kind = first_code(resource.get("type", []), ORGANIZATION_KIND)
    active = resource.get("active")
    return Organization(
        id=resource["id"],
        name=string(resource.get("name")) or f"Organization {resource['id']}",
        kind=pick(kind, OrganizationKind, "other"),
        phone=contact(resource, "phone"),
        active=active if isinstance(active, bool) else True,
    )


def organizations_list_id(child_resource_id: str) -> str:
    return f"{child_resource_id[:50]}-organizations"


def organizations_list_to_fhir(organizations: list[Organization], links: Links) -> Resource:
    """The organizations in the child's care, as a List about the child.

    An Organization is directory data, in no child's compartment: without this List a store assembling
    the child's record would find only the organizations something else of the child refers to.
    """
    return clean(
        {
            "resourceType": "List",
            "id": organizations_list_id(links.child_id),
            "text": narrative(
                "Organizations in the child's care",
                [("Organizations", [organization.name for organization in organizations] or "none")],
            ),
            "status": "current",
            "mode": "working",
            "title": "Organizations in the child's care",
            "code": codeable(RECORD_LIST, "organizations", "Organizations in the child's care"),
            "subject": links.patient(),
            "entry": [{"item": links.ref(organization.id)} for organization in organizations],
        }
    )


def is_organizations_list(resource: Resource, child_key: str | None) -> bool:
    """Whether this is the List fhirbridge writes of a child's organizations (about ``child_key``)."""
    if resource.get("resourceType") != "List" or child_key is None:
        return False
    subject = resource.get("subject")
    return (
        (RECORD_LIST, "organizations") in codes(resource.get("code"))
        and isinstance(subject, dict)
        and subject.get("reference") == child_key
        and resource.get("id") == organizations_list_id(child_key.split("/", 1)[1])
    )


def organizations_list_order(resource: Resource, reader: Reader) -> list[str]:
    """The record ids of the organizations the List names, in its order."""
    found = []
    for index, entry in enumerate(resource.get("entry", []) or []):
        item = entry.get("item") if isinstance(entry, dict) else None
        organization = reader.resolve(item, f"entry[{index}].item", "organization")
        if organization is not None:
            found.append(organization)
    return found


def practitioner_to_fhir(member: TeamMember, links: Links) -> Resource:
    words = (member.name or member.id).split()
    return clean(
        {
            "resourceType": "Practitioner",
            "id": resource_id(member),
            "meta": {"profile": [f"{US_CORE}/us-core-practitioner"]},
            "text": narrative(
                f"Team member: {member.name}",
                [("Role", member.role_text or member.role), ("Phone", member.phone), ("Email", member.email)],
            ),
            "identifier": [{"system": PRACTITIONER_SID, "value": member.id}],
            "name": [{"text": member.name, "family": words[-1], "given": words[:-1]}],
            "telecom": telecom(member.phone, member.email),
        }
    )


def staff_member_from_fhir(practitioner: Resource) -> dict[str, Any]:
    """The parts of a team member that its Practitioner carries."""
    names = [name for name in practitioner.get("name", []) or [] if isinstance(name, dict)]
    name = names[0] if names else {}
    shown = (
        string(name.get("text"))
        or " ".join(
            [
                *(part for part in name.get("given", []) or [] if isinstance(part, str)),
                string(name.get("family")) or "",
            ]
        ).strip()
    )
    return {
        "name": shown or None,
        "phone": contact(practitioner, "phone"),
        "email": contact(practitioner, "email"),
    }


def care_team_to_fhir(team: CareTeam, links: Links) -> Resource:
    return clean(
        {
            "resourceType": "CareTeam",
            "id": resource_id(team),
            "meta": {"profile": [f"{US_CORE}/us-core-careteam", profile("fhirbridge-careteam")]},
            "text": narrative(
                f"Care team: {team.name or team.id}",
                [
                    ("Status", team.status),
                    ("Members", [_member_line(member, links) for member in team.members]),
                ],
            ),
            "status": team.status,
            "name": team.name,
            "subject": links.patient(),
            "participant": [_participant(member, links) for member in team.members],
        }
    )


def _member_line(member: TeamMember, links: Links) -> str:
    who = member.name or links.display(member.family_member_id) or links.display(member.organization_id)
    line = f"{who} ({member.role_text or member.role})"
    return f"{line}: {'; '.join(member.responsibilities)}" if member.responsibilities else line


def _participant(member: TeamMember, links: Links) -> dict[str, Any]:
    staff = bool(member.name) or not (member.family_member_id or member.organization_id)
    if staff:
        target: dict[str, Any] | None = {"reference": f"Practitioner/{resource_id(member)}"}
    else:
        target = links.ref(member.family_member_id or member.organization_id)
    return {
        "id": None if staff else member.id,
        "extension": [extension(RESPONSIBILITY, valueString=text) for text in member.responsibilities],
        "role": [codeable(TEAM_ROLE, member.role, text=member.role_text)],
        "member": target,
        "onBehalfOf": links.ref(member.organization_id) if staff or member.family_member_id else None,
        "period": {"start": member.since.isoformat()} if member.since else None,
    }


def care_team_from_fhir(resource: Resource, reader: Reader, practitioners: dict[str, Resource]) -> CareTeam:
    members = []
    for index, participant in enumerate(resource.get("participant", []) or []):
        member = member_from_participant(resource, index, participant, reader, practitioners)
        if member is not None:
            members.append(member)
    status = resource.get("status")
    return CareTeam(
        id=resource["id"],
        name=string(resource.get("name")),
        status=status if status in TEAM_STATUSES else "active",
        members=members,
    )


def member_id(team: Resource, index: int, participant: dict[str, Any], reader: Reader) -> tuple[str, str] | None:
    """(kind of the member's resource, team member id), or None when the member is not in the record."""
    key = reader.key(participant.get("member"))
    if key is None:
        return None
    kind = reader.kind_of(participant.get("member"))
    if key.startswith("Practitioner/") and kind == "team member":
        return "Practitioner", reader.placed[key][0][1]
    if kind in ("family member", "organization", "child"):
        own = participant.get("id")
        return kind, own if isinstance(own, str) else f"{team['id'][:50]}-member-{index + 1}"
    return None


def member_from_participant(
    team: Resource, index: int, participant: Any, reader: Reader, practitioners: dict[str, Resource]
) -> TeamMember | None:
    path = f"participant[{index}]"
    if not isinstance(participant, dict):
        return None
    placed = member_id(team, index, participant, reader)
    if placed is None:
        reader.resolve(participant.get("member"), f"{path}.member", "team member")
        return None
    kind, identity = placed
    roles = participant.get("role", []) or []
    code = first_code(roles, TEAM_ROLE)
    first_role = roles[0] if roles and isinstance(roles[0], dict) else {}
    period = participant.get("period") if isinstance(participant.get("period"), dict) else {}
    common: dict[str, Any] = {
        "id": identity,
        "role": code if code in get_args(MemberRole) else "other",
        "role_text": string(first_role.get("text")) if code else text_of(first_role),
        "responsibilities": [
            ext["valueString"]
            for ext in extension_values(participant, RESPONSIBILITY)
            if isinstance(ext.get("valueString"), str)
        ],
        "since": parse_date((period or {}).get("start")),
        "organization_id": reader.resolve(participant.get("onBehalfOf"), f"{path}.onBehalfOf", "organization"),
    }
    if kind == "Practitioner":
        key = reader.key(participant.get("member"))
        practitioner = practitioners[key or ""]
        fhir_id = None if practitioner["id"] == identity else practitioner["id"]
        return TeamMember(**common, fhir_id=fhir_id, **staff_member_from_fhir(practitioner))
    if kind == "family member":
        common["family_member_id"] = reader.resolve(participant.get("member"), f"{path}.member", "family member")
    elif kind == "organization":
        common["organization_id"] = reader.resolve(participant.get("member"), f"{path}.member", "organization")
    else:
        reader.note(f"{path}.member", "the child as a member of its own care team has no place in the record; kept")
        return None
    return TeamMember(**common)
