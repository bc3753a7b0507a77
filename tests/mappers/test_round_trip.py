"""Lossless both ways: record -> FHIR -> record gives the record back, and FHIR we wrote -> record -> FHIR
gives the same resources; every resource written is valid R4."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings

from fhirbridge.domain import Record
from fhirbridge.domain.people import Child
from fhirbridge.domain.referral import Referral, StatusChange
from fhirbridge.domain.rules import check_record, problems
from fhirbridge.domain.team import CareTeam, Organization, TeamMember
from fhirbridge.mappers import record_from_resources, record_to_bundle, record_to_resources, references_outside
from fhirbridge.mappers.record import StatusMove
from fhirbridge.mappers.retention import without_server_meta
from tests.domain.strategies import records

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validate_r4(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@FAST
@given(records())
def test_a_record_comes_back_exactly_from_its_fhir(record: Record) -> None:
    result = record_from_resources(record_to_bundle(record))
    assert result.record == record
    assert [entry for entry in result.report if entry.resource != "record"] == []


@FAST
@given(records())
def test_fhir_we_wrote_comes_back_as_the_same_resources(record: Record) -> None:
    written = record_to_resources(record)
    assert record_to_resources(record_from_resources(written).record) == written


@settings(max_examples=15, deadline=None)
@given(records())
def test_every_resource_written_is_valid_r4_with_a_generated_narrative(record: Record) -> None:
    bundle = record_to_bundle(record)
    validate_r4(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        validate_r4(resource)
        assert resource["text"]["status"] == "generated"
        assert resource["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}


# -- what a store hands back, and what partners do to it ----------------------------------------------

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _by_key(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def _team_record() -> Record:
    lee = TeamMember(id="dr-lee", name="Ana Lee", role="specialist", phone="555-0100")
    return Record(
        child=Child(id="noor", given_names=["Noor"], family_name="Haddad"),
        care_teams=[
            CareTeam(id="home-team", name="Medical home", members=[lee]),
            CareTeam(
                id="cardio-team",
                name="Cardiology",
                members=[lee.model_copy(update={"role": "other", "role_text": "cardiologist"})],
            ),
        ],
    )


def test_a_practitioner_on_two_care_teams_is_one_person_written_once() -> None:
    record = check_record(_team_record())
    written = record_to_resources(record)
    assert [r["id"] for r in written if r["resourceType"] == "Practitioner"] == ["dr-lee"]
    result = record_from_resources(written)
    assert result.record == record
    assert problems(result.record) == []


def test_the_same_id_on_two_teams_must_name_the_same_person() -> None:
    record = _team_record()
    record.care_teams[1].members[0].name = "Someone Else"
    assert [problem.path for problem in problems(record)] == ["care_teams[1].members[0]"]


def test_a_practitioner_on_two_care_teams_read_from_a_partner_writes_back() -> None:
    # As in HL7's MCC eCare Plan examples: one Practitioner, a participant of two CareTeams.
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Haddad", "given": ["Noor"]}]}
    practitioner = {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Lee", "given": ["Ana"]}]}

    def care_team(id: str, role: str) -> dict[str, Any]:
        return {
            "resourceType": "CareTeam",
            "id": id,
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "participant": [{"role": [{"text": role}], "member": {"reference": "Practitioner/pr1"}}],
        }

    partner = [patient, practitioner, care_team("ct1", "primary care"), care_team("ct2", "nephrology")]
    result = record_from_resources(copy.deepcopy(partner))
    assert [problem for problem in problems(result.record)] == []
    assert [team.members[0].id for team in result.record.care_teams] == ["pr1", "pr1"]
    assert [entry.resource for entry in result.report].count("Practitioner/pr1") <= 1
    written = _by_key(record_to_resources(result.record))
    assert written["Practitioner/pr1"] == practitioner
    assert written["CareTeam/ct1"] == partner[2] and written["CareTeam/ct2"] == partner[3]


def test_organizations_nobody_refers_to_reach_a_store_reading_the_child_and_keep_their_order() -> None:
    record = Record(
        child=Child(id="noor", given_names=["Noor"], family_name="Haddad"),
        organizations=[
            Organization(id=f"org-{n}", name=f"Organization {n}", kind="community-agency") for n in (5, 1, 4, 2, 3)
        ],
    )
    written = record_to_resources(record)
    # A store gives the child's compartment, then fetches what it refers to: organizations are in no
    # child's compartment, so they must be referred to from it.
    compartment = [r for r in written if r["resourceType"] != "Organization"]
    assert references_outside(compartment) == {f"Organization/org-{n}" for n in range(1, 6)}
    stored_order = sorted(written, key=lambda r: (r["resourceType"], r["id"]))
    result = record_from_resources(stored_order)
    assert result.record == record
    assert [entry for entry in result.report if entry.resource != "record"] == []
    assert "List/noor-organizations" in result.parts["organizations"]


def _referral_record() -> Record:
    return Record(
        child=Child(id="noor", given_names=["Noor"], family_name="Haddad"),
        organizations=[Organization(id="sunrise", name="Sunrise Early Intervention", kind="early-intervention")],
        referrals=[
            Referral(
                id="ref-ei",
                service="Early intervention evaluation",
                recipient_id="sunrise",
                status="requested",
                history=[StatusChange(status="requested", at=T0)],
            )
        ],
    )


def test_a_status_moved_over_fhir_enters_the_history_and_the_record_writes_back_unchanged() -> None:
    written = record_to_resources(_referral_record())
    task = _by_key(written)["Task/ref-ei-task"]
    task["status"] = "accepted"  # an agency accepts over FHIR, without a status-change entry
    task["meta"] = {**task["meta"], "versionId": "2", "lastUpdated": "2025-03-05T14:00:00Z"}
    result = record_from_resources(written)
    (referral,) = result.record.referrals
    assert referral.status == "accepted"
    assert [(change.status, change.at) for change in referral.history] == [
        ("requested", T0),
        ("accepted", datetime(2025, 3, 5, 14, 0, tzinfo=UTC)),
    ]
    assert problems(result.record) == []
    again = _by_key(record_to_resources(result.record))["Task/ref-ei-task"]
    assert again == without_server_meta(task)  # nothing to write: the Task is as the agency left it


def test_status_moves_a_store_saw_come_with_their_time_and_author() -> None:
    written = record_to_resources(_referral_record())
    _by_key(written)["Task/ref-ei-task"]["status"] = "in-progress"
    seen: list[tuple[str, str]] = []

    def moves(task: dict[str, Any], recorded: str) -> list[StatusMove]:
        seen.append((task["id"], recorded))
        return [
            StatusMove("accepted", datetime(2025, 3, 4, tzinfo=UTC), ("Organization/sunrise",)),
            StatusMove("in-progress", datetime(2025, 3, 6, tzinfo=UTC), ("Practitioner/x", "Organization/sunrise")),
        ]

    (referral,) = record_from_resources(written, status_moves=moves).record.referrals
    assert seen == [("ref-ei-task", "requested")]
    assert [(change.status, change.note) for change in referral.history] == [
        ("requested", None),
        ("accepted", "changed over FHIR by Sunrise Early Intervention (Organization/sunrise)"),
        ("in-progress", "changed over FHIR by Practitioner/x for Sunrise Early Intervention (Organization/sunrise)"),
    ]


def test_a_task_status_the_record_has_no_word_for_leaves_the_referral_where_its_history_says() -> None:
    record = _referral_record()
    record.referrals[0].status = "accepted"
    record.referrals[0].history.append(StatusChange(status="accepted", at=datetime(2025, 3, 4, tzinfo=UTC)))
    written = record_to_resources(record)
    task = _by_key(written)["Task/ref-ei-task"]
    task["status"] = "on-hold"  # a Task status; no referral status of the record
    result = record_from_resources(written)
    (referral,) = result.record.referrals
    assert (referral.status, [change.status for change in referral.history]) == ("accepted", ["requested", "accepted"])
    assert problems(result.record) == []
    assert _by_key(record_to_resources(result.record))["Task/ref-ei-task"]["status"] == "on-hold"
