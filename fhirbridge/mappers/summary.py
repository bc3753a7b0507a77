"""The medical summary (Composition, LOINC 60591-5 patient summary): diagnoses, medications, allergies,
equipment, hospital stays, and the plans of care.

Each medication, allergy, piece of equipment and hospital stay is also a resource about the child of its
own (MedicationRequest, AllergyIntolerance, Device, Encounter), which the Composition's sections refer to:
partners search them by patient, and send their own, which come into the summary's lists as their text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.domain.plan import MedicalSummary
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    Resource,
    clean,
    codeable,
    coding,
    first_code,
    instant_text,
    narrative,
    parse_instant,
    resource_id,
    text_of,
)

__all__ = [
    "ENTRY_TYPES",
    "Entries",
    "entry_id",
    "entry_text",
    "is_current_entry",
    "is_medical_summary",
    "medical_summary_from_fhir",
    "medical_summary_to_fhir",
    "own_entries",
    "summary_entries",
]

LOINC = "http://loinc.org"
PATIENT_SUMMARY = "60591-5"
_SECTIONS = {
    "medications": ("10160-0", "History of Medication use Narrative", "Medications"),
    "allergies": ("48765-2", "Allergies and adverse reactions Document", "Allergies"),
    "equipment": ("46264-8", "History of medical device use", "Equipment and supplies"),
    "hospitalizations": (
        "46240-8",
        "History of Hospitalizations+Outpatient visits Narrative",
        "Hospital stays",
    ),
}
ENTRY_TYPES = {
    "medications": "MedicationRequest",
    "allergies": "AllergyIntolerance",
    "equipment": "Device",
    "hospitalizations": "Encounter",
}
"""The resource each entry of a list is written as (and read from)."""
_ID_PARTS = {"medications": "med", "allergies": "allergy", "equipment": "device", "hospitalizations": "stay"}
SNOMED = "http://snomed.info/sct"
_KNOWN_CODES: dict[str, dict[str, tuple[str, str, str]]] = {
    # Coded only when the recorded text is exactly one of these; the text is kept either way.
    "allergies": {"Latex": (SNOMED, "111088007", "Latex (substance)")},
}
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_INPATIENT = ("IMP", "ACUTE", "NONAC")
PROBLEMS = ("11450-4", "Problem list - Reported", "Diagnoses")
PLAN_OF_CARE = ("18776-5", "Plan of care note", "Plan of care")


def is_medical_summary(resource: Resource) -> bool:
    """A patient summary with an exact date; others have no place as the record's medical summary."""
    return (
        first_code(resource.get("type"), LOINC) == PATIENT_SUMMARY and parse_instant(resource.get("date")) is not None
    )


