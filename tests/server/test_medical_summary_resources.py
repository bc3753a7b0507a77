"""Jordan's medications, allergy, equipment and hospital stay are resources partners search by patient."""

from __future__ import annotations

from typing import Any

import httpx


def _found(demo: httpx.Client, resource_type: str) -> list[dict[str, Any]]:
    response = demo.get(f"/{resource_type}", params={"patient": "jordan"})
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


def _sections(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    composition = document["entry"][0]["resource"]
    return {s["code"]["coding"][0]["code"]: s for s in composition["section"]}


def test_jordans_medications_are_medication_requests_reported_from_his_summary(demo: httpx.Client) -> None:
    medications = _found(demo, "MedicationRequest")
    names = sorted(m["medicationCodeableConcept"]["text"] for m in medications)
    assert names == [
        "Baclofen 10 mg via G-tube three times daily",
        "Diazepam rectal gel 10 mg for seizures over 5 minutes",
        "Levetiracetam 250 mg via G-tube twice daily",
    ]
    assert all(m["reportedBoolean"] is True and m["status"] == "active" for m in medications)


def test_jordans_latex_allergy_equipment_and_hospital_stay_are_found_by_patient(demo: httpx.Client) -> None:
    assert [a["code"]["text"] for a in _found(demo, "AllergyIntolerance")] == ["Latex (hives)"]
    assert "Enteral feeding pump and bags" in [d["type"]["text"] for d in _found(demo, "Device")]
    stays = [e["reasonCode"][0]["text"] for e in _found(demo, "Encounter")]
    assert stays == ["Children's Hospital, 28 April to 3 May 2025: aspiration pneumonia"]


def test_jordans_summary_sections_refer_to_those_resources(demo: httpx.Client) -> None:
    sections = _sections(demo.get("/Patient/jordan/$summary").json())
    assert sorted(e["reference"] for e in sections["10160-0"]["entry"]) == [
        "MedicationRequest/jordan-summary-med-1",
        "MedicationRequest/jordan-summary-med-2",
        "MedicationRequest/jordan-summary-med-3",
    ]
    assert sections["48765-2"]["entry"] == [{"reference": "AllergyIntolerance/jordan-summary-allergy-1"}]
    assert "Levetiracetam 250 mg via G-tube twice daily" in sections["10160-0"]["text"]["div"]
    assert "Latex (hives)" in sections["48765-2"]["text"]["div"]
    assert "aspiration pneumonia" in sections["46240-8"]["text"]["div"]


def test_a_partners_medication_joins_jordans_record(demo: httpx.Client) -> None:
    response = demo.put(
        "/MedicationRequest/jordan-keppra",
        json={
            "resourceType": "MedicationRequest",
            "id": "jordan-keppra",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Levetiracetam oral solution"},
            "subject": {"reference": "Patient/jordan"},
        },
    )
    assert response.status_code in (200, 201), response.text
    record = demo.get("/coordination/children/jordan")
    assert record.status_code == 200, record.text
    assert "Levetiracetam oral solution" in record.json()["medical_summary"]["medications"]


def test_a_medication_taken_off_the_summary_is_gone_for_good(demo: httpx.Client) -> None:
    """Its resource is deleted with the write: left active, it would be read back onto the list (and the
    emergency sheet) as if still taken."""
    summary = demo.get("/coordination/children/jordan/medical_summary")
    assert summary.status_code == 200, summary.text
    changed = summary.json()
    stopped = changed["medications"].pop()
    written = demo.put(
        "/coordination/children/jordan/medical_summary",
        json=changed,
        headers={"Content-Type": "application/json", "If-Match": summary.headers["ETag"]},
    )
    assert written.status_code == 200, written.text
    assert demo.get("/coordination/children/jordan/medical_summary").json()["medications"] == changed["medications"]
    texts = [m["medicationCodeableConcept"]["text"] for m in _found(demo, "MedicationRequest")]
    assert stopped not in texts and len(texts) == len(changed["medications"])
    document = demo.get("/Patient/jordan/$summary").json()
    assert stopped not in _sections(document)["10160-0"]["text"]["div"]
