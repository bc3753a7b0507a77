"""``fhirbridge sync``: a child's shared plan copied between two servers, repeatably and without losing edits.

Every scenario runs against in-memory fakes and against two real fhirbridge servers on each backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.provenance import Provenance

from fhirbridge.client import FhirClient, Resource, RetryPolicy, TransportError
from fhirbridge.client.errors import ServerError
from fhirbridge.client.sync import SyncReport, sync_plan
from fhirbridge.client.sync_state import load_state
from fhirbridge.formats.json import SourceDecimal
from tests.client.conftest import ServerPair, run_sync_command

MRN = "https://medical-home.example.org/mrn"
PLANS = "https://medical-home.example.org/care-plans"


@dataclass
class SeededPlan:
    """The ids of a child's plan on the source server."""

    patient: str
    organization: str
    practitioner: str
    mother: str
    condition: str
    goal: str
    care_team: str
    referral: str
    care_plan: str
    task: str
    observation: str


@pytest.fixture
def source(servers: ServerPair) -> Iterator[FhirClient]:
    with FhirClient(servers.source, retry=RetryPolicy(total=0), timeout=60) as client:
        yield client


@pytest.fixture
def target(servers: ServerPair) -> Iterator[FhirClient]:
    with FhirClient(servers.target, retry=RetryPolicy(total=0), timeout=60) as client:
        yield client


def ref(resource_type: str, id: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{id}"}


def identifier(system: str, value: str) -> list[dict[str, str]]:
    return [{"system": system, "value": value}]


def seed_plan(fhir: FhirClient) -> SeededPlan:
    """A medical home's plan for Mateo: goal, care team, referral with its task, and the plan tying them."""

    def create(resource: Resource) -> str:
        return str(fhir.create(resource)["id"])

    organization = create(
        {
            "resourceType": "Organization",
            "identifier": identifier("urn:ietf:rfc:3986", "urn:oid:2.16.840.1.1"),
            "name": "Lakeside Pediatrics",
        }
    )
    practitioner = create({"resourceType": "Practitioner", "name": [{"family": "Okafor", "given": ["Ada"]}]})
    patient = create(
        {
            "resourceType": "Patient",
            "identifier": identifier(MRN, "MRN-1042"),
            "name": [{"family": "Rivera", "given": ["Mateo"]}],
            "birthDate": "2019-04-02",
            "generalPractitioner": [ref("Practitioner", practitioner)],
            "managingOrganization": ref("Organization", organization),
        }
    )
    mother = create(
        {
            "resourceType": "RelatedPerson",
            "patient": ref("Patient", patient),
            "name": [{"family": "Rivera", "given": ["Lucia"]}],
        }
    )
    condition = create(
        {
            "resourceType": "Condition",
            "identifier": identifier(PLANS, "cond-1"),
            "subject": ref("Patient", patient),
            "code": {"text": "Spastic diplegic cerebral palsy"},
        }
    )
    observation = create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "10 m walk test"},
            "subject": ref("Patient", patient),
        }
    )
    goal = create(
        {
            "resourceType": "Goal",
            "identifier": identifier(PLANS, "goal-1"),
            "lifecycleStatus": "active",
            "description": {"text": "Walks 10 m with a walker by June"},
            "subject": ref("Patient", patient),
            "expressedBy": ref("RelatedPerson", mother),
            "addresses": [ref("Condition", condition)],
            "target": [{"detailQuantity": {"value": SourceDecimal("10.50"), "unit": "m"}}],
            "outcomeReference": [ref("Observation", observation)],
        }
    )
    care_team = create(
        {
            "resourceType": "CareTeam",
            "subject": ref("Patient", patient),
            "participant": [{"member": ref("Practitioner", practitioner)}, {"member": ref("RelatedPerson", mother)}],
        }
    )
    referral = create(
        {
            "resourceType": "ServiceRequest",
            "identifier": identifier(PLANS, "ref-1"),
            "status": "active",
            "intent": "order",
            "subject": ref("Patient", patient),
            "requester": ref("Practitioner", practitioner),
            "code": {"text": "Physical therapy evaluation"},
        }
    )
    plan = {
        "resourceType": "CarePlan",
        "identifier": identifier(PLANS, "plan-1"),
        "status": "active",
        "intent": "plan",
        "subject": ref("Patient", patient),
        "goal": [ref("Goal", goal)],
        "careTeam": [ref("CareTeam", care_team)],
        "addresses": [ref("Condition", condition)],
    }
    care_plan = create(plan)
    task = create(
        {
            "resourceType": "Task",
            "identifier": identifier(PLANS, "task-1"),
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": ref("ServiceRequest", referral),
            "for": ref("Patient", patient),
            "basedOn": [ref("CarePlan", care_plan)],
            "owner": ref("RelatedPerson", mother),
        }
    )
    # The plan and its action step refer to each other.
    fhir.update({**plan, "id": care_plan, "activity": [{"reference": ref("Task", task)}]})
    return SeededPlan(
        patient, organization, practitioner, mother, condition, goal, care_team, referral, care_plan, task, observation
    )


