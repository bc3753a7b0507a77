"""The rules a coordinator expects a record to keep, checked all at once.

Structure (types, allowed codes) is checked when a record is built; these are the rules across fields
and parts: every goal has a description, every action step a responsible party, dates come in order,
and every id a part refers to exists in the record (or, for a referral's recipient, is an organization
the caller knows to exist outside it). A write also says why it rejects or cancels a referral
(``unexplained_closures``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Set
from datetime import date, datetime

from fhirbridge.domain.errors import Problem, ValidationError
from fhirbridge.domain.record import Record
from fhirbridge.domain.referral import NEEDS_REASON
from fhirbridge.domain.team import TeamMember

__all__ = ["all_ids", "check_record", "problems", "unexplained_closures"]


def unexplained_closures(record: Record, before: Record | None) -> list[Problem]:
    """A referral rejected or cancelled by this write must say why, in the note of that status change.

    Only the status changes ``before`` (the record as stored) did not have: a record whose referral was
    closed without a word before this rule existed can still be written, or it would be locked out.
    """
    known = {
        (referral.id, change.status, change.at)
        for referral in (before.referrals if before else [])
        for change in referral.history
    }
    found = []
    for i, referral in enumerate(record.referrals):
        if not referral.history:
            continue
        last = referral.history[-1]
        silent = last.status in NEEDS_REASON and not (last.note and last.note.strip())
        if silent and (referral.id, last.status, last.at) not in known:
            found.append(
                Problem(
                    f"referrals[{i}].history[{len(referral.history) - 1}].note",
                    f"a {last.status} referral needs a note on its last status change saying why",
                )
            )
    return found


def check_record(record: Record, *, outside_organizations: Set[str] = frozenset()) -> Record:
    """Return the record unchanged, or raise ``ValidationError`` listing every broken rule.

    ``outside_organizations``: ids of organizations known to exist outside the record (a directory's),
    which a referral may name as its recipient before the record holds them.
    """
    found = problems(record, outside_organizations=outside_organizations)
    if found:
        raise ValidationError(found)
    return record


def problems(record: Record, *, outside_organizations: Set[str] = frozenset()) -> list[Problem]:
    return [
        *_unique_ids(record),
        *_names(record),
        *_goals(record),
        *_action_steps(record),
        *_referrals(record),
        *_plans(record),
        *_transition_goals(record),
        *_others(record),
        *_references(record, outside_organizations),
    ]


def all_ids(record: Record) -> dict[str, str]:
    """Every id in the record, with what it names (``family member``, ``goal``...)."""
    named: dict[str, str] = {record.child.id: "child"}
    for kind, items in _collections(record):
        for item in items:
            named.setdefault(item.id, kind)
    for team in record.care_teams:
        for member in team.members:
            named.setdefault(member.id, "team member")
    return named


def _collections(record: Record) -> list[tuple[str, list]]:  # type: ignore[type-arg]
    summary = [record.medical_summary] if record.medical_summary else []
    return [
        ("family member", record.family),
        ("organization", record.organizations),
        ("care team", record.care_teams),
        ("needs assessment", record.assessments),
        ("need", record.needs),
        ("complexity assessment", record.complexity),
        ("diagnosis", record.diagnoses),
        ("medical summary", summary),
        ("care plan", record.care_plans),
        ("goal", record.goals),
        ("action step", record.action_steps),
        ("emergency plan", record.emergency_plans),
        ("referral", record.referrals),
        ("review", record.reviews),
        ("consent", record.consents),
        ("transition plan", record.transition_plans),
    ]


def _unique_ids(record: Record) -> Iterable[Problem]:
    ids = [record.child.id]
    for _, items in _collections(record):
        ids.extend(item.id for item in items)
    # A person may serve on several care teams (a specialist on the medical-home team and on the
    # clinic's): the same team member id on different teams is one person, counted once.
    members: dict[str, TeamMember] = {}
    for t, team in enumerate(record.care_teams):
        on_team: set[str] = set()
        for m, member in enumerate(team.members):
            if member.id in on_team:
                ids.append(member.id)  # twice on one team: reported below as an id used twice
                continue
            on_team.add(member.id)
            first = members.setdefault(member.id, member)
            if first is member:
                ids.append(member.id)
            elif _person(first) != _person(member):
                yield Problem(
                    f"care_teams[{t}].members[{m}]",
                    f"team member {member.id!r} is on several care teams as different people; the same "
                    "id must name the same person (name, phone, email, family member or organization)",
                )
    for referral in record.referrals:
        ids.extend(
            [referral.tracking_task_id, referral.appointment_id]
            if referral.appointment
            else [referral.tracking_task_id]
        )
    for value, count in Counter(ids).items():
        if count > 1:
            yield Problem("", f"the id {value!r} is used {count} times; every part of a record needs its own id")


def _person(member: TeamMember) -> tuple[object, ...]:
    """What makes a team member the same person on every team (role and responsibilities are per team)."""
    staff = bool(member.name) or not (member.family_member_id or member.organization_id)
    return (
        (member.name, member.phone, member.email)
        if staff
        else (member.family_member_id, member.organization_id if not member.family_member_id else None)
    )


def _names(record: Record) -> Iterable[Problem]:
    child = record.child
    if not child.known_only_by_reference and not (child.given_names or child.family_name):
        yield Problem("child", "the child needs a name")
    for i, relative in enumerate(record.family):
        if not (relative.given_names or relative.family_name):
            yield Problem(f"family[{i}]", "a family member needs a name")
    for t, team in enumerate(record.care_teams):
        for m, member in enumerate(team.members):
            if not (member.name or member.family_member_id or member.organization_id):
                yield Problem(
                    f"care_teams[{t}].members[{m}]",
                    "a team member needs a name, a family member or an organization",
                )


def _goals(record: Record) -> Iterable[Problem]:
    for i, goal in enumerate(record.goals):
        path = f"goals[{i}]"
        if not goal.description.strip():
            yield Problem(f"{path}.description", "a goal needs a description")
        yield from _in_order(path, "start_date", goal.start_date, "target_date", goal.target_date)
        for n, note in enumerate(goal.progress_notes):
            if not note.text.strip():
                yield Problem(f"{path}.progress_notes[{n}].text", "a progress note needs text")


def _action_steps(record: Record) -> Iterable[Problem]:
    for i, step in enumerate(record.action_steps):
        path = f"action_steps[{i}]"
        if not step.description.strip():
            yield Problem(f"{path}.description", "an action step needs to say what will be done")
        if step.responsible_id is None:
            yield Problem(f"{path}.responsible_id", "an action step needs a responsible party")
        if step.recorded_as == "plan-activity":
            holders = [plan.id for plan in record.care_plans if step.id in plan.activities]
            if len(holders) != 1:
                yield Problem(
                    f"{path}.recorded_as",
                    "a step carried inside a plan's activity must be an activity "
                    f"of exactly one plan (it is in {len(holders)})",
                )
        if step.created_at and step.due_date:
            yield from _in_order(path, "created_at", step.created_at.date(), "due_date", step.due_date)


def _referrals(record: Record) -> Iterable[Problem]:
    for i, referral in enumerate(record.referrals):
        path = f"referrals[{i}]"
        if not referral.service.strip():
            yield Problem(f"{path}.service", "a referral needs the service asked for")
        times = [change.at for change in referral.history]
        for n in range(1, len(times)):
            if times[n] < times[n - 1]:
                yield Problem(f"{path}.history[{n}].at", "status changes must be listed oldest first")
        if referral.history and referral.history[-1].status != referral.status:
            yield Problem(
                f"{path}.status",
                f"the status must be the last status in the history ({referral.history[-1].status})",
            )
        if referral.result and referral.status != "completed":
            yield Problem(f"{path}.result", "only a completed referral has a result")
        appointment = referral.appointment
        if appointment and referral.history and appointment.starts_at < referral.history[0].at:
            yield Problem(f"{path}.appointment.starts_at", "the appointment cannot come before the referral")


def _plans(record: Record) -> Iterable[Problem]:
    for i, plan in enumerate(record.care_plans):
        yield from _in_order(f"care_plans[{i}]", "period_start", plan.period_start, "period_end", plan.period_end)


def _transition_goals(record: Record) -> Iterable[Problem]:
    """A transition plan's goals are the youth's own, in the youth's words: goals the child expressed."""
    goals = {goal.id: goal for goal in record.goals}
    for i, transition in enumerate(record.transition_plans):
        for n, value in enumerate(transition.goal_ids):
            goal = goals.get(value)
            if goal is not None and goal.expressed_by_id != record.child.id:
                yield Problem(
                    f"transition_plans[{i}].goal_ids[{n}]",
                    f"goal {value!r} is not expressed by the child; a transition plan holds the youth's own goals",
                )


def _others(record: Record) -> Iterable[Problem]:
    for i, consent in enumerate(record.consents):
        yield from _in_order(f"consents[{i}]", "valid_from", consent.valid_from, "valid_until", consent.valid_until)
        if consent.recipient_id is None:
            yield Problem(f"consents[{i}].recipient_id", "a consent needs the organization it allows to receive")
    for i, review in enumerate(record.reviews):
        if review.reviewed_on is None:
            yield Problem(f"reviews[{i}].reviewed_on", "a review needs the date it took place")
        if not review.outcome.strip():
            yield Problem(f"reviews[{i}].outcome", "a review needs its outcome")
        yield from _in_order(
            f"reviews[{i}]", "reviewed_on", review.reviewed_on, "next_review_due", review.next_review_due
        )
    for i, need in enumerate(record.needs):
        if not need.description.strip():
            yield Problem(f"needs[{i}].description", "a need needs a description")
    birth = record.child.birth_date
    if birth:
        for i, goal in enumerate(record.goals):
            if goal.target_date and goal.target_date < birth:
                yield Problem(f"goals[{i}].target_date", "the target date is before the child was born")


def _in_order(
    path: str,
    first_name: str,
    first: date | datetime | None,
    second_name: str,
    second: date | datetime | None,
) -> Iterable[Problem]:
    if first is not None and second is not None and second < first:
        yield Problem(f"{path}.{second_name}", f"{second_name} ({second}) is before {first_name} ({first})")


def _references(record: Record, outside_organizations: Set[str]) -> Iterable[Problem]:
    named = all_ids(record)

    def check(path: str, value: str | None, *kinds: str) -> Iterable[Problem]:
        if value is None:
            return
        kind = named.get(value)
        if kind is None:
            yield Problem(path, f"refers to {value!r}, which is not in the record")
        elif kinds and kind not in kinds:
            yield Problem(path, f"refers to {value!r}, a {kind}; expected a {' or '.join(kinds)}")

    party = ("child", "family member", "team member", "organization")
    for t, team in enumerate(record.care_teams):
        for m, member in enumerate(team.members):
            path = f"care_teams[{t}].members[{m}]"
            yield from check(f"{path}.family_member_id", member.family_member_id, "family member")
            yield from check(f"{path}.organization_id", member.organization_id, "organization")
    for i, assessment in enumerate(record.assessments):
        yield from check(f"assessments[{i}].assessor_id", assessment.assessor_id, "team member")
        yield from check(f"assessments[{i}].informant_id", assessment.informant_id, "family member", "child")
    for i, need in enumerate(record.needs):
        yield from check(f"needs[{i}].assessment_id", need.assessment_id, "needs assessment")
    for i, level in enumerate(record.complexity):
        yield from check(f"complexity[{i}].basis_assessment_id", level.basis_assessment_id, "needs assessment")
        yield from check(f"complexity[{i}].assessor_id", level.assessor_id, "team member")
    if record.medical_summary:
        yield from check("medical_summary.author_id", record.medical_summary.author_id, "team member")
    for i, plan in enumerate(record.care_plans):
        path = f"care_plans[{i}]"
        yield from check(f"{path}.author_id", plan.author_id, "team member")
        for n, value in enumerate(plan.care_team_ids):
            yield from check(f"{path}.care_team_ids[{n}]", value, "care team")
        for n, value in enumerate(plan.addresses):
            yield from check(f"{path}.addresses[{n}]", value, "need", "diagnosis")
        for n, value in enumerate(plan.goal_ids):
            yield from check(f"{path}.goal_ids[{n}]", value, "goal")
        for n, value in enumerate(plan.activities):
            yield from check(f"{path}.activities[{n}]", value, "action step", "referral")
    for i, goal in enumerate(record.goals):
        yield from check(f"goals[{i}].expressed_by_id", goal.expressed_by_id, "child", "family member", "team member")
        for n, agreement in enumerate(goal.agreements):
            yield from check(f"goals[{i}].agreements[{n}].party_id", agreement.party_id, *party)
        for n, value in enumerate(goal.addresses):
            yield from check(f"goals[{i}].addresses[{n}]", value, "need", "diagnosis")
        for n, note in enumerate(goal.progress_notes):
            yield from check(f"goals[{i}].progress_notes[{n}].author_id", note.author_id, *party)
    for i, step in enumerate(record.action_steps):
        yield from check(f"action_steps[{i}].responsible_id", step.responsible_id, *party)
        yield from check(f"action_steps[{i}].goal_id", step.goal_id, "goal")
        yield from check(f"action_steps[{i}].referral_id", step.referral_id, "referral")
    for i, emergency in enumerate(record.emergency_plans):
        yield from check(f"emergency_plans[{i}].part_of_id", emergency.part_of_id, "care plan")
        yield from check(f"emergency_plans[{i}].preferred_hospital_id", emergency.preferred_hospital_id, "organization")
        for n, value in enumerate(emergency.emergency_contact_ids):
            yield from check(f"emergency_plans[{i}].emergency_contact_ids[{n}]", value, "family member")
    for i, referral in enumerate(record.referrals):
        recipient = referral.recipient_id
        # An organization of the directory may be referred to before the record holds it.
        if recipient is None or recipient in named or recipient not in outside_organizations:
            yield from check(f"referrals[{i}].recipient_id", recipient, "organization", "team member")
        yield from check(f"referrals[{i}].requester_id", referral.requester_id, "team member")
        yield from check(f"referrals[{i}].goal_id", referral.goal_id, "goal")
    for i, review in enumerate(record.reviews):
        yield from check(f"reviews[{i}].plan_id", review.plan_id, "care plan")
        for n, value in enumerate(review.participant_ids):
            yield from check(f"reviews[{i}].participant_ids[{n}]", value, *party)
    for i, consent in enumerate(record.consents):
        yield from check(f"consents[{i}].granted_by_id", consent.granted_by_id, "family member", "child")
        yield from check(f"consents[{i}].recipient_id", consent.recipient_id, "organization")
    for i, transition in enumerate(record.transition_plans):
        yield from check(f"transition_plans[{i}].author_id", transition.author_id, "team member")
        for n, value in enumerate(transition.goal_ids):
            yield from check(f"transition_plans[{i}].goal_ids[{n}]", value, "goal")
