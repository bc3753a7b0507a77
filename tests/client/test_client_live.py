"""The FHIR client against a real fhirbridge server over loopback HTTP, on both storage backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.goal import Goal

from fhirbridge.client import (
    FhirClient,
    InvalidResource,
    ResourceGone,
    ResourceNotFound,
    RetryPolicy,
    VersionConflict,
)
from tests.conftest import LiveServer
from tests.factories import goal, new_patient


@pytest.fixture
def fhir(live: LiveServer) -> Iterator[FhirClient]:
    with FhirClient(live.url, retry=RetryPolicy(total=1, backoff_factor=0), timeout=60) as client:
        yield client


MRN = {"system": "https://medical-home.example.org/mrn", "value": "MRN-1042"}


def test_create_then_read_and_vread(fhir: FhirClient) -> None:
    created = fhir.create(new_patient())
    assert created["meta"]["versionId"] == "1"
    assert fhir.read("Patient", created["id"])["name"][0]["family"] == "Rivera"
    assert fhir.vread("Patient", created["id"], 1)["birthDate"] == "2019-04-02"


def test_decimals_keep_their_text_through_the_server(fhir: FhirClient) -> None:
    patient = fhir.create(new_patient())
    stored = fhir.read(
        "Goal", fhir.create(goal(child=patient["id"], target=[{"detailQuantity": {"value": 10.0, "unit": "m"}}]))["id"]
    )
    assert stored["target"][0]["detailQuantity"]["value"].source == "10.0"


def test_model_classes_in_and_out(fhir: FhirClient) -> None:
    patient = fhir.create(new_patient())
    created = fhir.create(Goal.model_validate(goal(child=patient["id"], description_text="Walks 10 m with walker")))
    assert isinstance(created, Goal)
    assert created.id is not None
    read = fhir.read(Goal, created.id)
    assert isinstance(read, Goal)
    assert read.description.text == "Walks 10 m with walker"


def test_update_with_if_match_wins_once(fhir: FhirClient) -> None:
    patient = fhir.create(new_patient())
    plan = fhir.create(
        {
            "resourceType": "CarePlan",
            "status": "draft",
            "intent": "plan",
            "subject": {"reference": f"Patient/{patient['id']}"},
        }
    )
    first = fhir.update({**plan, "status": "active"}, if_match=plan["meta"]["versionId"])
    assert first["meta"]["versionId"] == "2"
    with pytest.raises(VersionConflict) as caught:
        fhir.update({**plan, "status": "revoked"}, if_match=plan["meta"]["versionId"])
    assert caught.value.status == 412
    assert caught.value.outcome is not None
    assert fhir.read(CarePlan, plan["id"]).status == "active"


def test_delete_then_read_is_gone(fhir: FhirClient) -> None:
    patient = fhir.create(new_patient())
    fhir.delete("Patient", patient["id"])
    with pytest.raises(ResourceGone):
        fhir.read("Patient", patient["id"])
    with pytest.raises(ResourceNotFound):
        fhir.read("Patient", "never-was")


def test_invalid_resource_carries_the_element_in_the_outcome(fhir: FhirClient) -> None:
    with pytest.raises(InvalidResource) as caught:
        fhir.create({"resourceType": "Patient", "birthDate": "yesterday"})
    assert caught.value.status == 422
    assert caught.value.outcome is not None
    assert caught.value.outcome["issue"][0]["expression"] == ["Patient.birthDate"]


def test_history_since_pages_through_every_version(fhir: FhirClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    patient = fhir.create(new_patient(gender="female"))
    for n in range(3):
        fhir.update({**patient, "gender": ["male", "other", "unknown"][n]})
    entries = list(fhir.history("Patient", patient["id"], since=before))
    assert [entry["resource"]["meta"]["versionId"] for entry in entries] == ["4", "3", "2", "1"]
    assert len(list(fhir.history("Patient", since=before))) == 4


def test_capabilities(fhir: FhirClient) -> None:
    assert fhir.capabilities()["fhirVersion"] == "4.0.1"


def test_search_by_patient_follows_every_page(fhir: FhirClient) -> None:
    patient = fhir.create(new_patient())
    other = fhir.create(new_patient())
    for n in range(5):
        fhir.create(goal(child=patient["id"], description_text=f"goal {n}"))
    fhir.create(goal(child=other["id"], description_text="not this child's"))
    found = list(fhir.search("Goal", {"patient": f"Patient/{patient['id']}", "_count": "2"}))
    assert sorted(g["description"]["text"] for g in found) == [f"goal {n}" for n in range(5)]


def test_conditional_update_by_identifier_creates_then_updates(fhir: FhirClient) -> None:
    criteria = {"identifier": "https://medical-home.example.org/mrn|MRN-1042"}
    created = fhir.conditional_update("Patient", criteria, new_patient(identifier=[MRN]))
    updated = fhir.conditional_update("Patient", criteria, new_patient(identifier=[MRN], gender="female"))
    assert updated["id"] == created["id"]
    assert updated["meta"]["versionId"] == "2"


def test_transaction_resolves_placeholder_references(fhir: FhirClient) -> None:
    patient_url = "urn:uuid:0b9c9a7e-9d1f-4a53-a9b4-3b2a5f0a6c11"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": patient_url, "resource": new_patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": goal(subject={"reference": patient_url}),
                "request": {"method": "POST", "url": "Goal"},
            },
        ],
    }
    answer = fhir.transaction(bundle)
    assert answer["type"] == "transaction-response"
    patient_location, goal_location = (entry["response"]["location"] for entry in answer["entry"])
    stored_goal = fhir.read("Goal", goal_location.split("/")[1])
    assert stored_goal["subject"]["reference"] == "/".join(patient_location.split("/")[:2])