def push(source: FhirClient, target: FhirClient, patient: str, state_dir: Path, **options: Any) -> SyncReport:
    return sync_plan(
        source, target, patient, load_state(state_dir, source.base_url, target.base_url, patient), **options
    )


def by_identifier(fhir: FhirClient, resource_type: str, value: str) -> Resource:
    (match,) = fhir.search(resource_type, {"identifier": f"{PLANS}|{value}"})
    return match


def test_push_copies_the_whole_plan_with_references_pointing_at_the_target(
    source: FhirClient, target: FhirClient, state_dir: Path
) -> None:
    seeded = seed_plan(source)
    # The target already uses the source's Goal id for an unrelated goal: the copy must get another id.
    target.update({"resourceType": "Patient", "id": "elsewhere"})
    target.update(
        {
            "resourceType": "Goal",
            "id": seeded.goal,
            "lifecycleStatus": "proposed",
            "description": {"text": "someone else's"},
            "subject": {"reference": "Patient/elsewhere"},
        }
    )

    report = push(source, target, seeded.patient, state_dir)

    assert report.ok, report.resources
    copied = {item.source for item in report.written}
    assert copied == {
        f"Patient/{seeded.patient}",
        f"Organization/{seeded.organization}",
        f"Practitioner/{seeded.practitioner}",
        f"RelatedPerson/{seeded.mother}",
        f"Condition/{seeded.condition}",
        f"Goal/{seeded.goal}",
        f"CareTeam/{seeded.care_team}",
        f"ServiceRequest/{seeded.referral}",
        f"CarePlan/{seeded.care_plan}",
        f"Task/{seeded.task}",
    }
    goal = by_identifier(target, "Goal", "goal-1")
    assert goal["id"] != seeded.goal
    assert target.read("Goal", seeded.goal)["description"]["text"] == "someone else's"
    assert goal["target"][0]["detailQuantity"]["value"].source == "10.50"
    # Not part of the plan: still names the source's resource, now absolutely.
    assert goal["outcomeReference"] == [{"reference": f"{source.base_url}/Observation/{seeded.observation}"}]
    plan = by_identifier(target, "CarePlan", "plan-1")
    task = by_identifier(target, "Task", "task-1")
    assert plan["goal"] == [{"reference": f"Goal/{goal['id']}"}]
    assert plan["activity"] == [{"reference": {"reference": f"Task/{task['id']}"}}]
    assert task["basedOn"] == [{"reference": f"CarePlan/{plan['id']}"}]
    patient = target.read("Patient", plan["subject"]["reference"].split("/")[1])
    assert patient["identifier"] == identifier(MRN, "MRN-1042")
    assert target.read("Organization", patient["managingOrganization"]["reference"].split("/")[1])["name"] == (
        "Lakeside Pediatrics"
    )


def test_push_records_provenance_for_what_it_wrote(source: FhirClient, target: FhirClient, state_dir: Path) -> None:
    seeded = seed_plan(source)
    report = push(source, target, seeded.patient, state_dir)
    assert report.provenance is not None
    provenance = target.read(Provenance, report.provenance.split("/")[1])
    written = {f"{item.target}/_history/{item.version_id}" for item in report.written}
    assert {reference.reference for reference in provenance.target} == written
    assert {agent.type.coding[0].code for agent in provenance.agent} == {"assembler", "transmitter"}
    sources = {entity.what.reference for entity in provenance.entity}
    assert f"{source.base_url}/CarePlan/{seeded.care_plan}/_history/2" in sources
    assert all(entity.role == "source" for entity in provenance.entity)


