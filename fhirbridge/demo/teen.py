"""Aisha, 16: autism and generalized anxiety, learning to manage her own care and moving to adult
primary care by 18."""

from __future__ import annotations

from fhirbridge.demo._common import at, day, medical_home, medical_home_staff
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

__all__ = ["teen_preparing_for_adult_care"]

P = "aisha"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def teen_preparing_for_adult_care() -> Record:
    return Record(
        child=Child(
            id=P,
            given_names=["Aisha"],
            family_name="Mohammed",
            birth_date=day(2009, 5, 20),
            gender="female",
            identifiers=[Identifier(system="http://riverside.example.org/mrn", value="RP-077310")],
            language="en",
        ),
        family=[
            FamilyMember(
                id=f"{P}-father",
                given_names=["Omar"],
                family_name="Mohammed",
                relationship="FTH",
                roles=["legal-guardian", "emergency-contact"],
                phone="555-0320",
                language="so",
                interpreter_needed=False,
            ),
            FamilyMember(
                id=f"{P}-mother",
                given_names=["Fatima"],
                family_name="Mohammed",
                relationship="MTH",
                roles=["primary-caregiver", "legal-guardian", "emergency-contact"],
                phone="555-0321",
                language="so",
                interpreter_needed=True,
            ),
        ],
        organizations=[
            medical_home(P),
            Organization(id=f"{P}-adult-practice", name="Northside Adult Primary Care", kind="medical-home"),
            Organization(id=f"{P}-behavioral", name="Community Behavioral Health", kind="community-agency"),
            Organization(
                id=f"{P}-voc-rehab", name="State Vocational Rehabilitation", kind="community-agency"
            ),
            Organization(id=f"{P}-school", name="Central High School", kind="school"),
            Organization(id=f"{P}-hospital", name="Children's Hospital", kind="hospital"),
        ],
        care_teams=[
            CareTeam(
                id=f"{P}-team",
                name="Aisha's care team",
                members=[
                    *medical_home_staff(P),
                    TeamMember(
                        id=f"{P}-therapist",
                        role="therapist",
                        role_text="Cognitive behavioral therapist",
                        name="Martin Greer",
                        organization_id=f"{P}-behavioral",
                        responsibilities=["Weekly CBT for anxiety"],
                    ),
                    TeamMember(
                        id=f"{P}-counselor",
                        role="school-staff",
                        role_text="School counselor",
                        name="Janelle Ortiz",
                        organization_id=f"{P}-school",
                        responsibilities=["504 plan: exam accommodations"],
                    ),
                    TeamMember(
                        id=f"{P}-team-mother",
                        role="family",
                        role_text="Mother",
                        family_member_id=f"{P}-mother",
                    ),
                ],
            )
        ],
        assessments=[
            NeedsAssessment(
                id=f"{P}-assessment-1",
                assessed_at=at(2025, 6, 2, 15),
                method="in-person",
                assessor_id=f"{P}-coordinator",
                informant_id=P,
                domains_reviewed=["behavioral", "school", "insurance", "cultural", "language", "development"],
                strengths=[
                    "Aisha is an excellent artist and wants to study graphic design",
                    "Close, supportive extended family",
                ],
                family_goals=[
                    "Aisha handles her own appointments before college",
                    "Fewer panic attacks at school",
                ],
                readiness="considering",
            )
        ],
        needs=[
            Need(
                id=f"{P}-need-anxiety",
                description="Panic attacks before exams",
                domain="behavioral",
                priority="high",
                status="being-addressed",
                identified_on=day(2025, 6, 2),
                assessment_id=f"{P}-assessment-1",
            ),
            Need(
                id=f"{P}-need-transition",
                description="No adult primary care practice chosen yet",
                domain="medical",
                priority="medium",
                status="being-addressed",
                identified_on=day(2025, 6, 2),
                assessment_id=f"{P}-assessment-1",
            ),
            Need(
                id=f"{P}-need-self-care",
                description="Does not yet book appointments or refill medicines",
                domain="development",
                priority="medium",
                status="identified",
                identified_on=day(2025, 6, 2),
                assessment_id=f"{P}-assessment-1",
            ),
            Need(
                id=f"{P}-need-interpreter",
                description="Somali interpreter for the mother at visits",
                domain="language",
                priority="low",
                status="met",
                identified_on=day(2025, 6, 2),
                assessment_id=f"{P}-assessment-1",
            ),
        ],
        complexity=[
            ComplexityAssessment(
                id=f"{P}-complexity-1",
                level="moderate",
                assessed_at=at(2025, 6, 2, 16),
                basis_assessment_id=f"{P}-assessment-1",
                assessor_id=f"{P}-coordinator",
                rationale="Stable health; transition planning; review every 3 months",
            )
        ],
        diagnoses=[
            Diagnosis(
                id=f"{P}-dx-autism",
                description="Autism spectrum disorder",
                code="F84.0",
                code_system=ICD10,
                onset=day(2013, 10, 8),
            ),
            Diagnosis(
                id=f"{P}-dx-anxiety",
                description="Generalized anxiety disorder",
                code="F41.1",
                code_system=ICD10,
                onset=day(2023, 2, 14),
            ),
        ],
        medical_summary=MedicalSummary(
            id=f"{P}-summary",
            written_at=at(2025, 6, 3, 10),
            author_id=f"{P}-pcp",
            medications=["Sertraline 50 mg by mouth daily"],
            allergies=["Amoxicillin (rash)"],
            equipment=["Noise-cancelling headphones"],
            hospitalizations=[],
        ),
        care_plans=[
            CarePlan(
                id=f"{P}-plan",
                title="Aisha's plan of care and transition plan",
                status="active",
                period_start=day(2025, 6, 3),
                period_end=day(2027, 5, 20),
                created_at=at(2025, 6, 3, 11),
                author_id=f"{P}-coordinator",
                care_team_ids=[f"{P}-team"],
                addresses=[f"{P}-need-anxiety", f"{P}-need-transition", f"{P}-need-self-care"],
                goal_ids=[f"{P}-goal-self-care", f"{P}-goal-adult-care", f"{P}-goal-exams"],
                activities=[
                    f"{P}-ref-cbt",
                    f"{P}-step-portal",
                    f"{P}-step-refill",
                    f"{P}-ref-adult",
                    f"{P}-step-504",
                    f"{P}-ref-voc-rehab",
                ],
            )
        ],
        goals=[
            Goal(
                id=f"{P}-goal-self-care",
                description="I can book my own appointments and refill my medicine",
                domain="development",
                measure="Books two appointments and one refill without help",
                start_date=day(2025, 6, 3),
                target_date=day(2026, 6, 1),
                expressed_by_id=P,
                agreements=[
                    GoalAgreement(party_id=P, status="agree"),
                    GoalAgreement(party_id=f"{P}-mother", status="agree"),
                ],
                status="active",
                achievement="improving",
                addresses=[f"{P}-need-self-care"],
                progress_notes=[
                    ProgressNote(
                        text="Booked her own dental cleaning on the portal",
                        written_at=at(2025, 8, 12, 10),
                        author_id=P,
                    )
                ],
            ),
            Goal(
                id=f"{P}-goal-adult-care",
                description="Move to an adult primary care practice by 18 with a warm handoff",
                domain="medical",
                measure="First adult visit done; summary received",
                target_date=day(2027, 5, 20),
                expressed_by_id=f"{P}-pcp",
                agreements=[
                    GoalAgreement(party_id=P, status="agree"),
                    GoalAgreement(party_id=f"{P}-father", status="pending"),
                ],
                status="active",
                achievement="in-progress",
                addresses=[f"{P}-need-transition"],
            ),
            Goal(
                id=f"{P}-goal-exams",
                description="Get through exam week without a panic attack",
                domain="behavioral",
                measure="No panic attacks in the December exam week",
                target_date=day(2025, 12, 19),
                expressed_by_id=P,
                agreements=[GoalAgreement(party_id=P, status="agree")],
                status="active",
                achievement="improving",
                addresses=[f"{P}-need-anxiety"],
            ),
        ],
        action_steps=[
            ActionStep(
                id=f"{P}-step-portal",
                description="Set up Aisha's own patient portal account",
                responsible_id=f"{P}-coordinator",
                due_date=day(2025, 7, 1),
                status="completed",
                goal_id=f"{P}-goal-self-care",
                created_at=at(2025, 6, 3, 11),
            ),
            ActionStep(
                id=f"{P}-step-refill",
                description="Request the next sertraline refill herself",
                responsible_id=P,
                due_date=day(2025, 9, 15),
                status="in-progress",
                goal_id=f"{P}-goal-self-care",
                created_at=at(2025, 6, 3, 11),
            ),
            ActionStep(
                id=f"{P}-step-504",
                description="Update the 504 plan with a quiet exam room",
                responsible_id=f"{P}-counselor",
                due_date=day(2025, 11, 1),
                status="planned",
                goal_id=f"{P}-goal-exams",
                created_at=at(2025, 6, 3, 11),
            ),
        ],
        emergency_plans=[
            EmergencyPlan(
                id=f"{P}-emergency",
                part_of_id=f"{P}-plan",
                updated_at=at(2025, 6, 3, 11),
                baseline="Speaks fluently but may go quiet when overwhelmed; "
                "sensitive to noise and bright light",
                scenarios=[
                    EmergencyScenario(
                        problem="Panic attack or sensory overload",
                        management="Quiet, dim room; let her use headphones; explain each "
                        "step before touching",
                    )
                ],
                procedures_to_avoid=["Physical restraint unless there is immediate danger", "Amoxicillin"],
                emergency_contact_ids=[f"{P}-mother", f"{P}-father"],
                preferred_hospital_id=f"{P}-hospital",
            )
        ],
        referrals=[
            Referral(
                id=f"{P}-ref-cbt",
                service="Cognitive behavioral therapy for anxiety",
                reason="Panic attacks before exams",
                recipient_id=f"{P}-therapist",
                requester_id=f"{P}-pcp",
                goal_id=f"{P}-goal-exams",
                status="in-progress",
                history=[
                    StatusChange(status="requested", at=at(2025, 6, 3, 12)),
                    StatusChange(status="accepted", at=at(2025, 6, 9, 9)),
                    StatusChange(status="in-progress", at=at(2025, 6, 23, 16), note="Weekly sessions"),
                ],
            ),
            Referral(
                id=f"{P}-ref-adult",
                service="Adult primary care: new patient transfer",
                reason="Transition to adult care",
                recipient_id=f"{P}-adult-practice",
                requester_id=f"{P}-pcp",
                goal_id=f"{P}-goal-adult-care",
                status="accepted",
                history=[
                    StatusChange(status="requested", at=at(2025, 9, 1, 10)),
                    StatusChange(status="accepted", at=at(2025, 9, 8, 14)),
                ],
                appointment=Appointment(
                    starts_at=at(2026, 1, 12, 14),
                    ends_at=at(2026, 1, 12, 15),
                    description="Meet-and-greet visit with Aisha and her mother",
                ),
            ),
            Referral(
                id=f"{P}-ref-voc-rehab",
                service="Vocational rehabilitation pre-employment services",
                reason="Career planning toward graphic design",
                recipient_id=f"{P}-voc-rehab",
                requester_id=f"{P}-coordinator",
                status="draft",
            ),
        ],
        reviews=[
            Review(
                id=f"{P}-review-1",
                reviewed_on=day(2025, 9, 2),
                trigger="scheduled",
                plan_id=f"{P}-plan",
                participant_ids=[P, f"{P}-mother", f"{P}-coordinator"],
                outcome="Self-care goal improving; adult practice chosen by Aisha",
                changes=["Added adult primary care referral"],
                next_review_due=day(2025, 12, 2),
            ),
        ],
        consents=[
            ConsentToShare(
                id=f"{P}-consent-adult",
                granted_by_id=P,
                recipient_id=f"{P}-adult-practice",
                information=["medical-summary", "care-plan", "care-team", "emergency-plan"],
                signed_on=day(2025, 9, 1),
                valid_from=day(2025, 9, 1),
                valid_until=day(2027, 9, 1),
            ),
            ConsentToShare(
                id=f"{P}-consent-school",
                granted_by_id=f"{P}-father",
                recipient_id=f"{P}-school",
                information=["goals"],
                signed_on=day(2025, 6, 3),
                valid_until=day(2026, 6, 30),
            ),
        ],
    )
