"""``Patient/$summary`` and ``Composition/$document``: the child's current plan as one document.

A hospital discharge planner asks for everything about a child in one request. The answer is a FHIR
``document`` Bundle whose first entry is a patient-summary Composition (LOINC 60591-5) with a section
per part of the plan, each with a narrative a person can read: problems, medications, allergies, the
working plan with its goals and action steps, the emergency plan, the care team and open referrals.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhirbridge.engine.referrals import OPEN_STATUSES, is_referral_task
from fhirbridge.storage.clock import instant
from fhirbridge.storage.contract import Resource

LOINC = "http://loinc.org"
SECTION_SYSTEM = "http://fhirbridge.org/fhir/CodeSystem/summary-section"
XHTML = "http://www.w3.org/1999/xhtml"


@dataclass(frozen=True)
class Section:
    title: str
    system: str
    code: str
    display: str
    selects: Callable[[Resource, list[Resource]], bool]


def _type(*names: str) -> Callable[[Resource, list[Resource]], bool]:
    return lambda resource, _: resource["resourceType"] in names


def _is_emergency_plan(resource: Resource, _: list[Resource]) -> bool:
    return resource["resourceType"] == "CarePlan" and bool(resource.get("partOf"))


def _is_working_plan_part(resource: Resource, _: list[Resource]) -> bool:
    kind = resource["resourceType"]
    if kind == "CarePlan":
        return not resource.get("partOf") and resource.get("status") in ("active", "draft", "on-hold")
    if kind == "Goal":
        return resource.get("lifecycleStatus") not in ("cancelled", "entered-in-error", "rejected")
    if kind == "Task":
        return not is_referral_task(resource) and resource.get("status") not in ("cancelled", "entered-in-error")
    return False


def _is_open_referral(resource: Resource, everything: list[Resource]) -> bool:
    if resource["resourceType"] == "Task":
        return is_referral_task(resource) and resource.get("status") in OPEN_STATUSES
    if resource["resourceType"] == "ServiceRequest":
        return resource.get("status") in ("draft", "active", "on-hold")
    return False


SECTIONS = (
    Section("Problems", LOINC, "11450-4", "Problem list - Reported", _type("Condition")),
    Section(
        "Medications",
        LOINC,
        "10160-0",
        "History of Medication use Narrative",
        _type("MedicationStatement", "MedicationRequest"),
    ),
    Section(
        "Allergies and intolerances", LOINC, "48765-2", "Allergies and adverse reactions", _type("AllergyIntolerance")
    ),
    Section("Working care plan", LOINC, "18776-5", "Plan of care note", _is_working_plan_part),
    Section(
        "Emergency treatment plan", SECTION_SYSTEM, "emergency-plan", "Emergency treatment plan", _is_emergency_plan
    ),
    Section("Care team", LOINC, "85847-2", "Patient Care team information", _type("CareTeam")),
    Section("Open referrals", SECTION_SYSTEM, "open-referrals", "Open referrals", _is_open_referral),
)


# Where each kind of resource keeps the words a person knows it by, most telling first.
LABEL_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("description", "text"),
    ("code", "text"),
    ("title",),
    ("name",),
    ("medicationCodeableConcept", "text"),
    ("category", 0, "text"),
    ("description",),
)


def _at(resource: Resource, path: tuple[str | int, ...]) -> Any:
    value: Any = resource
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def describe(resource: Resource) -> str:
    """One line a person can read about a resource."""
    kind = resource["resourceType"]
    label = next((value for path in LABEL_PATHS if isinstance(value := _at(resource, path), str)), None)
    label = label or _first_display(resource) or f"{kind}/{resource.get('id')}"
    status = resource.get("status") or resource.get("lifecycleStatus")
    if not isinstance(status, str):
        status = _at(resource, ("clinicalStatus", "coding", 0, "code"))
    return f"{kind}: {label}" + (f" ({status})" if isinstance(status, str) else "")


def _first_display(resource: Resource) -> str | None:
    for key in ("code", "medicationCodeableConcept", "category"):
        concept = resource.get(key)
        if isinstance(concept, list):
            concept = concept[0] if concept else None
        if isinstance(concept, dict):
            for coding in concept.get("coding") or []:
                if coding.get("display"):
                    return str(coding["display"])
    return None


def narrative(lines: list[str]) -> dict[str, str]:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return {"status": "generated", "div": f'<div xmlns="{XHTML}"><ul>{items}</ul></div>'}


def patient_summary(patient: Resource, compartment: list[Resource], base_url: str) -> dict[str, Any]:
    """The ``document`` Bundle summarising one child's record."""
    patient_ref = f"Patient/{patient['id']}"
    now = instant(datetime.now(UTC))
    sections = []
    included: dict[str, Resource] = {patient_ref: patient}
    for spec in SECTIONS:
        chosen = [resource for resource in compartment if spec.selects(resource, compartment)]
        section: dict[str, Any] = {
            "title": spec.title,
            "code": {"coding": [{"system": spec.system, "code": spec.code, "display": spec.display}]},
        }
        if chosen:
            section["text"] = narrative([describe(resource) for resource in chosen])
            section["entry"] = [{"reference": f"{r['resourceType']}/{r['id']}"} for r in chosen]
            included.update({f"{r['resourceType']}/{r['id']}": r for r in chosen})
        else:
            section["text"] = narrative([f"No {spec.title.lower()} recorded"])
            section["emptyReason"] = {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "unavailable"}]
            }
        sections.append(section)
    name = patient_name(patient)
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": patient_ref, "display": name},
        "date": now,
        "author": [{"display": "fhirbridge shared care plan"}],
        "title": f"Care coordination summary for {name}",
        "text": narrative([f"Care coordination summary for {name}, prepared {now}"]),
        "section": sections,
    }
    return document_bundle(composition, list(included.values()), base_url)


def document_bundle(composition: Resource, resources: list[Resource], base_url: str) -> dict[str, Any]:
    entries = [{"fullUrl": f"{base_url}/Composition/{composition['id']}", "resource": composition}]
    entries += [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": composition.get("date") or instant(datetime.now(UTC)),
        "entry": entries,
    }


def patient_name(patient: Resource) -> str:
    for name in patient.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        if any(parts):
            return " ".join(part for part in parts if part)
    return f"Patient/{patient.get('id')}"


__all__ = ["SECTIONS", "describe", "document_bundle", "narrative", "patient_name", "patient_summary"]
