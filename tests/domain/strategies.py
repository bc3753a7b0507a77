"""Hypothesis strategies for whole, coherent care-coordination records: every reference names a part of
the record of a kind that FHIR allows there."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, get_args

from hypothesis import strategies as st

from fhirbridge.domain import (
    ActionStep,
    Appointment,
    CarePlan,
    CareTeam,
    Child,
    ComplexityAssessment,
    ConsentToShare,
    Diagnosis,
    EmergencyPlan,
    EmergencyScenario,
    FamilyMember,
    Goal,
    GoalAgreement,
    Identifier,
    MedicalSummary,
    Need,
    NeedsAssessment,
    Organization,
    ProgressNote,
    Record,
    Referral,
    Review,
    StatusChange,
    TeamMember,
)
from fhirbridge.domain.assessment import AssessmentMethod, NeedPriority, NeedStatus, Readiness
from fhirbridge.domain.common import NEED_DOMAINS
from fhirbridge.domain.consent import SHARED_INFORMATION
from fhirbridge.domain.people import FamilyRole, Relationship
from fhirbridge.domain.plan import ActionStepStatus, DiagnosisStatus, GoalAchievement, GoalStatus, PlanStatus
from fhirbridge.domain.referral import ReferralPriority, ReferralStatus
from fhirbridge.domain.review import ReviewTrigger
from fhirbridge.domain.team import MemberRole, OrganizationKind

__all__ = ["records"]

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789&<>'é", min_size=1, max_size=8)
texts = st.lists(words, min_size=1, max_size=4).map(" ".join)
days = st.dates(min_value=date(2005, 1, 1), max_value=date(2035, 12, 31))
zones = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))])
instants = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2035, 1, 1), timezones=zones)


def codes(literal: Any) -> st.SearchStrategy[str]:
    return st.sampled_from(get_args(literal))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def some(strategy: st.SearchStrategy[Any], most: int = 2) -> st.SearchStrategy[list[Any]]:
    return st.lists(strategy, max_size=most)


def one_of_ids(ids: list[str]) -> st.SearchStrategy[str | None]:
    return st.none() | st.sampled_from(ids) if ids else st.none()


def ids_from(ids: list[str], most: int = 2) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(ids), max_size=most, unique=True) if ids else st.just([])


@st.composite
def records(draw: st.DrawFn) -> Record:
    counter = iter(range(10_000))

    def new_id(prefix: str) -> str:
        return f"{prefix}-{next(counter)}"

    child = Child(
        id=new_id("child"),
        given_names=draw(st.lists(words, min_size=1, max_size=2)),
        family_name=draw(maybe(words)),
        birth_date=draw(maybe(days)),
        gender=draw(st.sampled_from(["male", "female", "other", "unknown"])),
        identifiers=draw(some(st.builds(Identifier, system=st.just("urn:oid:2.16.840.1.113883.4.3.25"), value=words))),
        language=draw(maybe(st.sampled_from(["en", "es", "vi", "so"]))),
        interpreter_needed=draw(maybe(st.booleans())),
    )
    family = [
        FamilyMember(
            id=new_id("family"),
            given_names=draw(st.lists(words, min_size=1, max_size=2)),
            family_name=draw(maybe(words)),
            relationship=draw(maybe(codes(Relationship))),
            roles=draw(st.lists(codes(FamilyRole), max_size=3, unique=True)),
            phone=draw(maybe(words)),
            email=draw(maybe(words)),
            language=draw(maybe(st.sampled_from(["en", "es"]))),
            interpreter_needed=draw(maybe(st.booleans())),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    organizations = [
        Organization(
            id=new_id("org"),
            name=draw(texts),
            kind=draw(codes(OrganizationKind)),
            phone=draw(maybe(words)),
            active=draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    family_ids = [member.id for member in family]
    org_ids = [organization.id for organization in organizations]
    teams = []
    for _ in range(draw(st.integers(0, 2))):
        members = []
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["staff", "family", "organization"]))
            common: dict[str, Any] = {
                "id": new_id("member"),
                "role": draw(codes(MemberRole)),
                "role_text": draw(maybe(texts)),
                "responsibilities": draw(some(texts)),
                "since": draw(maybe(days)),
            }
            if kind == "staff" or not (family_ids or org_ids):
                members.append(
                    TeamMember(
                        **common,
                        name=draw(texts),
                        organization_id=draw(one_of_ids(org_ids)),
                        phone=draw(maybe(words)),
                        email=draw(maybe(words)),
                    )
                )
            elif kind == "family" and family_ids:
                members.append(
                    TeamMember(
                        **common,
                        family_member_id=draw(st.sampled_from(family_ids)),
                        organization_id=draw(one_of_ids(org_ids)),
                    )
                )
            elif org_ids:
                members.append(TeamMember(**common, organization_id=draw(st.sampled_from(org_ids))))
        teams.append(
            CareTeam(
                id=new_id("team"),
                name=draw(maybe(texts)),
                status=draw(st.sampled_from(["proposed", "active", "suspended", "inactive"])),
                members=members,
            )
        )
    staff = [m.id for t in teams for m in t.members if m.name]
    people = [child.id, *family_ids, *staff]
    parties = [*people, *org_ids]
    assessments = [
        NeedsAssessment(
            id=new_id("assessment"),
            status=draw(st.sampled_from(["in-progress", "completed", "amended", "stopped"])),
            assessed_at=draw(maybe(instants)),
            method=draw(maybe(codes(AssessmentMethod))),
            assessor_id=draw(one_of_ids(staff)),
            informant_id=draw(one_of_ids([child.id, *family_ids])),
            domains_reviewed=draw(st.lists(st.sampled_from(NEED_DOMAINS), max_size=3, unique=True)),
            strengths=draw(some(texts)),
            family_goals=draw(some(texts)),
            readiness=draw(maybe(codes(Readiness))),
        )
        for _ in range(draw(st.integers(0, 1)))
    ]
    assessment_ids = [item.id for item in assessments]
    needs = [
        Need(
            id=new_id("need"),
            description=draw(texts),
            domain=draw(maybe(st.sampled_from(NEED_DOMAINS))),
            priority=draw(maybe(codes(NeedPriority))),
            status=draw(codes(NeedStatus)),
            identified_on=draw(maybe(days)),
            assessment_id=draw(one_of_ids(assessment_ids)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    diagnoses = [
        Diagnosis(
            id=new_id("diagnosis"),
            description=draw(texts),
            code=draw(maybe(st.sampled_from(["G80.9", "F84.0", "Q90.9"]))),
            code_system="http://hl7.org/fhir/sid/icd-10-cm",
            status=draw(maybe(codes(DiagnosisStatus))),
            onset=draw(maybe(days)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    diagnoses = [d if d.code else d.model_copy(update={"code_system": None}) for d in diagnoses]
    concerns = [item.id for item in needs] + [item.id for item in diagnoses]
    complexity = [
        ComplexityAssessment(
            id=new_id("complexity"),
            level=draw(st.sampled_from(["low", "moderate", "high"])),
            assessed_at=draw(maybe(instants)),
            basis_assessment_id=draw(one_of_ids(assessment_ids)),
            assessor_id=draw(one_of_ids(staff)),
            rationale=draw(maybe(texts)),
        )
        for _ in range(draw(st.integers(0, 1)))
    ]
    goals = [
        Goal(
            id=new_id("goal"),
            description=draw(texts),
            domain=draw(maybe(st.sampled_from(NEED_DOMAINS))),
            measure=draw(maybe(texts)),
            start_date=draw(maybe(days)),
            target_date=draw(maybe(days)),
            expressed_by_id=draw(one_of_ids(people)),
            agreements=draw(
                some(
                    st.builds(
                        GoalAgreement,
                        party_id=one_of_ids(parties),
                        status=st.sampled_from(["agree", "disagree", "pending"]),
                    )
                )
            ),
            status=draw(codes(GoalStatus)),
            achievement=draw(maybe(codes(GoalAchievement))),
            addresses=draw(ids_from(concerns)),
            progress_notes=draw(
                some(st.builds(ProgressNote, text=texts, written_at=maybe(instants), author_id=one_of_ids(parties)))
            ),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    goal_ids = [item.id for item in goals]
    referrals = []
    for _ in range(draw(st.integers(0, 2))):
        times = sorted(draw(st.lists(instants, max_size=3)))
        history = [StatusChange(status=draw(codes(ReferralStatus)), at=at, note=draw(maybe(texts))) for at in times]
        status = history[-1].status if history else draw(codes(ReferralStatus))
        referrals.append(
            Referral(
                id=new_id("referral"),
                service=draw(texts),
                reason=draw(maybe(texts)),
                recipient_id=draw(one_of_ids([*org_ids, *staff])),
                requester_id=draw(one_of_ids(staff)),
                goal_id=draw(one_of_ids(goal_ids)),
                priority=draw(codes(ReferralPriority)),
                status=status,
                history=history,
                appointment=draw(
                    maybe(
                        st.builds(
                            Appointment,
                            starts_at=instants,
                            ends_at=maybe(instants),
                            status=st.sampled_from(["proposed", "booked", "fulfilled", "cancelled", "noshow"]),
                            description=maybe(texts),
                        )
                    )
                ),
                result=draw(maybe(texts)),
                result_date=draw(maybe(days)),
            )
        )
    referral_ids = [item.id for item in referrals]
    steps = [
        ActionStep(
            id=new_id("step"),
            description=draw(texts),
            responsible_id=draw(one_of_ids(parties)),
            due_date=draw(maybe(days)),
            status=draw(codes(ActionStepStatus)),
            goal_id=draw(one_of_ids(goal_ids)),
            referral_id=draw(one_of_ids(referral_ids)),
            created_at=draw(maybe(instants)),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    team_ids = [team.id for team in teams]
    activities = [step.id for step in steps] + referral_ids
    plans = [
        CarePlan(
            id=new_id("plan"),
            title=draw(maybe(texts)),
            description=draw(maybe(texts)),
            status=draw(codes(PlanStatus)),
            period_start=draw(maybe(days)),
            period_end=draw(maybe(days)),
            created_at=draw(maybe(instants)),
            author_id=draw(one_of_ids(staff)),
            care_team_ids=draw(ids_from(team_ids)),
            addresses=draw(ids_from(concerns)),
            goal_ids=draw(ids_from(goal_ids)),
            activities=draw(ids_from(activities, 4)),
            notes=draw(some(texts)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    plan_ids = [plan.id for plan in plans]
    # Partners' plans carry some steps inline (activity.detail): such a step sits in exactly one plan.
    for index, step in enumerate(steps):
        holders = [plan for plan in plans if step.id in plan.activities]
        if len(holders) == 1 and step.created_at is None and draw(st.booleans()):
            steps[index] = step.model_copy(update={"recorded_as": "plan-activity"})
    # A record read from FHIR lists Task steps first, then inline steps in plan and activity order.
    order = {step_id: (p, a) for p, plan in enumerate(plans) for a, step_id in enumerate(plan.activities)}
    steps.sort(
        key=lambda step: (
            step.recorded_as == "plan-activity",
            order.get(step.id, (0, 0)) if step.recorded_as == "plan-activity" else (0, 0),
        )
    )
    emergency = [
        EmergencyPlan(
            id=new_id("emergency"),
            part_of_id=draw(one_of_ids(plan_ids)),
            status=draw(codes(PlanStatus)),
            updated_at=draw(maybe(instants)),
            baseline=draw(maybe(texts)),
            scenarios=draw(some(st.builds(EmergencyScenario, problem=texts, management=maybe(texts)))),
            procedures_to_avoid=draw(some(texts)),
            emergency_contact_ids=draw(ids_from(family_ids)),
            preferred_hospital_id=draw(one_of_ids(org_ids)),
        )
        for _ in range(draw(st.integers(0, 1)))
    ]
    summary = draw(
        maybe(
            st.builds(
                MedicalSummary,
                id=st.just(new_id("summary")),
                written_at=instants,
                author_id=one_of_ids(staff),
                medications=some(texts),
                allergies=some(texts),
                equipment=some(texts),
                hospitalizations=some(texts),
            )
        )
    )
    reviews = [
        Review(
            id=new_id("review"),
            reviewed_on=draw(maybe(days)),
            trigger=draw(codes(ReviewTrigger)),
            plan_id=draw(one_of_ids(plan_ids)),
            participant_ids=draw(ids_from(parties, 3)),
            outcome=draw(texts),
            changes=draw(some(texts)),
            next_review_due=draw(maybe(days)),
        )
        for _ in range(draw(st.integers(0, 1)))
    ]
    consents = [
        ConsentToShare(
            id=new_id("consent"),
            status=draw(st.sampled_from(["draft", "proposed", "active", "rejected", "inactive"])),
            granted_by_id=draw(one_of_ids([child.id, *family_ids])),
            recipient_id=draw(one_of_ids(org_ids)),
            information=draw(st.lists(st.sampled_from(SHARED_INFORMATION), max_size=3, unique=True)),
            signed_on=draw(maybe(days)),
            valid_from=draw(maybe(days)),
            valid_until=draw(maybe(days)),
        )
        for _ in range(draw(st.integers(0, 1)))
    ]
    return Record(
        child=child,
        family=family,
        organizations=organizations,
        care_teams=teams,
        assessments=assessments,
        needs=needs,
        complexity=complexity,
        diagnoses=diagnoses,
        medical_summary=summary,
        care_plans=plans,
        goals=goals,
        action_steps=steps,
        emergency_plans=emergency,
        referrals=referrals,
        reviews=reviews,
        consents=consents,
    )
