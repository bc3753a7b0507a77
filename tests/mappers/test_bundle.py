"""The transaction Bundle: stable requests, resolvable references, profiles, and reading what a store
hands back."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from fhirbridge.demo import demo_records
from fhirbridge.domain import Record
from fhirbridge.mappers import record_from_resources, record_to_bundle, record_to_resources
from fhirbridge.mappers._fhir import reference_parts
from tests.domain.strategies import records

FHIRBRIDGE = "http://fhirbridge.org/fhir/StructureDefinition/"
PROFILES = {
    "fhirbridge-shared-careplan",
    "fhirbridge-emergency-careplan",
    "fhirbridge-goal",
    "fhirbridge-referral-servicerequest",
    "fhirbridge-referral-task",
    "fhirbridge-action-step-task",
    "fhirbridge-needs-assessment-response",
    "fhirbridge-complexity-riskassessment",
    "fhirbridge-careteam",
}


def references(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value] if isinstance(value.get("reference"), str) else []
        return found + [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


@settings(max_examples=25, deadline=None)
@given(records())
def test_every_reference_in_a_bundle_names_an_entry_of_it(record: Record) -> None:
    bundle = record_to_bundle(record)
    urls = {entry["request"]["url"] for entry in bundle["entry"]}
    for entry in bundle["entry"]:
        for ref in references(entry["resource"]):
            parts = reference_parts(ref)
            assert parts is not None and f"{parts[0]}/{parts[1]}" in urls, ref


def test_sending_a_record_twice_sends_the_same_puts() -> None:
    record = demo_records()[1]
    first, second = record_to_bundle(record), record_to_bundle(record.model_copy(deep=True))
    assert first == second
    assert len({entry["fullUrl"] for entry in first["entry"]}) == len(first["entry"])
    assert {entry["request"]["method"] for entry in first["entry"]} == {"PUT"}


def test_resources_carry_fhirbridge_and_us_core_profiles() -> None:
    declared = {
        profile.removeprefix(FHIRBRIDGE)
        for record in demo_records()
        for resource in record_to_resources(record)
        for profile in resource.get("meta", {}).get("profile", [])
    }
    assert declared >= PROFILES
    assert "http://hl7.org/fhir/us/core/StructureDefinition/us-core-careplan" in declared


def test_what_a_store_adds_on_write_is_not_taken_for_partner_data() -> None:
    record = demo_records()[0]
    stored = []
    for version, resource in enumerate(record_to_resources(record), start=1):
        meta = {**resource.get("meta", {}), "versionId": str(version), "lastUpdated": "2025-08-01T10:00:00Z"}
        stored.append({**resource, "meta": meta})
    result = record_from_resources(stored)
    assert result.record == record
    assert result.report == []


def test_the_emergency_plan_is_part_of_the_main_plan() -> None:
    resources = record_to_resources(demo_records()[1])
    plans = {r["id"]: r for r in resources if r["resourceType"] == "CarePlan"}
    emergency = plans["jordan-emergency"]
    assert emergency["partOf"] == [{"reference": "CarePlan/jordan-plan"}]
    assert "Rectal diazepam" in emergency["text"]["div"]
    assert "Latex" in emergency["text"]["div"]


def test_a_referral_is_a_service_request_tracked_by_a_fulfill_task() -> None:
    resources = {f"{r['resourceType']}/{r['id']}": r for r in record_to_resources(demo_records()[0])}
    task = resources["Task/mateo-ref-ei-task"]
    assert task["code"]["coding"][0]["code"] == "fulfill"
    assert task["focus"] == {"reference": "ServiceRequest/mateo-ref-ei"}
    assert [part["extension"][0]["valueCode"] for part in task["extension"]] == ["requested", "accepted"]
    assert resources["Appointment/mateo-ref-ei-appt"]["basedOn"] == [{"reference": "ServiceRequest/mateo-ref-ei"}]


def test_a_write_can_say_who_made_it_with_a_provenance() -> None:
    from datetime import UTC, datetime

    from fhir.resources.R4B import get_fhir_model_class

    record = demo_records()[0]
    bundle = record_to_bundle(record, author_id="mateo-coordinator", recorded=datetime(2025, 8, 1, 15, tzinfo=UTC))
    last = bundle["entry"][-1]
    provenance = last["resource"]
    assert last["request"] == {"method": "POST", "url": "Provenance"}
    get_fhir_model_class("Provenance").model_validate(provenance)
    assert len(provenance["target"]) == len(bundle["entry"]) - 1
    assert provenance["agent"][0]["who"] == {"reference": "Practitioner/mateo-coordinator"}
    assert provenance["agent"][0]["onBehalfOf"] == {"reference": "Organization/mateo-riverside"}
    assert record_from_resources(bundle).record == record


def test_a_store_learns_which_referred_resources_to_fetch_too() -> None:
    from fhirbridge.mappers import references_outside

    resources = record_to_resources(demo_records()[2])
    goals_and_plans = [r for r in resources if r["resourceType"] in ("Goal", "CarePlan")]
    wanted = references_outside(goals_and_plans)
    assert "Patient/aisha" in wanted
    assert "RelatedPerson/aisha-father" in wanted
    assert not any(key.startswith("CarePlan/") for key in wanted)
    assert references_outside(resources) == set()
