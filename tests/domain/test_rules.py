"""The rules a coordinator expects, each with a message that names the field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fhirbridge.domain import (
    ActionStep,
    Child,
    ConsentToShare,
    FamilyMember,
    Goal,
    Record,
    Referral,
    StatusChange,
    ValidationError,
    check_record,
    problems,
    record_from_json,
    record_json_schema,
    record_to_json,
)
from fhirbridge.domain.rules import unexplained_closures


def child_record(**parts: object) -> Record:
    return Record(child=Child(id="child-1", given_names=["Ana"], family_name="Ruiz"), **parts)  # type: ignore[arg-type]


def paths(record: Record) -> dict[str, str]:
    return {problem.path: problem.message for problem in problems(record)}


def test_a_complete_small_record_keeps_every_rule() -> None:
    record = child_record(
        family=[FamilyMember(id="mom", given_names=["Lucia"], relationship="MTH")],
        goals=[Goal(id="g1", description="Ana sits without support", expressed_by_id="mom")],
        action_steps=[ActionStep(id="s1", description="Book PT", responsible_id="mom", goal_id="g1")],
    )
    assert check_record(record) is record


def test_a_goal_needs_a_description() -> None:
    assert paths(child_record(goals=[Goal(id="g1", description="  ")])) == {
        "goals[0].description": "a goal needs a description"
    }


def test_an_action_step_needs_a_responsible_party() -> None:
    found = paths(child_record(action_steps=[ActionStep(id="s1", description="Call the school")]))
    assert found == {"action_steps[0].responsible_id": "an action step needs a responsible party"}


def test_dates_must_come_in_order() -> None:
    goal = Goal(id="g1", description="Walk", start_date=date(2025, 3, 1), target_date=date(2025, 1, 1))
    assert "before start_date" in paths(child_record(goals=[goal]))["goals[0].target_date"]


def test_referral_history_is_oldest_first_and_ends_in_the_current_status() -> None:
    referral = Referral(
        id="r1",
        service="Neurology",
        status="accepted",
        history=[
            StatusChange(status="requested", at=datetime(2025, 2, 1, tzinfo=UTC)),
            StatusChange(status="draft", at=datetime(2025, 1, 1, tzinfo=UTC)),
        ],
    )
    found = paths(child_record(referrals=[referral]))
    assert found["referrals[0].history[1].at"] == "status changes must be listed oldest first"
    assert found["referrals[0].status"].startswith("the status must be the last status")


def test_a_rejected_or_cancelled_referral_says_why_on_its_last_status_change() -> None:
    requested = StatusChange(status="requested", at=datetime(2025, 1, 1, tzinfo=UTC))
    for status in ("rejected", "cancelled"):
        closed = StatusChange(status=status, at=datetime(2025, 1, 2, tzinfo=UTC))
        referral = Referral(id="r1", service="Audiology", status=status, history=[requested, closed])
        open_before = child_record(
            referrals=[referral.model_copy(update={"status": "requested", "history": [requested]})]
        )
        found = unexplained_closures(child_record(referrals=[referral]), open_before)
        assert {problem.path: problem.message for problem in found} == {
            "referrals[0].history[1].note": f"a {status} referral needs a note on its last status change saying why"
        }
        assert paths(child_record(referrals=[referral])) == {}  # the record itself is whole: old data reads back
        blank = referral.model_copy(update={"history": [requested, closed.model_copy(update={"note": "  "})]})
        assert [problem.path for problem in unexplained_closures(child_record(referrals=[blank]), None)] == [
            "referrals[0].history[1].note"
        ]
        said = referral.model_copy(update={"history": [requested, closed.model_copy(update={"note": "Family moved"})]})
        assert unexplained_closures(child_record(referrals=[said]), None) == []
        # Closed without a word before the rule: written back as it is, never locked out.
        assert unexplained_closures(child_record(referrals=[referral]), child_record(referrals=[referral])) == []
    failed = StatusChange(status="failed", at=datetime(2025, 1, 2, tzinfo=UTC))
    failed_referral = Referral(id="r1", service="Audiology", status="failed", history=[requested, failed])
    assert unexplained_closures(child_record(referrals=[failed_referral]), None) == []  # only these two say why


def test_a_referral_may_name_an_organization_known_outside_the_record() -> None:
    record = child_record(
        goals=[Goal(id="g1", description="Hear the teacher")],
        referrals=[
            Referral(id="r1", service="Audiology", recipient_id="noor-audiology"),
            Referral(id="r2", service="Hearing aids", recipient_id="g1"),
        ],
    )
    assert paths(record)["referrals[0].recipient_id"] == "refers to 'noor-audiology', which is not in the record"
    known = {"noor-audiology", "g1"}
    found = {problem.path: problem.message for problem in problems(record, outside_organizations=known)}
    # Only a recipient the record does not hold: a goal of the record stays a goal.
    assert found == {"referrals[1].recipient_id": "refers to 'g1', a goal; expected a organization or team member"}
    assert check_record(record.model_copy(update={"referrals": record.referrals[:1]}), outside_organizations=known)
    # It relaxes nothing else: a consent still needs an organization of the record.
    consent = child_record(consents=[ConsentToShare(id="c1", recipient_id="noor-audiology")])
    assert [problem.path for problem in problems(consent, outside_organizations=known)] == ["consents[0].recipient_id"]


def test_references_must_name_something_in_the_record() -> None:
    record = child_record(
        goals=[Goal(id="g1", description="Walk", expressed_by_id="nobody")],
        consents=[ConsentToShare(id="c1", recipient_id="g1")],
    )
    found = paths(record)
    assert found["goals[0].expressed_by_id"] == "refers to 'nobody', which is not in the record"
    assert "a goal; expected a organization" in found["consents[0].recipient_id"]


def test_every_problem_is_reported_at_once() -> None:
    record = child_record(goals=[Goal(id="g1", description="")], action_steps=[ActionStep(id="g1", description="x")])
    with pytest.raises(ValidationError) as raised:
        check_record(record)
    assert len(raised.value.problems) == 3
    assert "every part of a record needs its own id" in str(raised.value)


def test_structural_problems_in_json_name_the_field() -> None:
    body = b'{"child": {"id": "c 1"}, "goals": [{"id": "g"}], "colour": 1}'
    with pytest.raises(ValidationError) as raised:
        record_from_json(body)
    found = {problem.path: problem.message for problem in raised.value.problems}
    assert found["goals[0].description"] == "is required"
    assert found["colour"] == "is not a field of the record format"
    assert "child.id" in found


def test_a_time_without_offset_is_refused() -> None:
    body = b'{"child": {"id": "c1", "given_names": ["A"]}, "referrals": [{"id": "r", "service": "PT",'
    body += b' "status": "requested", "history": [{"status": "requested", "at": "2025-01-01T10:00:00"}]}]}'
    with pytest.raises(ValidationError, match="UTC offset"):
        record_from_json(body)


def test_internal_json_reads_back_what_it_wrote() -> None:
    record = child_record(goals=[Goal(id="g1", description="Walk", target_date=date(2026, 1, 1))])
    assert record_from_json(record_to_json(record)) == record


def test_the_json_schema_describes_the_whole_record() -> None:
    schema = record_json_schema()
    assert set(schema["properties"]) >= {"child", "goals", "referrals", "consents", "care_teams"}
    assert "Goal" in schema["$defs"]


def test_a_step_carried_inside_a_plan_belongs_to_exactly_one_plan() -> None:
    step = ActionStep(id="s1", description="Call", responsible_id="child-1", recorded_as="plan-activity")
    found = paths(child_record(action_steps=[step]))
    assert "exactly one plan" in found["action_steps[0].recorded_as"]


def test_the_schema_can_be_published_as_json() -> None:
    import json

    assert json.loads(json.dumps(record_json_schema()))["title"] == "Record"
