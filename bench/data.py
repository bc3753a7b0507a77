"""Synthetic, reproducible pediatric care-coordination records as FHIR R4 resources.

Every child gets the same shape of record a medical home keeps for a child with special health care
needs: the Patient, two Conditions (problem list), a US Core CarePlan (``assess-plan``, generated
narrative, about 2 KB) with three Goals, two referrals (ServiceRequest) and three action steps (Task), and
eight Observations across the categories a coordinator meets (vital signs, survey, social history).
That is ``RESOURCES_PER_CHILD`` resources, all valid R4 and all referring to each other.

Ids are derived from the child's number (``child-000042``, ``obs-000042-3``), and every varying value
comes from ``random.Random(seed + number)``, so the same child is the same bytes on every run.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fhirbridge.formats.json import SourceDecimal

Resource = dict[str, Any]

SEED = 20260131
RESOURCES_PER_CHILD = 20
# The day the synthetic records are "as of"; fixed so dates (and bytes) never depend on the clock.
AS_OF = date(2026, 1, 31)

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.4711.1"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"

FAMILY_NAMES = ("Nguyen", "Okafor", "Martinez", "Kowalski", "Haddad", "Johnson", "Silva", "Tanaka", "Murphy", "Ali")
GIVEN_NAMES = ("Ava", "Liam", "Maya", "Noah", "Zara", "Eli", "Sofia", "Mateo", "Amara", "Owen", "Leila", "Kai")
PARENT_NAMES = ("Grace", "Daniel", "Fatima", "Marco", "Hannah", "Samuel", "Ines", "Tomasz")
LANGUAGES = (("en", "English"), ("es", "Spanish"), ("vi", "Vietnamese"), ("ar", "Arabic"), ("pl", "Polish"))

# (SNOMED code, display) of conditions common among children with special health care needs.
CONDITIONS = (
    ("128188000", "Cerebral palsy"),
    ("35919005", "Pervasive developmental disorder"),
    ("41040004", "Complete trisomy 21 syndrome"),
    ("84757009", "Epilepsy"),
    ("46635009", "Diabetes mellitus type 1"),
    ("195967001", "Asthma"),
    ("67531005", "Spina bifida"),
    ("406506008", "Attention deficit hyperactivity disorder"),
    ("197480006", "Anxiety disorder"),
    ("248290002", "Developmental delay"),
)
# (need domain, goal description, measure LOINC, measure display, referral service, referral display)
NEEDS = (
    (
        "development",
        "Walk ten steps with a walker at home",
        "89243-0",
        "Mobility score",
        "91251008",
        "Physical therapy procedure",
    ),
    (
        "communication",
        "Use twenty signs or words to ask for things",
        "89286-9",
        "Communication score",
        "5154007",
        "Speech therapy",
    ),
    (
        "school",
        "Attend school four days a week with the agreed IEP supports",
        "89262-0",
        "School attendance",
        "410410006",
        "Screening for educational needs",
    ),
    (
        "nutrition",
        "Gain weight along the 10th percentile curve",
        "29463-7",
        "Body weight",
        "386373004",
        "Nutrition therapy",
    ),
    (
        "behavior",
        "Fewer than two meltdowns a week at home",
        "89204-2",
        "Behavior score",
        "228557008",
        "Cognitive and behavioral therapy",
    ),
    (
        "transition",
        "Book own appointments with the adult clinic",
        "81338-6",
        "Self-management score",
        "410606002",
        "Social service procedure",
    ),
)
PERFORMERS = (
    "Children's Regional Therapy Services",
    "County Early Intervention Program",
    "Lakeside Unified School District",
    "Pediatric Neurology Associates",
    "Family Voices Parent-to-Parent",
)
TASK_STEPS = (
    ("Family", "Bring the seizure diary to the next visit"),
    ("Care coordinator", "Call the family to confirm the therapy start date"),
    ("Primary care provider", "Sign the durable medical equipment order"),
    ("School nurse", "Update the school emergency plan"),
    ("Care coordinator", "Send the plan summary to the specialist before the visit"),
    ("Family", "Complete the Medicaid waiver renewal form"),
)
TASK_STATUSES = ("requested", "accepted", "in-progress", "completed")
SURVEYS = (("44249-1", "PHQ-9 quick depression assessment panel"), ("69737-5", "GAD-7 panel"))


@dataclass(frozen=True)
class Ids:
    """The ids of one child's resources."""

    number: int

    @property
    def tag(self) -> str:
        return f"{self.number:06d}"

    @property
    def patient(self) -> str:
        return f"child-{self.tag}"

    def of(self, prefix: str, index: int | None = None) -> str:
        return f"{prefix}-{self.tag}" if index is None else f"{prefix}-{self.tag}-{index}"


