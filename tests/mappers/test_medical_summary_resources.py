"""The medical summary's medications, allergies, equipment and hospital stays as resources about the child."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from fhirbridge.domain import Record
from fhirbridge.domain.people import Child
from fhirbridge.domain.plan import MedicalSummary
from fhirbridge.mappers import record_from_resources, record_to_bundle, record_to_resources

WRITTEN = datetime(2025, 5, 14, 17, 0, tzinfo=UTC)


def _record(**lists: Any) -> Record:
    return Record(
        child=Child(id="noor", given_names=["Noor"], family_name="Haddad"),
        medical_summary=MedicalSummary(id="noor-summary", written_at=WRITTEN, **lists),
    )


def _by_key(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def _sections(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    composition = _by_key(resources)["Composition/noor-summary"]
    return {s["code"]["coding"][0]["code"]: s for s in composition["section"]}


NOOR = _record(
    medications=["Levetiracetam 250 mg twice daily", "Baclofen 10 mg three times daily"],
    allergies=["Latex", "Penicillin (rash)"],
    equipment=["Enteral feeding pump"],
    hospitalizations=["Children's Hospital, April 2025: aspiration pneumonia"],
)


def test_each_entry_is_a_resource_about_the_child_with_the_text_as_recorded() -> None:
    written = _by_key(record_to_resources(NOOR))
    child = {"reference": "Patient/noor"}
    medication = written["MedicationRequest/noor-summary-med-2"]
    assert medication["status"] == "active" and medication["intent"] == "order"
    assert medication["reportedBoolean"] is True
    assert medication["medicationCodeableConcept"] == {"text": "Baclofen 10 mg three times daily"}
    assert medication["subject"] == child
    assert written["AllergyIntolerance/noor-summary-allergy-2"]["code"] == {"text": "Penicillin (rash)"}
    assert written["AllergyIntolerance/noor-summary-allergy-2"]["patient"] == child
    device = written["Device/noor-summary-device-1"]
    assert device["type"] == {"text": "Enteral feeding pump"} and device["patient"] == child
    assert device["deviceName"] == [{"name": "Enteral feeding pump", "type": "user-friendly-name"}]
    stay = written["Encounter/noor-summary-stay-1"]
    assert stay["class"]["code"] == "IMP" and stay["status"] == "finished" and stay["subject"] == child
    assert stay["reasonCode"] == [{"text": "Children's Hospital, April 2025: aspiration pneumonia"}]


def test_a_text_the_code_table_knows_exactly_is_coded_and_keeps_its_text() -> None:
    written = _by_key(record_to_resources(NOOR))
    assert written["AllergyIntolerance/noor-summary-allergy-1"]["code"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "111088007", "display": "Latex (substance)"}],
        "text": "Latex",
    }


def test_the_composition_sections_refer_to_the_entries_resources() -> None:
    sections = _sections(record_to_resources(NOOR))
    assert sections["10160-0"]["entry"] == [
        {"reference": "MedicationRequest/noor-summary-med-1", "display": "Levetiracetam 250 mg twice daily"},
        {"reference": "MedicationRequest/noor-summary-med-2", "display": "Baclofen 10 mg three times daily"},
    ]
    assert [e["reference"] for e in sections["48765-2"]["entry"]] == [
        "AllergyIntolerance/noor-summary-allergy-1",
        "AllergyIntolerance/noor-summary-allergy-2",
    ]
    assert sections["46264-8"]["entry"][0]["reference"] == "Device/noor-summary-device-1"
    assert sections["46240-8"]["entry"][0]["reference"] == "Encounter/noor-summary-stay-1"


def test_every_resource_written_is_valid_r4() -> None:
    for resource in record_to_resources(NOOR):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_the_summary_comes_back_exactly_with_and_without_its_entries_resources() -> None:
    assert record_from_resources(record_to_bundle(NOOR)).record == NOOR
    # A partner that keeps only the Composition: the sections' displays still say what was recorded.
    only_composition = [r for r in record_to_resources(NOOR) if r["resourceType"] in ("Patient", "Composition")]
    assert record_from_resources(only_composition).record.medical_summary == NOOR.medical_summary


def test_a_resource_referred_to_is_read_as_its_code_text_else_its_first_display() -> None:
    resources = record_to_resources(NOOR)
    by_key = _by_key(resources)
    by_key["MedicationRequest/noor-summary-med-1"]["medicationCodeableConcept"] = {"text": "Keppra 250 mg"}
    by_key["AllergyIntolerance/noor-summary-allergy-2"]["code"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Penicillin allergy"}]
    }
    summary = record_from_resources(resources).record.medical_summary
    assert summary is not None
    assert summary.medications == ["Keppra 250 mg", "Baclofen 10 mg three times daily"]
    assert summary.allergies == ["Latex", "Penicillin allergy"]
    assert summary.fhir_entry_ids == {}


PARTNER_MEDICATION = {
    "resourceType": "MedicationRequest",
    "id": "keppra",
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {"text": "Levetiracetam oral solution"},
    "subject": {"reference": "Patient/noor"},
    "dosageInstruction": [{"text": "250 mg twice daily"}],
}


def test_a_partners_resource_no_section_refers_to_comes_into_the_summary_and_writes_back_under_its_id() -> None:
    result = record_from_resources([*record_to_resources(NOOR), PARTNER_MEDICATION])
    summary = result.record.medical_summary
    assert summary is not None
    assert summary.medications == [*NOOR.medical_summary.medications, "Levetiracetam oral solution"]  # type: ignore[union-attr]
    assert summary.fhir_entry_ids == {"medications": {"Levetiracetam oral solution": "keppra"}}
    assert result.record.fhir_other_resources == []
    assert "MedicationRequest/keppra" in result.parts["medical_summary"]
    written = _by_key(record_to_resources(result.record))
    assert written["MedicationRequest/keppra"]["dosageInstruction"] == [{"text": "250 mg twice daily"}]
    assert "MedicationRequest/noor-summary-med-3" not in written
    again = record_from_resources(list(written.values())).record
    assert again == result.record
    # The partner's Composition goes back as it came until the coordinator changes the summary.
    result.record.medical_summary.medications.append("Vitamin D 400 IU daily")  # type: ignore[union-attr]
    changed = record_to_resources(result.record)
    assert [e["reference"] for e in _sections(changed)["10160-0"]["entry"]] == [
        "MedicationRequest/noor-summary-med-1",
        "MedicationRequest/noor-summary-med-2",
        "MedicationRequest/keppra",
        "MedicationRequest/noor-summary-med-4",
    ]


def test_past_refuted_outpatient_or_other_patients_entries_are_kept_as_they_came() -> None:
    stopped = {**PARTNER_MEDICATION, "id": "old", "status": "stopped"}
    refuted = {
        "resourceType": "AllergyIntolerance",
        "id": "refuted",
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": "refuted",
                }
            ]
        },
        "code": {"text": "Peanut"},
        "patient": {"reference": "Patient/noor"},
    }
    visit = {
        "resourceType": "Encounter",
        "id": "visit",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/noor"},
        "reasonCode": [{"text": "Well-child visit"}],
    }
    unassigned = {"resourceType": "Device", "id": "pump", "type": {"text": "Spare pump"}}
    extras = [stopped, refuted, visit, unassigned]
    result = record_from_resources([*record_to_resources(NOOR), *extras])
    assert result.record.medical_summary == NOOR.medical_summary
    assert sorted(result.record.fhir_other_resources, key=str) == sorted(extras, key=str)
    assert {entry.resource for entry in result.report} >= {
        "MedicationRequest/old",
        "AllergyIntolerance/refuted",
        "Encounter/visit",
        "Device/pump",
    }


def test_without_a_medical_summary_a_partners_medications_are_kept_as_they_came() -> None:
    child = [r for r in record_to_resources(NOOR) if r["resourceType"] == "Patient"]
    result = record_from_resources([*child, PARTNER_MEDICATION])
    assert result.record.medical_summary is None
    assert result.record.fhir_other_resources == [PARTNER_MEDICATION]
