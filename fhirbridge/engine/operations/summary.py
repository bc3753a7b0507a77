"""``Patient/$summary`` and ``Composition/$document``: the child's current plan as one document.

A hospital discharge planner asks for everything about a child in one request. The answer is a FHIR
``document`` Bundle shaped like the International Patient Summary: its first entry is a patient-summary
Composition (LOINC 60591-5) with a LOINC-coded section per part of the plan, each with its entries and a
narrative that says what those entries say: problems, medications, allergies, equipment, the working plan
(goals, and who does what by when), the emergency plan in full, the care team by name and phone, open
referrals, recent hospital stays and, where known, functional status.

Medications, allergies, equipment and hospital stays are read from the resources recorded for them
(MedicationStatement, AllergyIntolerance, Device/DeviceUseStatement, Encounter) when the child has any,
and otherwise from the sections of the record's medical summary (a 60591-5 Composition written by the
care team), whose entries are text. A section with nothing recorded says so, with IPS's ``emptyReason``;
"no known allergies" is said only when it is recorded.

The fixed words (headings, labels) are in the family's language (``labels``); what was recorded is shown
as it was recorded.

This module puts the document together; its sections are in ``summary_sections``, and the record they
read (``ChildRecord``) in ``child_record``.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhirbridge.engine.operations.child_record import (
    LOINC,
    PATIENT_SUMMARY,
    Block,
    ChildRecord,
    Resolver,
    Section,
    human_name,
    reference_to,
)
from fhirbridge.engine.operations.labels import Labels
from fhirbridge.engine.operations.summary_sections import SECTIONS
from fhirbridge.storage.clock import instant
from fhirbridge.storage.contract import Resource

EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
XHTML = "http://www.w3.org/1999/xhtml"


@dataclass(frozen=True)
class DocumentKind:
    """Which document a child's record is summarised as: its LOINC type, title and sections."""

    code: str
    display: str
    title_key: str
    sections: tuple[Section, ...]


PATIENT_SUMMARY_DOCUMENT = DocumentKind(PATIENT_SUMMARY, "Patient summary Document", "summary.title", SECTIONS)


def narrative_of(blocks: list[Block]) -> dict[str, str]:
    parts = []
    for block in blocks:
        if block.label:
            parts.append(f"<p><b>{html.escape(block.label)}</b></p>")
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in block.lines) + "</ul>")
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{"".join(parts)}</div>'}


def narrative(lines: list[str]) -> dict[str, str]:
    return narrative_of([Block(None, lines)])


def patient_summary(
    patient: Resource,
    compartment: list[Resource],
    base_url: str,
    *,
    resolve: Resolver | None = None,
    language: str = "en",
    kind: DocumentKind = PATIENT_SUMMARY_DOCUMENT,
) -> dict[str, Any]:
    """The ``document`` Bundle summarising one child's record (a patient summary, or another ``kind``).

    ``resolve`` reads a referenced resource ("Practitioner/x") under the caller's access, or None when
    it may not be read; only what it returns (and the compartment) goes into the document.
    """
    labels = Labels(language)
    record = ChildRecord(patient, compartment, resolve, labels)
    patient_ref = reference_to(patient)
    now = instant(datetime.now(UTC))
    sections = []
    included: dict[str, Resource] = {patient_ref: patient}
    for spec in kind.sections:
        built = spec.build(record)
        if spec.optional and not built.blocks:
            continue
        section: dict[str, Any] = {
            "title": labels[f"section.{spec.key}"],
            "code": {"coding": [{"system": spec.system, "code": spec.code, "display": spec.display}]},
        }
        if built.entries:
            section["text"] = narrative_of(built.blocks or [Block(None, [labels["empty.unavailable"]])])
            section["entry"] = [{"reference": reference_to(r)} for r in built.entries]
            included.update({reference_to(r): r for r in built.entries})
        else:
            section["text"] = narrative([labels["empty.unavailable"]])
            section["emptyReason"] = {
                "coding": [{"system": EMPTY_REASON, "code": "unavailable", "display": "Unavailable"}]
            }
        sections.append(section)
    included.update(record.referenced)
    name = patient_name(patient)
    title = labels.format(kind.title_key, name=name)
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "language": labels.language,
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": kind.code, "display": kind.display}]},
        "subject": {"reference": patient_ref, "display": name},
        "date": now,
        "author": [{"display": "fhirbridge shared care plan"}],
        "title": title,
        "text": narrative([title, labels.format("summary.prepared", date=now)]),
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
    return human_name(patient) or f"Patient/{patient.get('id')}"


__all__ = [
    "PATIENT_SUMMARY_DOCUMENT",
    "DocumentKind",
    "document_bundle",
    "narrative",
    "patient_name",
    "patient_summary",
]
