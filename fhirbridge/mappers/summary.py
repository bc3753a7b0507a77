"""The medical summary (Composition, LOINC 60591-5 patient summary): diagnoses, medications, allergies,
equipment, hospital stays, and the plans of care."""

from __future__ import annotations

from typing import Any

from fhirbridge.domain.plan import MedicalSummary
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    Resource,
    clean,
    codeable,
    first_code,
    instant_text,
    narrative,
    parse_instant,
    resource_id,
)

__all__ = ["is_medical_summary", "medical_summary_from_fhir", "medical_summary_to_fhir"]

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
PROBLEMS = ("11450-4", "Problem list - Reported", "Diagnoses")
PLAN_OF_CARE = ("18776-5", "Plan of care note", "Plan of care")


def is_medical_summary(resource: Resource) -> bool:
    """A patient summary with an exact date; others have no place as the record's medical summary."""
    return (
        first_code(resource.get("type"), LOINC) == PATIENT_SUMMARY
        and parse_instant(resource.get("date")) is not None
    )


def _section(code: tuple[str, str, str], entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not entries:
        return None
    return {"title": code[2], "code": codeable(LOINC, code[0], code[1]), "entry": entries}


def medical_summary_to_fhir(summary: MedicalSummary, links: Links) -> Resource:
    record = links.record
    author = links.ref(summary.author_id) or {"display": "The child's care team"}
    return clean(
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
                    _section(code, [{"display": item} for item in getattr(summary, name)])
                    for name, code in _SECTIONS.items()
                ),
                _section(PLAN_OF_CARE, links.refs([plan.id for plan in record.care_plans])),
            ],
        }
    )


def medical_summary_from_fhir(resource: Resource, reader: Reader) -> MedicalSummary:
    lists: dict[str, list[str]] = {name: [] for name in _SECTIONS}
    for section in resource.get("section", []) or []:
        code = first_code(section.get("code"), LOINC) if isinstance(section, dict) else None
        for name, (loinc, _, _) in _SECTIONS.items():
            if code == loinc:
                lists[name] = [
                    entry["display"]
                    for entry in section.get("entry", []) or []
                    if isinstance(entry, dict) and isinstance(entry.get("display"), str)
                ]
    authors = [
        ref for ref in resource.get("author", []) or [] if isinstance(ref, dict) and "reference" in ref
    ]
    return MedicalSummary(
        id=resource["id"],
        written_at=parse_instant(resource.get("date")),  # type: ignore[arg-type]
        author_id=reader.resolve(authors[0], "author[0]", "team member") if authors else None,
        medications=lists["medications"],
        allergies=lists["allergies"],
        equipment=lists["equipment"],
        hospitalizations=lists["hospitalizations"],
    )