def _decimal(value: float, places: int) -> SourceDecimal:
    """A FHIR decimal as the server keeps it: the exact text the client wrote."""
    return SourceDecimal(f"{Decimal(value):.{places}f}")


def _ref(resource_type: str, id: str, display: str | None = None) -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{id}"}
    if display:
        reference["display"] = display
    return reference


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def _narrative(summary: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{summary}</div>'}


class ChildRecord:
    """One child's resources, generated from the child's number alone."""

    def __init__(self, number: int, seed: int = SEED, *, new: bool = False) -> None:
        # A new record is one about to be sent for the first time: its referrals have just been requested
        # (a referral Task must start as requested); a stored one shows referrals at every stage.
        self.new = new
        self.ids = Ids(number)
        self.rng = random.Random(seed * 1_000_003 + number)
        rng = self.rng
        self.family = rng.choice(FAMILY_NAMES)
        self.given = rng.choice(GIVEN_NAMES)
        self.parent = f"{rng.choice(PARENT_NAMES)} {self.family}"
        self.birth = AS_OF - timedelta(days=rng.randint(200, 17 * 365))
        self.conditions = rng.sample(CONDITIONS, 2)
        self.needs = rng.sample(NEEDS, 3)
        self.plan_start = AS_OF - timedelta(days=rng.randint(20, 300))

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"

    def resources(self) -> list[Resource]:
        resources = [self.patient()]
        resources += [self.condition(i) for i in range(2)]
        resources += [self.goal(i) for i in range(3)]
        resources += [self.service_request(i) for i in range(2)]
        resources += [self.task(i) for i in range(3)]
        resources += [self.observation(i) for i in range(8)]
        resources.insert(1, self.care_plan())
        assert len(resources) == RESOURCES_PER_CHILD
        return resources

    def patient(self) -> Resource:
        language, language_name = self.rng.choice(LANGUAGES)
        return {
            "resourceType": "Patient",
            "id": self.ids.patient,
            "meta": {"profile": [f"{US_CORE}/us-core-patient"]},
            "text": _narrative(f"{self.name}, born {self.birth.isoformat()}"),
            "identifier": [{"use": "usual", "system": MRN_SYSTEM, "value": f"MRN{self.ids.number:08d}"}],
            "active": True,
            "name": [{"use": "official", "family": self.family, "given": [self.given]}],
            "telecom": [{"system": "phone", "value": f"555-01{self.ids.number % 100:02d}", "use": "home"}],
            "gender": self.rng.choice(("female", "male")),
            "birthDate": self.birth.isoformat(),
            "address": [
                {
                    "use": "home",
                    "line": [f"{10 + self.ids.number % 900} Maple Street"],
                    "city": "Springfield",
                    "state": "IL",
                    "postalCode": "62704",
                }
            ],
            "contact": [
                {
                    "relationship": [_concept("http://terminology.hl7.org/CodeSystem/v2-0131", "N", "Next-of-Kin")],
                    "name": {"text": self.parent},
                    "telecom": [{"system": "phone", "value": "555-0199", "use": "mobile"}],
                }
            ],
            "communication": [
                {
                    "language": _concept("urn:ietf:bcp:47", language, language_name),
                    "preferred": True,
                }
            ],
        }

    def condition(self, index: int) -> Resource:
        code, display = self.conditions[index]
        onset = self.birth + timedelta(days=self.rng.randint(30, max(31, (AS_OF - self.birth).days - 1)))
        return {
            "resourceType": "Condition",
            "id": self.ids.of("cond", index),
            "clinicalStatus": _concept(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": _concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
            "category": [_concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": _concept(SNOMED, code, display, text=display),
            "subject": _ref("Patient", self.ids.patient, self.name),
            "onsetDateTime": onset.isoformat(),
            "recordedDate": onset.isoformat(),
        }

    def care_plan(self) -> Resource:
        goals = [need[1] for need in self.needs]
        summary = (
            f"<p>Shared plan of care for {self.name}.</p><ul>"
            + "".join(f"<li>Goal: {goal}</li>" for goal in goals)
            + "</ul>"
        )
        activities: list[dict[str, Any]] = [
            {"reference": _ref("ServiceRequest", self.ids.of("sr", i))} for i in range(2)
        ]
        activities += [{"reference": _ref("Task", self.ids.of("task", i))} for i in range(3)]
        activities.append(
            {
                "detail": {
                    "kind": "Appointment",
                    "code": _concept(SNOMED, "390906007", "Follow-up encounter"),
                    "status": "scheduled",
                    "scheduledString": "Every three months at the medical home",
                    "performer": [{"display": "Springfield Pediatric Medical Home"}],
                    "description": "Review the plan with the family and update goals",
                }
            }
        )
        return {
            "resourceType": "CarePlan",
            "id": self.ids.of("plan"),
            "meta": {"profile": [f"{US_CORE}/us-core-careplan"]},
            "text": _narrative(summary),
            "status": "active",
            "intent": "plan",
            "category": [_concept(CAREPLAN_CATEGORY, "assess-plan", "Assessment and Plan of Treatment")],
            "title": f"Shared plan of care for {self.given}",
            "description": "Working care plan agreed with the family at the care conference",
            "subject": _ref("Patient", self.ids.patient, self.name),
            "period": {
                "start": self.plan_start.isoformat(),
                "end": (self.plan_start + timedelta(days=365)).isoformat(),
            },
            "created": self.plan_start.isoformat(),
            "author": {"display": "Springfield Pediatric Medical Home care coordinator"},
            "addresses": [_ref("Condition", self.ids.of("cond", i)) for i in range(2)],
            "goal": [_ref("Goal", self.ids.of("goal", i)) for i in range(3)],
            "activity": activities,
            "note": [{"text": f"{self.parent} prefers phone calls after 4 pm; an interpreter is not needed."}],
        }

    def goal(self, index: int) -> Resource:
        domain, description, measure, measure_display, _, _ = self.needs[index]
        due = self.plan_start + timedelta(days=90 * (index + 1))
        by_family = index == 0
        return {
            "resourceType": "Goal",
            "id": self.ids.of("goal", index),
            "lifecycleStatus": "active",
            "achievementStatus": _concept(
                GOAL_ACHIEVEMENT, self.rng.choice(("in-progress", "improving")), "In Progress"
            ),
            "category": [{"text": domain}],
            "description": {"text": description},
            "subject": _ref("Patient", self.ids.patient, self.name),
            "startDate": self.plan_start.isoformat(),
            "target": [{"measure": _concept(LOINC, measure, measure_display), "dueDate": due.isoformat()}],
            "expressedBy": {"display": self.parent if by_family else "Care coordinator"},
            "note": [{"text": "Agreed with the family at the care conference"}],
        }

    def service_request(self, index: int) -> Resource:
        _, _, _, _, service, service_display = self.needs[index]
        return {
            "resourceType": "ServiceRequest",
            "id": self.ids.of("sr", index),
            "status": self.rng.choice(("active", "completed")),
            "intent": "order",
            "category": [_concept(SNOMED, "3457005", "Patient referral")],
            "priority": "routine",
            "code": _concept(SNOMED, service, service_display),
            "subject": _ref("Patient", self.ids.patient, self.name),
            "authoredOn": (self.plan_start + timedelta(days=index + 1)).isoformat(),
            "requester": {"display": "Springfield Pediatric Medical Home"},
            "performer": [{"display": self.rng.choice(PERFORMERS)}],
            "reasonReference": [_ref("Condition", self.ids.of("cond", index % 2))],
            "note": [{"text": "Family asks for appointments after school hours"}],
        }

    def task(self, index: int) -> Resource:
        """Tasks 0 and 1 close the loop on the two referrals (code ``fulfill``, focus the ServiceRequest);
        task 2 is an action step of the plan with its owner."""
        owner, description = self.rng.choice(TASK_STEPS)
        due = self.plan_start + timedelta(days=14 * (index + 1))
        referral = index < 2
        status = self.rng.choice(TASK_STATUSES)
        if referral and self.new:
            status = "requested"
        task: Resource = {
            "resourceType": "Task",
            "id": self.ids.of("task", index),
            "status": status,
            "intent": "plan",
            "priority": "routine",
            "description": description if not referral else f"Close the loop on referral {index + 1}",
            "for": _ref("Patient", self.ids.patient, self.name),
            "authoredOn": f"{self.plan_start.isoformat()}T09:00:00Z",
            "lastModified": f"{(self.plan_start + timedelta(days=index)).isoformat()}T15:30:00Z",
            "owner": {"display": owner},
            "restriction": {"period": {"end": f"{due.isoformat()}T17:00:00Z"}},
        }
        if referral:
            task["code"] = _concept("http://hl7.org/fhir/CodeSystem/task-code", "fulfill", "Fulfill the focal request")
            task["focus"] = _ref("ServiceRequest", self.ids.of("sr", index))
        return task

    def observation(self, index: int) -> Resource:
        observation: Resource = {
            "resourceType": "Observation",
            "id": self.ids.of("obs", index),
            "status": "final",
            "subject": _ref("Patient", self.ids.patient, self.name),
            "effectiveDateTime": f"{(AS_OF - timedelta(days=30 * index)).isoformat()}T10:{index:02d}:00Z",
        }
        age_years = max((AS_OF - self.birth).days / 365.25, 0.6)
        if index < 5:  # vital signs: the bulk of any child's record
            code, display, unit, value = (
                ("29463-7", "Body weight", "kg", _decimal(3.5 + age_years * 3.1 + self.rng.random(), 1)),
                ("8302-2", "Body height", "cm", _decimal(52 + age_years * 6.2 + self.rng.random() * 3, 1)),
                ("8867-4", "Heart rate", "/min", _decimal(self.rng.randint(70, 130), 0)),
                ("9843-4", "Head Occipital-frontal circumference", "cm", _decimal(35 + min(age_years, 3) * 4, 1)),
                ("8310-5", "Body temperature", "Cel", _decimal(36.4 + self.rng.random(), 1)),
            )[index]
            observation["meta"] = {"profile": [f"{US_CORE}/us-core-vital-signs"]}
            observation["category"] = [_concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]
            observation["code"] = _concept(LOINC, code, display)
            observation["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
        elif index < 7:
            code, display = SURVEYS[index - 5]
            observation["category"] = [_concept(OBSERVATION_CATEGORY, "survey", "Survey")]
            observation["code"] = _concept(LOINC, code, display)
            observation["valueInteger"] = self.rng.randint(0, 21)
        else:
            observation["category"] = [_concept(OBSERVATION_CATEGORY, "social-history", "Social History")]
            observation["code"] = _concept(LOINC, "71802-3", "Housing status")
            observation["valueCodeableConcept"] = _concept(SNOMED, "160734000", "Lives in a house")
        return observation


def children(first: int, count: int, seed: int = SEED) -> Iterator[ChildRecord]:
    for number in range(first, first + count):
        yield ChildRecord(number, seed)


def transaction_bundle(record: list[Resource], rng: random.Random) -> Resource:
    """A transaction Bundle creating every resource given, linked by ``urn:uuid`` references.

    The ids inside the resources become fresh ``urn:uuid`` full URLs, so the same Bundle can be posted
    again and again and always creates new resources (which is what an ingest benchmark needs).
    """
    full_urls = {
        f"{resource['resourceType']}/{resource['id']}": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        for resource in record
    }
    entries = []
    for resource in record:
        body = _rewrite_references({k: v for k, v in resource.items() if k != "id"}, full_urls)
        entries.append(
            {
                "fullUrl": full_urls[f"{resource['resourceType']}/{resource['id']}"],
                "resource": body,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _rewrite_references(node: Any, full_urls: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: full_urls.get(value, value)
            if key == "reference" and isinstance(value, str)
            else _rewrite_references(value, full_urls)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_references(item, full_urls) for item in node]
    return node


__all__ = ["RESOURCES_PER_CHILD", "SEED", "ChildRecord", "Ids", "Resource", "children", "transaction_bundle"]
