"""A small world of two practices' children for the caseload and worklist tests, written out by hand so that
the expected worklist can be worked out by hand too (tests/server/test_worklist.py says how).

Riverside (coordinator Dana Whitfield, ``Practitioner/coord-a``) coordinates Ana, Ben, Cara, Dan, Eve and
Gus; Northside (Sam Lee, ``Practitioner/coord-b``) coordinates Fay, and Ben too. Every relation comes from a
CareTeam, as on a server shared by several practices (``care-team`` mode).
"""

from __future__ import annotations

from typing import Any

from tests.factories import care_plan, care_team, goal, organization, patient, task

AS_OF = "2026-03-01"
BASE = "http://fhirbridge.org/fhir"
TASK_KIND = f"{BASE}/CodeSystem/task-kind"
PLAN_KIND = f"{BASE}/CodeSystem/care-plan-kind"
GOAL_ACCEPTANCE = "http://hl7.org/fhir/StructureDefinition/goal-acceptance"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
CASELOAD_PROFILE = f"{BASE}/StructureDefinition/fhirbridge-caseload-group"
COORDINATOR_A = "Practitioner/coord-a"
COORDINATOR_B = "Practitioner/coord-b"

Resource = dict[str, Any]


def caseload(id: str, manager: str, *members: str | Resource, name: str = "Caseload") -> Resource:
    """A caseload Group as the profile has it; a member given as a string is that child, always in it."""
    return {
        "resourceType": "Group",
        "id": id,
        "meta": {"profile": [CASELOAD_PROFILE]},
        "type": "person",
        "actual": True,
        "code": {"coding": [{"system": f"{BASE}/CodeSystem/group-kind", "code": "caseload"}]},
        "name": name,
        "managingEntity": {"reference": manager},
        "member": [
            {"entity": {"reference": f"Patient/{member}"}} if isinstance(member, str) else member for member in members
        ],
    }


def riverside_caseload() -> Resource:
    """Dana's caseload: Ana, Ben, Cara on it now; Dan marked inactive; Eve's membership ended in January;
    Gus, whose record the tests may delete."""
    return caseload(
        "caseload-a",
        COORDINATOR_A,
        "ana",
        "ben",
        "cara",
        {"entity": {"reference": "Patient/dan"}, "inactive": True},
        {"entity": {"reference": "Patient/eve"}, "period": {"start": "2025-01-01", "end": "2026-01-31"}},
        name="Dana Whitfield's caseload",
    )


def world() -> list[Resource]:
    return [
        organization("riverside"),
        organization("northside"),
        organization("therapy-clinic", name="Hill Therapy Clinic"),
        {"resourceType": "Practitioner", "id": "coord-a", "name": [{"given": ["Dana"], "family": "Whitfield"}]},
        {"resourceType": "Practitioner", "id": "coord-b", "name": [{"given": ["Sam"], "family": "Lee"}]},
        patient("ana", family="Perez", given=["Ana"]),
        patient("ben", family="Okafor", given=["Ben"]),
        patient("cara", family="Diaz", given=["Cara"]),
        patient("dan", family="Novak", given=["Dan"]),
        patient("eve", family="Moreau", given=["Eve"]),
        patient("gus", family="Berg", given=["Gus"]),
        patient("fay", family="Khan", given=["Fay"]),
        {
            "resourceType": "RelatedPerson",
            "id": "ana-mother",
            "patient": {"reference": "Patient/ana"},
            "name": [{"given": ["Maria"], "family": "Perez"}],
        },
        *(care_team(f"{child}-team", child, COORDINATOR_A) for child in ("cara", "dan", "eve", "gus")),
        care_team("ana-team", "ana", COORDINATOR_A, "RelatedPerson/ana-mother"),
        care_team("ben-team", "ben", COORDINATOR_A, COORDINATOR_B),
        care_team("fay-team", "fay", COORDINATOR_B),
        *ana(),
        *ben(),
        *cara(),
        *fay(),
        # Dan's and Eve's records hold an overdue step each: their membership is over, so neither counts.
        step("dan-step", "dan", "Overdue, but Dan is no longer on the caseload", due="2026-01-01"),
        step("eve-step", "eve", "Overdue, but Eve left the caseload in January", due="2026-01-01"),
        step("gus-step", "gus", "Overdue step of Gus", due="2026-01-01"),
    ]