def test_pushing_twice_changes_nothing(source: FhirClient, target: FhirClient, state_dir: Path) -> None:
    seeded = seed_plan(source)
    first = push(source, target, seeded.patient, state_dir)
    second = push(source, target, seeded.patient, state_dir)
    assert second.ok
    assert second.written == []
    assert second.provenance is None
    assert {item.source: item.version_id for item in second.resources} == {
        item.source: item.version_id for item in first.resources
    }


def test_a_change_on_the_source_is_pushed_as_a_new_version(
    source: FhirClient, target: FhirClient, state_dir: Path
) -> None:
    seeded = seed_plan(source)
    push(source, target, seeded.patient, state_dir)
    goal = source.read("Goal", seeded.goal)
    source.update({**goal, "lifecycleStatus": "completed"})

    report = push(source, target, seeded.patient, state_dir)

    assert [(item.source, item.action, item.version_id) for item in report.written] == [
        (f"Goal/{seeded.goal}", "updated", "2")
    ]
    assert by_identifier(target, "Goal", "goal-1")["lifecycleStatus"] == "completed"
    assert report.provenance is not None


def test_a_change_on_the_target_since_the_last_sync_is_reported_not_overwritten(
    servers: ServerPair, source: FhirClient, target: FhirClient, state_dir: Path
) -> None:
    seeded = seed_plan(source)
    push(source, target, seeded.patient, state_dir)
    their_plan = by_identifier(target, "CarePlan", "plan-1")
    target.update({**their_plan, "description": "Hospital discharge: add home nursing"})
    our_plan = source.read("CarePlan", seeded.care_plan)
    source.update({**our_plan, "status": "on-hold"})

    argv = [
        "sync",
        "push",
        "--patient",
        seeded.patient,
        "--local",
        servers.source,
        "--server",
        servers.target,
        "--state-dir",
        str(state_dir),
    ]
    code, printed = run_sync_command(argv)

    assert code == 1
    assert f"conflict  CarePlan/{seeded.care_plan} -> CarePlan/{their_plan['id']}" in printed
    assert "changed on the target since the last sync" in printed
    kept = target.read("CarePlan", their_plan["id"])
    assert kept["description"] == "Hospital discharge: add home nursing"
    assert kept["status"] == "active"

    code, printed = run_sync_command([*argv, "--force"])
    assert code == 0, printed
    assert target.read("CarePlan", their_plan["id"])["status"] == "on-hold"


def test_a_different_resource_under_the_same_identifier_on_the_target_is_a_conflict(
    source: FhirClient, target: FhirClient, state_dir: Path
) -> None:
    seeded = seed_plan(source)
    target.update({"resourceType": "Patient", "id": "theirs"})
    theirs = target.create(
        {
            "resourceType": "Condition",
            "identifier": identifier(PLANS, "cond-1"),
            "subject": {"reference": "Patient/theirs"},
            "code": {"text": "Asthma"},
        }
    )

    report = push(source, target, seeded.patient, state_dir)

    assert [item.source for item in report.conflicts] == [f"Condition/{seeded.condition}"]
    assert "never synced" in report.conflicts[0].reason
    assert target.read("Condition", theirs["id"])["code"]["text"] == "Asthma"


def test_pull_copies_the_remote_plan_here_and_reports_json(
    servers: ServerPair, source: FhirClient, target: FhirClient, state_dir: Path
) -> None:
    # Pull: the remote server (--server) holds the plan, ours (--local) receives it.
    seeded = seed_plan(source)
    argv = [
        "sync",
        "pull",
        "--patient",
        seeded.patient,
        "--server",
        servers.source,
        "--local",
        servers.target,
        "--state-dir",
        str(state_dir),
        "--json",
    ]

    code, printed = run_sync_command(argv)

    assert code == 0, printed
    report = json.loads(printed)
    assert report["ok"] is True
    assert report["source"] == servers.source
    assert {item["action"] for item in report["resources"]} == {"created"}
    assert by_identifier(target, "Task", "task-1")["status"] == "requested"
    assert list(state_dir.glob("*.json")), "the sync state is kept"
    code, printed = run_sync_command(argv)
    assert {item["action"] for item in json.loads(printed)["resources"]} == {"unchanged"}


