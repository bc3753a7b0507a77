"""The transition plan (pediatric to adult care) <-> its CarePlan: lossless both ways, recognised apart from
the working plan, the youth's readiness answers kept as they came, and the coordinator rules on it."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

from fhirbridge.demo import demo_records
from fhirbridge.domain import Goal, ReceivingProvider, Record, TransitionPlan, problems
from fhirbridge.mappers import record_from_resources, record_to_resources


def aisha() -> Record:
    return next(record for record in demo_records(date(2026, 3, 1)) if record.child.id == "aisha")


def test_the_demo_transition_plan_goes_to_fhir_and_back_without_loss() -> None:
    record = aisha()
    assert record.transition_plans
    written = record_to_resources(record)
    read = record_from_resources(written)
    assert read.record == record
    assert record_to_resources(read.record) == written
    assert read.record.care_plans == record.care_plans  # not taken for the working plan
    assert read.record.assessments == record.assessments  # the readiness answers are no needs assessment


def test_every_element_of_the_plan_survives_the_round_trip() -> None:
    record = aisha()
    plan = TransitionPlan(
        id="aisha-transition",
        status="draft",
        title="Moving to adult care",
        target_transfer_age=19,
        target_transfer_date=date(2027, 9, 1),
        receiving_providers=[
            ReceivingProvider(name="Dr. Ana Ruiz", reference="Practitioner/ana-ruiz", specialty="Adult neurology"),
            ReceivingProvider(name="A clinic still to be chosen"),
        ],
        goal_ids=["aisha-goal-self-care", "aisha-goal-exams"],
        readiness_response_id="aisha-readiness-1",
        created_at=datetime(2026, 2, 1, 9, 30, tzinfo=UTC),
        author_id="aisha-coordinator",
        notes=["Meet the adult neurologist once before the move"],
    )
    record.transition_plans = [plan]
    read = record_from_resources(record_to_resources(record)).record
    assert read.transition_plans == [plan]


def test_a_partners_transition_plan_is_read_and_what_the_record_lacks_is_kept() -> None:
    record = aisha()
    resources = record_to_resources(record)
    plan = next(r for r in resources if r["id"] == "aisha-transition")
    plan["activity"] = [{"reference": {"reference": "MedicationRequest/other"}}]
    plan["extension"][0]["valueAge"]["value"] = 17.5  # no whole age: not read, kept
    result = record_from_resources(resources)
    read = result.record.transition_plans[0]
    assert read.target_transfer_age is None
    assert record_to_resources(result.record)[[r["id"] for r in resources].index("aisha-transition")] == plan


def test_the_plans_goals_are_the_youths_own() -> None:
    record = aisha()
    record.goals = [
        *record.goals,
        Goal(id="aisha-parent-goal", description="Fewer calls", expressed_by_id="aisha-mother"),
    ]
    record.transition_plans[0].goal_ids = ["aisha-parent-goal", "no-such-goal"]
    found = {(p.path, p.message.split(",")[0]) for p in problems(record)}
    assert any(path == "transition_plans[0].goal_ids[0]" for path, _ in found)
    assert any(path == "transition_plans[0].goal_ids[1]" for path, _ in found)


def test_the_record_without_a_transition_plan_writes_none() -> None:
    record = copy.deepcopy(aisha())
    record.transition_plans = []
    kinds = [
        coding.get("code")
        for r in record_to_resources(record)
        if r["resourceType"] == "CarePlan"
        for concept in r.get("category", [])
        for coding in concept["coding"]
    ]
    assert "transition-plan" not in kinds