def ana() -> list[Resource]:
    """Ana: a plan of care and a high complexity level assessed on 2026-01-02 (due for review 30 days later),
    five action steps, three referrals, five goals, an emergency plan in force."""
    return [
        care_plan("ana-plan", "ana", title="Ana's plan of care", period={"start": "2025-12-01"}),
        emergency_plan("ana-emergency", "ana", partOf=[{"reference": "CarePlan/ana-plan"}]),
        {
            "resourceType": "RiskAssessment",
            "id": "ana-complexity",
            "status": "final",
            "subject": {"reference": "Patient/ana"},
            "occurrenceDateTime": "2026-01-02T10:00:00Z",
            "prediction": [
                {"outcome": {"coding": [{"system": f"{BASE}/CodeSystem/complexity-level", "code": "high"}]}}
            ],
        },
        step("step-a1", "ana", "Call the school nurse", owner=COORDINATOR_A, due="2026-02-20"),
        step(
            "step-a2",
            "ana",
            "Keep a seizure diary",
            owner="RelatedPerson/ana-mother",
            due="2026-03-10",
            status="in-progress",
        ),
        step("step-a3", "ana", "Ask about summer camp", owner=COORDINATOR_A, due="2026-04-30"),
        step("step-a4", "ana", "Done already", owner=COORDINATOR_A, due="2026-01-01", status="completed"),
        step("step-a5", "ana", "Find a respite provider"),
        referral_request("ref-a1", "ana", "Physical therapy evaluation", authored="2026-01-30"),
        referral_task("ref-a1-task", "ana", "ref-a1", status="requested", authored="2026-01-30T09:00:00Z"),
        referral_request("ref-a2", "ana", "Audiology", authored="2026-02-15"),
        referral_request("ref-a3", "ana", "Orthopedics", authored="2025-11-02", status="completed"),
        referral_task("ref-a3-task", "ana", "ref-a3", status="completed", authored="2025-11-02T09:00:00Z"),
        family_goal("goal-a1", "ana", "Walks to class with a walker", ("RelatedPerson/ana-mother", "disagree")),
        family_goal("goal-a2", "ana", "Sleeps through the night", ("RelatedPerson/ana-mother", "agree")),
        family_goal("goal-a3", "ana", "Eats lunch at school"),
        family_goal("goal-a4", "ana", "Finished already", ("RelatedPerson/ana-mother", "disagree"), status="completed"),
        family_goal("goal-a5", "ana", "Joins a swim class", (COORDINATOR_A, "agree")),
    ]


def ben() -> list[Resource]:
    """Ben: no plan of care and no complexity level; his emergency plan was revoked."""
    return [
        emergency_plan("ben-emergency", "ben", status="revoked", period={"start": "2025-06-01", "end": "2026-01-15"}),
    ]


def cara() -> list[Resource]:
    """Cara: a plan written the way partners write them (steps inline), no complexity level, no emergency plan."""
    return [
        care_plan(
            "cara-plan",
            "cara",
            title="Cara's plan of care",
            period={"start": "2026-01-10"},
            activity=[
                {
                    "id": "cara-step-1",
                    "detail": {
                        "status": "in-progress",
                        "description": "Book the hearing test",
                        "performer": [{"reference": COORDINATOR_A}],
                        "scheduledPeriod": {"end": "2026-02-25"},
                    },
                },
                {"detail": {"status": "completed", "description": "Done", "scheduledPeriod": {"end": "2026-01-01"}}},
                {"detail": {"status": "not-started", "doNotPerform": True, "code": {"text": "MRI without sedation"}}},
            ],
        ),
    ]


def fay() -> list[Resource]:
    """Fay (Northside's only): an emergency plan in force, nothing else."""
    return [emergency_plan("fay-emergency", "fay")]


def step(
    id: str,
    child: str,
    description: str,
    *,
    owner: str | None = None,
    due: str | None = None,
    status: str = "requested",
) -> Resource:
    return task(
        id,
        child,
        status=status,
        intent="plan",
        code={"coding": [{"system": TASK_KIND, "code": "action-step"}]},
        description=description,
        owner={"reference": owner} if owner else None,
        restriction={"period": {"end": due}} if due else None,
    )


def emergency_plan(id: str, child: str, *, status: str = "active", **elements: Any) -> Resource:
    return care_plan(
        id,
        child,
        status=status,
        title="Emergency treatment plan",
        category=[{"coding": [{"system": PLAN_KIND, "code": "emergency-plan"}]}],
        **elements,
    )


def referral_request(id: str, child: str, service: str, *, authored: str, status: str = "active") -> Resource:
    return {
        "resourceType": "ServiceRequest",
        "id": id,
        "status": status,
        "intent": "order",
        "code": {"text": service},
        "subject": {"reference": f"Patient/{child}"},
        "requester": {"reference": COORDINATOR_A},
        "performer": [{"reference": "Organization/therapy-clinic"}],
        "authoredOn": authored,
    }


def referral_task(id: str, child: str, request: str, *, status: str, authored: str) -> Resource:
    return task(
        id,
        child,
        status=status,
        code={"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
        focus={"reference": f"ServiceRequest/{request}"},
        requester={"reference": COORDINATOR_A},
        owner={"reference": "Organization/therapy-clinic"},
        authoredOn=authored,
    )


def family_goal(id: str, child: str, description: str, *answers: tuple[str, str], status: str = "active") -> Resource:
    acceptances = [
        {
            "url": GOAL_ACCEPTANCE,
            "extension": [
                {"url": "individual", "valueReference": {"reference": individual}},
                {"url": "status", "valueCode": answer},
            ],
        }
        for individual, answer in answers
    ]
    return goal(id, child, description_text=description, status=status, extension=acceptances or None)


__all__ = [
    "AS_OF",
    "COORDINATOR_A",
    "COORDINATOR_B",
    "caseload",
    "riverside_caseload",
    "world",
]
