"""The summary a discharge planner pulls and a family prints, over the demo children's records.

Jordan's medical summary lists three medicines and a latex allergy, his emergency plan three likely
emergencies, what to avoid and whom to call; Mateo's family reads Spanish.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.validation import validate_resource
from tests.server.demo_sheets import JORDAN_EMERGENCY, JORDAN_TEAM


def sections(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    composition = document["entry"][0]["resource"]
    return {s["code"]["coding"][0]["code"]: s for s in composition["section"]}


def test_jordans_medications_and_allergies_come_from_his_medical_summary(demo: httpx.Client) -> None:
    by_code = sections(demo.get("/Patient/jordan/$summary").json())
    medications, allergies = by_code["10160-0"], by_code["48765-2"]
    for medicine in ("Levetiracetam", "Baclofen", "Diazepam rectal gel"):
        assert medicine in medications["text"]["div"]
    assert "Latex (hives)" in allergies["text"]["div"]
    assert "emptyReason" not in medications and "emptyReason" not in allergies
    # The medical summary's entries are resources of their own (mappers/summary.py), each a section entry.
    assert medications["entry"] == [{"reference": f"MedicationRequest/jordan-summary-med-{n}"} for n in (1, 2, 3)]
    assert allergies["entry"] == [{"reference": "AllergyIntolerance/jordan-summary-allergy-1"}]
    assert "Enteral feeding pump and bags" in by_code["46264-8"]["text"]["div"]
    assert "aspiration pneumonia" in by_code["46240-8"]["text"]["div"]


def test_jordans_emergency_plan_is_there_in_full(demo: httpx.Client) -> None:
    emergency = sections(demo.get("/Patient/jordan/$summary").json())["emergency-plan"]
    for item in JORDAN_EMERGENCY:
        assert item in emergency["text"]["div"]
    assert emergency["entry"] == [{"reference": "CarePlan/jordan-emergency"}]


def test_the_care_team_by_name_role_organization_and_phone(demo: httpx.Client) -> None:
    document = demo.get("/Patient/jordan/$summary").json()
    team = sections(document)["85847-2"]["text"]["div"]
    for member in JORDAN_TEAM:
        assert member in team
    included = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in document["entry"]}
    assert {
        "Practitioner/jordan-coordinator",
        "Organization/jordan-riverside",
        "RelatedPerson/jordan-mother",
    } <= included


def test_action_steps_say_who_does_what_by_when(demo: httpx.Client) -> None:
    by_code = sections(demo.get("/Patient/jordan/$summary").json())
    plan = by_code["18776-5"]["text"]["div"]
    assert "Send the seizure action plan and feeding orders to the school nurse — Dana Whitfield, due " in plan
    assert "Jordan has a fitted power wheelchair before the new school year (measured by " in plan
    referrals = by_code["open-referrals"]["text"]["div"]
    assert "Wheelchair seating and mobility evaluation to Children&#x27;s Hospital Seating and Mobility Clinic" in (
        referrals
    )
    assert "In-home respite care to Bright Path Home Health (requested" in referrals
    for div in (plan, referrals):
        assert "Fulfill the focal request" not in div


def test_nothing_recorded_is_said_as_no_information_never_as_none(client: httpx.Client) -> None:
    client.put("/Patient/bare", json={"resourceType": "Patient", "id": "bare", "name": [{"family": "Bare"}]})
    by_code = sections(client.get("/Patient/bare/$summary").json())
    for code in ("10160-0", "48765-2", "46264-8"):
        assert by_code[code]["emptyReason"]["coding"][0]["code"] == "unavailable"
        assert "No information available" in by_code[code]["text"]["div"]
        assert "No known" not in by_code[code]["text"]["div"]


def test_no_known_allergies_only_when_recorded(client: httpx.Client) -> None:
    client.put("/Patient/nka", json={"resourceType": "Patient", "id": "nka"})
    client.put(
        "/AllergyIntolerance/nka-1",
        json={
            "resourceType": "AllergyIntolerance",
            "id": "nka-1",
            "code": {
                "coding": [{"system": "http://snomed.info/sct", "code": "716186003", "display": "No known allergy"}]
            },
            "patient": {"reference": "Patient/nka"},
        },
    )
    allergies = sections(client.get("/Patient/nka/$summary").json())["48765-2"]
    assert "No known allergies" in allergies["text"]["div"] and "emptyReason" not in allergies
    assert allergies["entry"] == [{"reference": "AllergyIntolerance/nka-1"}]


def test_recorded_resources_are_read_before_the_summary_text(demo: httpx.Client) -> None:
    # MedicationStatement is read the same way once the search index knows its ``subject`` (not yet).
    response = demo.put(
        "/MedicationRequest/jordan-keppra",
        json={
            "resourceType": "MedicationRequest",
            "id": "jordan-keppra",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Levetiracetam oral solution"},
            "subject": {"reference": "Patient/jordan"},
            "dosageInstruction": [{"text": "250 mg twice daily"}],
        },
    )
    assert response.status_code in (200, 201), response.text
    document = demo.get("/Patient/jordan/$summary").json()
    medications = sections(document)["10160-0"]
    references = [entry["reference"] for entry in medications["entry"]]
    assert "MedicationRequest/jordan-keppra" in references and len(references) == 4
    assert "Levetiracetam oral solution: 250 mg twice daily" in sections(document)["emergency-plan"]["text"]["div"]
    assert "Levetiracetam oral solution: 250 mg twice daily" in medications["text"]["div"]


def test_mateos_summary_is_in_his_familys_language_unless_asked_otherwise(demo: httpx.Client) -> None:
    spanish = demo.get("/Patient/mateo/$summary").json()
    assert spanish["entry"][0]["resource"]["language"] == "es"
    titles = {s["title"] for s in spanish["entry"][0]["resource"]["section"]}
    assert {"Plan de tratamiento de emergencia", "Medicamentos", "Equipo de cuidados"} <= titles
    english = demo.get("/Patient/mateo/$summary", headers={"Accept-Language": "en-US,en;q=0.8"}).json()
    assert "Emergency treatment plan" in {s["title"] for s in english["entry"][0]["resource"]["section"]}
    jordan = demo.get("/Patient/jordan/$summary", headers={"Accept-Language": "es-MX, en;q=0.5"}).json()
    assert jordan["entry"][0]["resource"]["language"] == "es"


@pytest.mark.parametrize("child", ["mateo", "jordan", "aisha"])
def test_every_demo_summary_is_a_valid_document_bundle(demo: httpx.Client, child: str) -> None:
    document = demo.get(f"/Patient/{child}/$summary").json()
    errors = [
        f"{issue.expression}: {issue.diagnostics}"
        for issue in validate_resource(document)
        if issue.severity in ("error", "fatal")
    ]
    assert errors == []


def test_the_printable_page_sets_its_own_policy_allowing_only_its_style(demo: httpx.Client) -> None:
    page = demo.get("/Patient/jordan/$summary", params={"_format": "html"})
    policy = page.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'") and "frame-ancestors 'none'" in policy
    assert "style-src 'sha256-" in policy and "script-src" not in policy and "unsafe-inline" not in policy
    assert len(page.headers.get_list("content-security-policy")) == 1
    other = demo.get("/Patient/jordan")
    assert other.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