def test_an_edit_racing_the_sync_is_a_conflict_not_overwritten(
    source: FhirClient, target: FhirClient, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = seed_plan(source)
    push(source, target, seeded.patient, state_dir)
    source.update({**source.read("Goal", seeded.goal), "lifecycleStatus": "completed"})
    update = target.update

    def edited_just_before(resource: Resource, *, if_match: str | int | None = None) -> Resource:
        if resource["resourceType"] == "Goal":
            update({**target.read("Goal", resource["id"]), "priority": {"text": "high"}})
        return update(resource, if_match=if_match)

    monkeypatch.setattr(target, "update", edited_just_before)
    report = push(source, target, seeded.patient, state_dir)

    assert [(item.source, item.action) for item in report.conflicts] == [(f"Goal/{seeded.goal}", "conflict")]
    assert "during the sync" in report.conflicts[0].reason
    kept = by_identifier(target, "Goal", "goal-1")
    assert (kept["priority"], kept["lifecycleStatus"]) == ({"text": "high"}, "active")


def test_a_retried_write_whose_first_answer_was_lost_counts_as_written(
    source: FhirClient, target: FhirClient, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = seed_plan(source)
    push(source, target, seeded.patient, state_dir)
    source.update({**source.read("Goal", seeded.goal), "lifecycleStatus": "completed"})
    update = target.update

    def answer_lost_then_retried(resource: Resource, *, if_match: str | int | None = None) -> Resource:
        update(resource, if_match=if_match)
        return update(resource, if_match=if_match)  # the retry's If-Match names the version just replaced

    monkeypatch.setattr(target, "update", answer_lost_then_retried)
    report = push(source, target, seeded.patient, state_dir)

    assert report.ok, report.resources
    assert [(item.source, item.action, item.version_id) for item in report.written] == [
        (f"Goal/{seeded.goal}", "updated", "2")
    ]
    assert push(source, target, seeded.patient, state_dir).written == []


def test_a_run_cut_short_keeps_what_it_wrote_and_the_next_run_completes_it(
    source: FhirClient, target: FhirClient, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = seed_plan(source)
    conditional_update = target.conditional_update

    def target_goes_away_at_the_care_plan(resource_type: str, criteria: Any, resource: Resource) -> Resource:
        if resource_type == "CarePlan":
            raise TransportError("connection reset")
        return conditional_update(resource_type, criteria, resource)

    def transactions_refused(bundle: Resource) -> Resource:
        raise ServerError("transactions are not supported here")

    # A target that takes no transactions is written resource by resource, and goes away half-way.
    monkeypatch.setattr(target, "transaction", transactions_refused)
    monkeypatch.setattr(target, "conditional_update", target_goes_away_at_the_care_plan)
    with pytest.raises(TransportError):
        push(source, target, seeded.patient, state_dir)

    state = load_state(state_dir, source.base_url, target.base_url, seeded.patient)
    assert f"ServiceRequest/{seeded.referral}" in state.resources
    assert f"CarePlan/{seeded.care_plan}" not in state.resources
    (provenance,) = target.search("Provenance")
    assert len(provenance["target"]) == len(state.resources)

    monkeypatch.undo()
    report = push(source, target, seeded.patient, state_dir)
    assert report.ok
    assert {item.source for item in report.written} == {f"CarePlan/{seeded.care_plan}", f"Task/{seeded.task}"}


def test_an_identifier_moved_to_another_target_resource_is_a_conflict(
    source: FhirClient, target: FhirClient, state_dir: Path
) -> None:
    seeded = seed_plan(source)
    push(source, target, seeded.patient, state_dir)
    copy = by_identifier(target, "Condition", "cond-1")
    target.update({**copy, "identifier": identifier(PLANS, "cond-1-retired")})
    content = {key: value for key, value in copy.items() if key not in ("id", "meta")}
    newcomer = target.create({**content, "code": {"text": "Cerebral palsy, revised"}})

    report = push(source, target, seeded.patient, state_dir)

    assert [item.source for item in report.conflicts] == [f"Condition/{seeded.condition}"]
    assert f"now Condition/{newcomer['id']} carries the identifier" in report.conflicts[0].reason
    assert target.read("Condition", newcomer["id"])["code"]["text"] == "Cerebral palsy, revised"
