"""FHIR we did not write: every official R4 example of the resources a plan is made of reads into a
record without error, reports what the record does not cover, and is written back unchanged."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhirbridge.mappers import record_from_resources, record_to_resources
from tests.mappers.shared import EXAMPLES, example

FAMILIES = ("careplan", "goal", "servicerequest", "careteam", "task", "condition", "questionnaireresponse")
NAMES = sorted(p.name for p in EXAMPLES.glob("*.json") if p.name.startswith(FAMILIES)) if EXAMPLES.is_dir() else []


def by_key(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def test_the_examples_are_there() -> None:
    assert len(NAMES) > 60, f"official examples not found under {EXAMPLES}; set FHIRBRIDGE_SHARED_DIR"


@pytest.mark.parametrize("name", NAMES)
def test_an_official_example_imports_with_a_report_and_writes_back_unchanged(name: str) -> None:
    original = example(name)
    result = record_from_resources(copy.deepcopy(original))
    written = by_key(record_to_resources(result.record))
    key = f"{original['resourceType']}/{original['id']}"
    assert written[key] == original
    for resource in written.values():
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert result.report, "a partner's example always holds something the record does not"
    assert all(entry.resource and entry.reason for entry in result.report)


def test_what_has_no_place_is_reported_by_element_and_kept() -> None:
    result = record_from_resources(example("goal-example.json"))
    (goal,) = result.record.goals
    paths = {entry.path for entry in result.report if entry.resource == "Goal/example"}
    assert {"priority", "statusDate", "outcomeReference", "target[0].detailRange"} <= paths
    assert goal.description == "Target weight is 160 to 180 lbs."
    assert goal.fhir_retained is not None
    assert goal.fhir_retained["Goal/example"]["priority"]["original"]["text"] == "high"


def test_ids_shared_across_resource_types_get_their_own_record_id() -> None:
    result = record_from_resources(example("careteam-example.json"))
    (team,) = result.record.care_teams
    assert (result.record.child.id, team.id, team.fhir_id) == ("example", "example-careteam", "example")


def test_a_change_in_the_record_replaces_only_what_it_describes() -> None:
    result = record_from_resources(example("goal-example.json"))
    goal = result.record.goals[0]
    goal.description = "Target weight is 170 lbs."
    (written,) = [r for r in record_to_resources(result.record) if r["resourceType"] == "Goal"]
    assert written["description"] == {"text": "Target weight is 170 lbs."}
    assert written["priority"]["text"] == "high"
    assert written["text"]["status"] == "generated"
    assert "170 lbs" in written["text"]["div"]


def test_a_plan_using_activity_detail_maps_like_one_using_activity_reference() -> None:
    result = record_from_resources(example("careplan-example-integrated.json"))
    (plan,) = result.record.care_plans
    steps = {step.id: step for step in result.record.action_steps}
    assert plan.activities and all(steps[a].recorded_as == "plan-activity" for a in plan.activities)
    first = steps[plan.activities[0]]
    assert first.description.startswith("Eve will review photos")
    assert first.status == "planned"


def test_a_service_request_becomes_a_referral_to_be_tracked() -> None:
    result = record_from_resources(example("servicerequest-example-pt.json"))
    (referral,) = result.record.referrals
    assert referral.service
    assert any("no Task tracks this referral" in entry.reason for entry in result.report)


def test_decimals_of_a_partner_survive_the_internal_format_exactly() -> None:
    from fhirbridge.domain import record_from_json, record_to_json
    from fhirbridge.formats import json as fhir_json

    goal = example("goal-example.json")
    goal["target"][0]["detailRange"]["low"]["value"] = 160
    body = fhir_json.dumps(goal).replace(b'"value":160', b'"value":160.50')
    record = record_from_resources(fhir_json.loads(body)).record
    again = record_from_json(record_to_json(record), check=False)
    (written,) = [r for r in record_to_resources(again) if r["resourceType"] == "Goal"]
    assert b'"value":160.50' in fhir_json.dumps(written)


def test_a_partners_activities_outside_the_record_survive_a_new_step() -> None:
    from fhirbridge.domain import ActionStep

    original = example("careplan-example-f003-pharynx.json")
    original["activity"].insert(0, {"reference": {"reference": "MedicationRequest/antibiotic"}})
    result = record_from_resources(copy.deepcopy(original))
    record = result.record
    (plan,) = record.care_plans
    assert any(entry.path == "activity[0].reference" for entry in result.report)
    record.action_steps.append(ActionStep(id="call-back", description="Call the family", responsible_id=None))
    plan.activities = [*plan.activities, "call-back"]
    (written,) = [r for r in record_to_resources(record) if r["resourceType"] == "CarePlan"]
    assert written["activity"][0] == {"reference": {"reference": "MedicationRequest/antibiotic"}}
    assert written["activity"][1:-1] == original["activity"][1:]
    assert written["activity"][-1] == {"reference": {"reference": "Task/call-back"}}


def test_a_transaction_with_urn_uuid_references_reads_as_resources_referring_by_id() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"family": "Doe", "given": ["Sam"]}],
                    "gender": "other",
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
                "resource": {
                    "resourceType": "Goal",
                    "lifecycleStatus": "active",
                    "description": {"text": "Walk"},
                    "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
                },
                "request": {"method": "POST", "url": "Goal"},
            },
        ],
    }
    result = record_from_resources(bundle)
    assert result.record.child.id == "61ebe359-bfdc-4613-8bf2-c5e300945f0a"
    assert result.record.child.given_names == ["Sam"]
    (goal,) = [r for r in record_to_resources(result.record) if r["resourceType"] == "Goal"]
    assert goal["id"] == "88f151c0-a954-468a-88bd-5ae15c08e059"
    assert goal["subject"] == {"reference": "Patient/61ebe359-bfdc-4613-8bf2-c5e300945f0a"}


def test_every_official_example_imports_writes_back_valid_r4_and_reads_again_the_same() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        record = record_from_resources(example(path.name)).record
        written = record_to_resources(record)
        for resource in written:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert record_from_resources(written).record == record, path.name
