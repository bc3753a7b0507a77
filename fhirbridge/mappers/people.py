"""The child (Patient) and the family (RelatedPerson)."""

from __future__ import annotations

from typing import Any

from fhirbridge.domain.people import (
    FAMILY_RELATIONSHIPS,
    Child,
    FamilyMember,
    FamilyRole,
    Identifier,
    Relationship,
)
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    US_CORE,
    Resource,
    clean,
    codeable,
    codes,
    extension,
    extension_values,
    narrative,
    parse_date,
    pick,
    resource_id,
    string,
    strings,
    system_url,
)

__all__ = [
    "child_from_fhir",
    "child_to_fhir",
    "contact",
    "family_member_from_fhir",
    "family_member_to_fhir",
    "telecom",
]

CHILD_SID = system_url("sid/child")
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
FAMILY_ROLE = system_url("CodeSystem/family-role")
BCP47 = "urn:ietf:bcp:47"
PATIENT_INTERPRETER = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"
INTERPRETER_NEEDED = system_url("StructureDefinition/interpreter-needed")
GENDERS = ("male", "female", "other", "unknown")


def child_to_fhir(child: Child, links: Links) -> Resource:
    identifiers = [{"system": item.system, "value": item.value} for item in child.identifiers]
    return clean(
        {
            "resourceType": "Patient",
            "id": resource_id(child),
            "meta": {"profile": [f"{US_CORE}/us-core-patient"]},
            "text": narrative(
                f"Child: {child.display_name}",
                [
                    ("Born", child.birth_date),
                    ("Gender", child.gender),
                    ("Language", child.language),
                    ("Interpreter needed", _yes_no(child.interpreter_needed)),
                ],
            ),
            "extension": _interpreter(PATIENT_INTERPRETER, child.interpreter_needed),
            "identifier": [*identifiers, {"system": CHILD_SID, "value": child.id}],
            "name": [{"family": child.family_name, "given": child.given_names}],
            "gender": child.gender,
            "birthDate": child.birth_date.isoformat() if child.birth_date else None,
            "communication": _language(child.language),
        }
    )


def child_from_fhir(patient: Resource, reader: Reader) -> Child:
    name = _first_name(patient)
    gender = patient.get("gender")
    return Child(
        id=patient["id"],
        given_names=strings(name.get("given")),
        family_name=string(name.get("family")),
        birth_date=parse_date(patient.get("birthDate")),
        gender=gender if gender in GENDERS else "unknown",
        identifiers=[
            Identifier(system=item["system"], value=item["value"])
            for item in patient.get("identifier", []) or []
            if isinstance(item.get("system"), str)
            and isinstance(item.get("value"), str)
            and item["system"] != CHILD_SID
        ],
        language=_read_language(patient),
        interpreter_needed=_read_interpreter(patient, PATIENT_INTERPRETER),
    )


def family_member_to_fhir(relative: FamilyMember, links: Links) -> Resource:
    relationship = (
        [codeable(ROLE_CODE, relative.relationship, FAMILY_RELATIONSHIPS[relative.relationship])]
        if relative.relationship
        else []
    )
    return clean(
        {
            "resourceType": "RelatedPerson",
            "id": resource_id(relative),
            "meta": {"profile": [f"{US_CORE}/us-core-relatedperson"]},
            "text": narrative(
                f"Family: {relative.display_name}",
                [
                    ("Relationship", FAMILY_RELATIONSHIPS.get(relative.relationship or "")),
                    ("Roles", relative.roles),
                    ("Phone", relative.phone),
                    ("Email", relative.email),
                    ("Language", relative.language),
                    ("Interpreter needed", _yes_no(relative.interpreter_needed)),
                ],
            ),
            "extension": _interpreter(INTERPRETER_NEEDED, relative.interpreter_needed),
            "active": True,
            "patient": links.patient(),
            "relationship": [*relationship, *(codeable(FAMILY_ROLE, role) for role in relative.roles)],
            "name": [{"family": relative.family_name, "given": relative.given_names}],
            "telecom": telecom(relative.phone, relative.email),
            "communication": _language(relative.language),
        }
    )


def family_member_from_fhir(related: Resource, reader: Reader) -> FamilyMember:
    name = _first_name(related)
    found = codes(related.get("relationship", []))
    relationship = next((code for system, code in found if system == ROLE_CODE and code in FAMILY_RELATIONSHIPS), None)
    roles = [code for system, code in found if system == FAMILY_ROLE]
    return FamilyMember(
        id=related["id"],
        given_names=strings(name.get("given")),
        family_name=string(name.get("family")),
        relationship=pick(relationship, Relationship),
        roles=[pick(role, FamilyRole) for role in roles if pick(role, FamilyRole)],
        phone=contact(related, "phone"),
        email=contact(related, "email"),
        language=_read_language(related),
        interpreter_needed=_read_interpreter(related, INTERPRETER_NEEDED),
    )


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _interpreter(url: str, needed: bool | None) -> list[dict[str, Any]]:
    return [] if needed is None else [extension(url, valueBoolean=needed)]


def _read_interpreter(resource: Resource, url: str) -> bool | None:
    values = [ext.get("valueBoolean") for ext in extension_values(resource, url)]
    return values[0] if values and isinstance(values[0], bool) else None


def _language(language: str | None) -> list[dict[str, Any]]:
    if not language:
        return []
    return [{"language": {"coding": [{"system": BCP47, "code": language}]}, "preferred": True}]


def _read_language(resource: Resource) -> str | None:
    entries = [entry for entry in resource.get("communication", []) or [] if isinstance(entry, dict)]
    preferred = [entry for entry in entries if entry.get("preferred") is True] or entries
    for entry in preferred:
        for system, code in codes(entry.get("language")):
            if system == BCP47:
                return code
    return None


def _first_name(resource: Resource) -> dict[str, Any]:
    names = [name for name in resource.get("name", []) or [] if isinstance(name, dict)]
    official = [name for name in names if name.get("use") in (None, "official", "usual")]
    return (official or names or [{}])[0]


def telecom(phone: str | None, email: str | None) -> list[dict[str, Any]]:
    entries = []
    if phone:
        entries.append({"system": "phone", "value": phone})
    if email:
        entries.append({"system": "email", "value": email})
    return entries


def contact(resource: Resource, system: str) -> str | None:
    for entry in resource.get("telecom", []) or []:
        if isinstance(entry, dict) and entry.get("system") == system and isinstance(entry.get("value"), str):
            return str(entry["value"])
    return None