def _section(code: tuple[str, str, str], entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not entries:
        return None
    return {"title": code[2], "code": codeable(LOINC, code[0], code[1]), "entry": entries}


def entry_id(composition_id: str, name: str, index: int) -> str:
    """The id fhirbridge gives the resource of a list's entry: ``<summary>-med-1`` and so on."""
    suffix = f"-{_ID_PARTS[name]}-{index + 1}"
    return composition_id[: 64 - len(suffix)] + suffix


def own_entries(summary_id: str, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` (``Type/id``) that are resources fhirbridge derived for the entries of the medical
    summary ``summary_id`` (``entry_id``): when the record no longer writes one, its entry was removed."""
    found = set()
    for key in keys:
        resource_type, _, id = key.partition("/")
        for name in _ID_PARTS:
            prefix = entry_id(summary_id, name, 0).rsplit("-", 1)[0] + "-"
            if ENTRY_TYPES[name] == resource_type and id.startswith(prefix) and id[len(prefix) :].isdigit():
                found.add(key)
    return found


def _entry_ids(summary: MedicalSummary, name: str) -> list[str]:
    known = summary.fhir_entry_ids.get(name, {})
    seen: set[str] = set()
    found = []
    for index, item in enumerate(getattr(summary, name)):
        partner = known.get(item) if item not in seen else None
        seen.add(item)
        found.append(partner or entry_id(resource_id(summary), name, index))
    return found


def _concept(name: str, text: str) -> dict[str, Any]:
    code = _KNOWN_CODES.get(name, {}).get(text)
    return {"coding": [coding(*code)] if code else [], "text": text}


def _entry_resource(name: str, resource_type: str, entry: str, text: str, links: Links) -> Resource:
    child = links.patient()
    shown = narrative(
        {
            "medications": "Medication",
            "allergies": "Allergy",
            "equipment": "Equipment",
            "hospitalizations": "Hospital stay",
        }[name],
        [("As recorded", text)],
    )
    common = {"resourceType": resource_type, "id": entry, "text": shown}
    if name == "medications":
        body: dict[str, Any] = {
            "status": "active",
            "intent": "order",
            "reportedBoolean": True,
            "medicationCodeableConcept": _concept(name, text),
            "subject": child,
        }
    elif name == "allergies":
        body = {
            "clinicalStatus": codeable(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
            ),
            "code": _concept(name, text),
            "patient": child,
        }
    elif name == "equipment":
        body = {
            "status": "active",
            "deviceName": [{"name": text, "type": "user-friendly-name"}],
            "type": _concept(name, text),
            "patient": child,
        }
    else:
        body = {
            "status": "finished",
            "class": coding(ACT_CODE, "IMP", "inpatient encounter"),
            "subject": child,
            "reasonCode": [_concept(name, text)],
        }
    return clean({**common, **body})


def entry_text(resource: Resource) -> str | None:
    """What an entry's resource records: its code's text, else the first coding's display (or code)."""
    kind = resource.get("resourceType")
    if kind == "MedicationRequest":
        return text_of(resource.get("medicationCodeableConcept")) or _display(resource.get("medicationReference"))
    if kind == "AllergyIntolerance":
        return text_of(resource.get("code"))
    if kind == "Device":
        names = [
            n["name"]
            for n in resource.get("deviceName", []) or []
            if isinstance(n, dict) and isinstance(n.get("name"), str)
        ]
        return text_of(resource.get("type")) or (names[0] if names else None)
    if kind == "Encounter":
        reasons = resource.get("reasonCode", []) or []
        types = resource.get("type", []) or []
        return text_of(reasons[0] if reasons else None) or text_of(types[0] if types else None)
    return None


def _display(ref: Any) -> str | None:
    return ref["display"] if isinstance(ref, dict) and isinstance(ref.get("display"), str) else None


def is_current_entry(resource: Resource) -> bool:
    """Whether a resource no summary refers to belongs on the child's summary: a current medication, an
    allergy neither refuted nor resolved, a device in use, a hospital stay (an inpatient Encounter)."""
    kind = resource.get("resourceType")
    if kind == "MedicationRequest":
        return resource.get("status") in ("active", "on-hold", "unknown")
    if kind == "AllergyIntolerance":
        verification = first_code(
            resource.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
        )
        clinical = first_code(
            resource.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
        )
        return verification not in ("refuted", "entered-in-error") and clinical not in ("inactive", "resolved")
    if kind == "Device":
        return resource.get("status") in (None, "active")
    if kind == "Encounter":
        encounter_class = resource.get("class")
        return (
            isinstance(encounter_class, dict)
            and encounter_class.get("code") in _INPATIENT
            and resource.get("status") not in ("cancelled", "entered-in-error")
        )
    return False


def medical_summary_to_fhir(summary: MedicalSummary, links: Links) -> list[Resource]:
    """The Composition, then the resource of each entry of its lists."""
    record = links.record
    ids = {name: _entry_ids(summary, name) for name in _SECTIONS}
    author = links.ref(summary.author_id) or {"display": "The child's care team"}
    composition = clean(
        {
            "resourceType": "Composition",
            "id": resource_id(summary),
            "text": narrative(
                f"Medical summary for {record.child.display_name}",
                [
                    ("Diagnoses", [d.description for d in record.diagnoses]),
                    ("Medications", summary.medications),
                    ("Allergies", summary.allergies),
                    ("Equipment and supplies", summary.equipment),
                    ("Hospital stays", summary.hospitalizations),
                    ("Written", summary.written_at),
                ],
            ),
            "status": "final",
            "type": codeable(LOINC, PATIENT_SUMMARY, "Patient summary Document"),
            "subject": links.patient(),
            "date": instant_text(summary.written_at),
            "author": [author],
            "title": "Medical summary",
            "section": [
                _section(PROBLEMS, links.refs([d.id for d in record.diagnoses])),
                *(
                    _section(
                        code,
                        [
                            {"reference": f"{ENTRY_TYPES[name]}/{entry}", "display": item}
                            for item, entry in zip(getattr(summary, name), ids[name], strict=True)
                        ],
                    )
                    for name, code in _SECTIONS.items()
                ),
                _section(PLAN_OF_CARE, links.refs([plan.id for plan in record.care_plans])),
            ],
        }
    )
    return [
        composition,
        *(
            _entry_resource(name, ENTRY_TYPES[name], entry, item, links)
            for name in _SECTIONS
            for item, entry in zip(getattr(summary, name), ids[name], strict=True)
        ),
    ]


@dataclass
class Entries:
    """The summary's lists as read from its sections and the resources of their entries."""

    lists: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in _SECTIONS})
    partner_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    read: list[Resource] = field(default_factory=list)
    """The entries' resources read into the lists."""

    def add(self, name: str, text: str, composition_id: str, resource: Resource | None = None) -> None:
        items = self.lists[name]
        first = text not in items
        items.append(text)
        if resource is None:
            return
        self.read.append(resource)
        if first and resource["id"] != entry_id(composition_id, name, len(items) - 1):
            self.partner_ids.setdefault(name, {})[text] = resource["id"]


def summary_entries(
    composition: Resource, reader: Reader, resources: dict[str, Resource], composition_id: str
) -> Entries:
    """Each section's entries (the text of the resource referred to, else the entry's display), then the
    current resources about the child (``resources``, by ``"Type/id"``) no section refers to."""
    found = Entries()
    used: set[str] = set()
    for section in composition.get("section", []) or []:
        code = first_code(section.get("code"), LOINC) if isinstance(section, dict) else None
        for name, (loinc, _, _) in _SECTIONS.items():
            if code != loinc:
                continue
            for entry in section.get("entry", []) or []:
                if not isinstance(entry, dict):
                    continue
                key = reader.key(entry)
                resource = resources.get(key) if key and key not in used else None
                text = entry_text(resource) if resource and resource["resourceType"] == ENTRY_TYPES[name] else None
                if resource is not None and text is not None and key is not None:
                    used.add(key)
                    found.add(name, text, composition_id, resource)
                elif isinstance(entry.get("display"), str):
                    found.add(name, entry["display"], composition_id)
    names = {resource_type: name for name, resource_type in ENTRY_TYPES.items()}
    for key, resource in resources.items():
        text = entry_text(resource)
        if key not in used and text is not None and is_current_entry(resource):
            found.add(names[resource["resourceType"]], text, composition_id, resource)
    return found


def medical_summary_from_fhir(resource: Resource, reader: Reader, entries: Entries | None = None) -> MedicalSummary:
    """``entries`` as ``summary_entries`` reads them; without, the lists are the sections' displays."""
    found = entries or summary_entries(resource, reader, {}, resource["id"])
    authors = [ref for ref in resource.get("author", []) or [] if isinstance(ref, dict) and "reference" in ref]
    return MedicalSummary(
        id=resource["id"],
        written_at=parse_instant(resource.get("date")),  # type: ignore[arg-type]
        author_id=reader.resolve(authors[0], "author[0]", "team member") if authors else None,
        medications=found.lists["medications"],
        allergies=found.lists["allergies"],
        equipment=found.lists["equipment"],
        hospitalizations=found.lists["hospitalizations"],
        fhir_entry_ids=found.partner_ids,
    )
