"""Differential test of access control: the policy evaluated directly against what the HTTP API serves.

For a few generated worlds (children, practices, a payer, an agency, care teams, Consents with random
classes, periods and labels, and the resources of a care-coordination record) and for every kind of
caller, the set of resources the caller may see is computed with the documented Python entry point
(``fhirbridge.security.server.access_for(...).visible``). Then every path of the HTTP API that can
return or reveal a resource is exercised, and everything it answers must fall within that set: reads,
vreads and history, searches with their totals and paging links, includes, chains and ``_has``,
``$everything``, ``$summary``, compartment searches, ``If-None-Exist`` and conditional references in a
transaction. What the caller may not see must answer exactly as what does not exist.

A second test checks the entry point itself against the written rules (docs/security.md and the
policy brief), re-stated here independently of the implementation.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from fhirbridge.compartment import SHARED_REFERENCE_TYPES, compartment_patients, in_patient_compartment_types
from fhirbridge.security.principal import Principal
from fhirbridge.security.scopes import granting_contexts
from tests.conftest import LiveServer
from tests.security.conftest import client_as, secure_settings, signed, store, token_for

Resource = dict[str, Any]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
Key = tuple[str, str]  # (resource type, id)
VersionKey = tuple[str, str, int]

# Every caller in the first world; in the others, the callers whose view depends most on the generated
# care teams and Consents (keeps the run near a minute per backend on a small machine).
SEEDS = (7, 42)

CHILD_IDS = ("kid-0", "kid-1", "kid-2", "kid-3")
CLINIC_A, CLINIC_B, PAYER, AGENCY = "clinic-a", "clinic-b", "payer", "agency"
SCHOOL = "school"  # its Consents are not random: two of them, each opening part of what it is shown
ORGS = (CLINIC_A, CLINIC_B, PAYER, AGENCY)
PRACTICES = (CLINIC_A, CLINIC_B)
PRACTITIONERS = ("doc-a", "doc-b", "nurse-c")

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
PLAN_KIND = "http://fhirbridge.org/fhir/CodeSystem/care-plan-kind"
SHARED_INFORMATION = "http://fhirbridge.org/fhir/CodeSystem/shared-information"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"
CLASSES = ("care-plan", "goals", "referrals", "needs-assessment", "medical-summary", "emergency-plan", "care-team")
SENSITIVE = ("BH", "MH", "PSY", "PSYTHPN", "SOC", "SUD", "ETH", "SDV")

# Written by the server itself while the test runs (every request is audited, every write attributed):
# they are checked against the policy as they come, not against the set computed up front.
SERVER_WRITTEN = frozenset({"AuditEvent", "Provenance"})
DIRECTORY_TYPES = ("Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService", "Questionnaire")


# -- the generated world ----------------------------------------------------------------------------


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def codeable(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def labelled(resource: Resource, *labels: str) -> Resource:
    if labels:
        resource["meta"] = {"security": [{"system": ACT_CODE, "code": label} for label in labels]}
    return resource


def maybe_label(rng: random.Random, resource: Resource, chance: float = 0.2) -> Resource:
    return labelled(resource, rng.choice(SENSITIVE)) if rng.random() < chance else resource


def directory() -> list[Resource]:
    resources: list[Resource] = [{"resourceType": "Organization", "id": org, "name": org} for org in (*ORGS, SCHOOL)]
    resources += [
        {"resourceType": "Practitioner", "id": doc, "name": [{"family": doc.title()}]} for doc in PRACTITIONERS
    ]
    resources += [
        {
            "resourceType": "PractitionerRole",
            "id": "doc-a-at-clinic-a",
            "practitioner": ref("Practitioner/doc-a"),
            "organization": ref(f"Organization/{CLINIC_A}"),
        },
        {
            "resourceType": "Location",
            "id": "clinic-a-site",
            "name": "Clinic A",
            "managingOrganization": ref(f"Organization/{CLINIC_A}"),
        },
        {"resourceType": "HealthcareService", "id": "agency-respite", "providedBy": ref(f"Organization/{AGENCY}")},
        {"resourceType": "Questionnaire", "id": "psychosocial", "status": "active"},
    ]
    return resources


def consent(
    id: str,
    child: str,
    org: str,
    *,
    classes: tuple[str, ...],
    labels: tuple[str, ...] = (),
    status: str = "active",
    period: dict[str, str] | None = None,
) -> Resource:
    provision: dict[str, Any] = {
        "type": "permit",
        "actor": [{"role": codeable(PARTICIPATION, "IRCP"), "reference": ref(f"Organization/{org}")}],
        "class": [{"system": SHARED_INFORMATION, "code": code} for code in classes],
    }
    if labels:
        provision["securityLabel"] = [{"system": ACT_CODE, "code": label} for label in labels]
    if period is not None:
        provision["period"] = period
    return {
        "resourceType": "Consent",
        "id": id,
        "status": status,
        "scope": codeable("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [codeable(ACT_CODE, "IDSCL")],
        "patient": ref(f"Patient/{child}"),
        "policyRule": codeable("http://terminology.hl7.org/CodeSystem/consentpolicycodes", "hipaa-auth"),
        "provision": provision,
    }


def condition(id: str, child: str, system: str, code: str) -> Resource:
    return {
        "resourceType": "Condition",
        "id": id,
        "code": codeable(system, code),
        "subject": ref(f"Patient/{child}"),
    }


def referral(rng: random.Random, child: str, n: int) -> list[Resource]:
    requester = f"Organization/{rng.choice(PRACTICES)}"
    performer = f"Organization/{rng.choice((AGENCY, PAYER, CLINIC_B))}"
    request = {
        "resourceType": "ServiceRequest",
        "id": f"{child}-referral-{n}",
        "status": "active",
        "intent": "order",
        "subject": ref(f"Patient/{child}"),
        "requester": ref(requester),
        "performer": [ref(performer)],
    }
    task = {
        "resourceType": "Task",
        "id": f"{child}-referral-{n}-task",
        "status": "requested",
        "intent": "order",
        "code": codeable(TASK_CODE, "fulfill"),
        "focus": ref(f"ServiceRequest/{child}-referral-{n}"),
        "for": ref(f"Patient/{child}"),
        "requester": ref(requester),
        "owner": ref(performer),
    }
    return [request, task]


PERIODS = {
    "current": {"start": "2020-01-01", "end": "2999-12-31"},
    "expired": {"start": "2019-01-01", "end": "2020-12-31"},
    "future": {"start": "2998-01-01", "end": "2999-12-31"},
    "open": None,
}


def child_record(rng: random.Random, child: str) -> tuple[list[Resource], list[Resource], list[Key]]:
    """The resources of one child: (first versions, later versions, resources deleted at the end)."""
    patient: Resource = {"resourceType": "Patient", "id": child, "name": [{"family": child.title()}]}
    manager = rng.choice((*PRACTICES, None))
    if manager:
        patient["managingOrganization"] = ref(f"Organization/{manager}")
    doctor = rng.choice((*PRACTITIONERS, None))
    if doctor:
        patient["generalPractitioner"] = [ref(f"Practitioner/{doctor}")]
    members = [f"Practitioner/{doc}" for doc in PRACTITIONERS] + [f"Organization/{org}" for org in ORGS]
    parent = f"RelatedPerson/{child}-parent"

    def team(id: str, count: int) -> Resource:
        chosen = rng.sample(members, count)
        return {
            "resourceType": "CareTeam",
            "id": id,
            "status": "active",
            "subject": ref(f"Patient/{child}"),
            "participant": [{"member": ref(member)} for member in [*chosen, parent]],
        }

    first: list[Resource] = [
        patient,
        {"resourceType": "RelatedPerson", "id": f"{child}-parent", "patient": ref(f"Patient/{child}")},
        team(f"{child}-team", rng.randint(0, 3)),
        team(f"{child}-old-team", 2),  # deleted below: a deleted team treats no one
    ]
    for org in (PAYER, AGENCY, CLINIC_B):
        for n in range(rng.choice((0, 1, 1, 2))):
            first.append(
                consent(
                    f"{child}-consent-{org}-{n}",
                    child,
                    org,
                    classes=tuple(rng.sample(CLASSES, rng.randint(1, 4))),
                    labels=tuple(rng.sample(("BH", "SOC", "MH", "SUD"), rng.randint(0, 2))),
                    status=rng.choice(("active", "active", "active", "inactive")),
                    period=PERIODS[rng.choice(("current", "current", "expired", "future", "open"))],
                )
            )
    asthma, autism, adhd = f"{child}-asthma", f"{child}-autism", f"{child}-adhd"
    first += [
        maybe_label(rng, condition(asthma, child, ICD10CM, "J45.909")),
        condition(autism, child, ICD10CM, "F84.0"),
        condition(adhd, child, ICD10CM_OID, "F90.0"),
        maybe_label(
            rng,
            {
                "resourceType": "Goal",
                "id": f"{child}-goal",
                "lifecycleStatus": "active",
                "description": {"text": "walks to school"},
                "subject": ref(f"Patient/{child}"),
            },
        ),
        {
            "resourceType": "Goal",
            "id": f"{child}-goal-relabelled",
            "lifecycleStatus": "active",
            "description": {"text": "sleeps through the night"},
            "subject": ref(f"Patient/{child}"),
        },
        {
            "resourceType": "CarePlan",
            "id": f"{child}-plan",
            "status": "active",
            "intent": "plan",
            "subject": ref(f"Patient/{child}"),
            "goal": [ref(f"Goal/{child}-goal")],
            "addresses": [ref(f"Condition/{rng.choice((asthma, autism, adhd))}")],
        },
        {
            "resourceType": "CarePlan",
            "id": f"{child}-emergency",
            "status": "active",
            "intent": "plan",
            "category": [codeable(PLAN_KIND, "emergency-plan")],
            "subject": ref(f"Patient/{child}"),
        },
        {
            "resourceType": "CarePlan",
            "id": f"{child}-plan-contained",
            "status": "active",
            "intent": "plan",
            "subject": ref(f"Patient/{child}"),
            "contained": [
                labelled(
                    {
                        "resourceType": "Condition",
                        "id": "worry",
                        "code": {"text": "anxiety"},
                        "subject": ref(f"Patient/{child}"),
                    },
                    rng.choice(("MH", "PSY")),
                )
            ],
            "addresses": [ref("#worry")],
        },
        {
            "resourceType": "Task",
            "id": f"{child}-step",
            "status": "requested",
            "intent": "plan",
            "description": "book the wheelchair fitting",
            "for": ref(f"Patient/{child}"),
            "basedOn": [ref(f"CarePlan/{child}-plan")],
            "owner": ref(rng.choice(("Practitioner/doc-a", parent, f"Organization/{AGENCY}"))),
        },
        *(resource for n in range(rng.randint(1, 2)) for resource in referral(rng, child, n)),
        maybe_label(
            rng,
            {
                "resourceType": "Observation",
                "id": f"{child}-weight",
                "status": "final",
                "code": {"text": "weight"},
                "subject": ref(f"Patient/{child}"),
            },
        ),
        labelled(
            {
                "resourceType": "QuestionnaireResponse",
                "id": f"{child}-psychosocial",
                "questionnaire": "Questionnaire/psychosocial",
                "status": "completed",
                "subject": ref(f"Patient/{child}"),
                "author": ref(parent),
            },
            "SOC",
        ),
        maybe_label(
            rng,
            {
                "resourceType": "AllergyIntolerance",
                "id": f"{child}-allergy",
                "patient": ref(f"Patient/{child}"),
                "code": {"text": "peanut"},
            },
        ),
        {
            "resourceType": "MedicationStatement",
            "id": f"{child}-med",
            "status": "active",
            "medicationCodeableConcept": {"text": "baclofen"},
            "subject": ref(f"Patient/{child}"),
        },
        {
            "resourceType": "DocumentReference",
            "id": f"{child}-letter",
            "status": "current",
            "subject": ref(f"Patient/{child}"),
            "author": [ref(f"Organization/{rng.choice(ORGS)}")],
            "content": [{"attachment": {"contentType": "text/plain", "data": "bGV0dGVy"}}],
        },
        {
            "resourceType": "Communication",
            "id": f"{child}-message",
            "status": "completed",
            "subject": ref(f"Patient/{child}"),
            "sender": ref(f"Organization/{rng.choice(ORGS)}"),
            "recipient": [ref(f"Organization/{rng.choice(ORGS)}")],
        },
    ]
    # Labelled sensitive in a later version: its earlier, unlabelled version must hide with it.
    relabelled = dict(next(r for r in first if r["id"] == f"{child}-goal-relabelled"))
    later = [labelled(relabelled, rng.choice(("BH", "SOC", "SUD")))]
    return first, later, [("CareTeam", f"{child}-old-team")]


@dataclass
class World:
    seed: int
    children: tuple[str, ...]
    batches: list[list[Resource]]
    deletions: list[Key]
    marker: str = field(default_factory=lambda: f"world-{uuid.uuid4().hex[:12]}")


def generate(seed: int) -> World:
    rng = random.Random(seed)
    children = CHILD_IDS[: rng.choice((3, 4))]
    first, later, deletions = directory(), [], []
    for child in children:
        own_first, own_later, own_deletions = child_record(rng, child)
        first += own_first
        later += own_later
        deletions += own_deletions
    # Two current Consents for the school: goals without labels, assessments with SOC. A goal labelled
    # SOC is opened by neither (one Consent must cover both the class and the label).
    first += [
        consent(f"{children[0]}-consent-school-goals", children[0], SCHOOL, classes=("goals",)),
        consent(
            f"{children[0]}-consent-school-assessment",
            children[0],
            SCHOOL,
            classes=("needs-assessment",),
            labels=("SOC",),
        ),
        labelled(
            {
                "resourceType": "Goal",
                "id": f"{children[0]}-goal-soc",
                "lifecycleStatus": "active",
                "description": {"text": "joins the after-school club"},
                "subject": ref(f"Patient/{children[0]}"),
            },
            "SOC",
        ),
    ]
    # A message about two children: in both compartments, visible only to who may see both.
    first.append(
        {
            "resourceType": "Communication",
            "id": "shared-message",
            "status": "completed",
            "subject": ref(f"Patient/{children[0]}"),
            "sender": ref(f"Organization/{CLINIC_A}"),
            "recipient": [ref(f"Patient/{children[1]}"), ref(f"Organization/{AGENCY}")],
        }
    )
    return World(seed, children, [first, later], deletions)


# The world in each server's store; a world is reused by the callers of its seed and seeded again when
# the store was emptied by another test (its marker Organization is then gone).
_worlds: dict[int, World] = {}


def world_on(server: LiveServer, seed: int) -> World:
    world = _worlds.get(id(server))
    if world is not None and world.seed == seed and server.repository.read("Organization", world.marker) is not None:
        return world
    server.reset()
    world = generate(seed)
    for batch in world.batches:
        store(server, *batch)

    def delete(tx: Any) -> None:
        for resource_type, resource_id in world.deletions:
            tx.delete(resource_type, resource_id)

    server.repository.run_write(delete)
    store(server, {"resourceType": "Organization", "id": world.marker, "name": "marker of the seeded world"})
    _worlds[id(server)] = world
    return world


# -- callers ----------------------------------------------------------------------------------------


def _role(role: str, **claims: str) -> Callable[[], str]:
    return lambda: token_for(role, **claims)


def _raw(claims: dict[str, Any]) -> Callable[[], str]:
    return lambda: signed(claims)


CALLERS: dict[str, Callable[[], str]] = {
    "ehr-system-clinic-a": _role("ehr-system", org=CLINIC_A),
    "ehr-system-agency": _role("ehr-system", org=AGENCY),
    "care-coordinator-doc-a": _role("care-coordinator", user="Practitioner/doc-a"),
    "care-coordinator-clinic-b": _role("care-coordinator", org=CLINIC_B, user="Practitioner/doc-b"),
    "care-coordinator-no-org-no-user": _role("care-coordinator"),
    "discharge-planner-clinic-b": _role("discharge-planner", org=CLINIC_B),
    "payer-case-manager": _role("payer-case-manager", org=PAYER),
    "payer-case-manager-with-patient-claim": _role("payer-case-manager", org=PAYER, patient="kid-0"),
    "referral-partner-agency": _role("referral-partner", org=AGENCY, user="Practitioner/nurse-c"),
    "referral-partner-clinic-b": _role("referral-partner", org=CLINIC_B),
    "family-kid-0": _role("family", patient="kid-0", user="RelatedPerson/kid-0-parent"),
    "family-kid-1": _role("family", patient="kid-1"),
    "raw-user-rs-no-org": _raw({"scope": "user/*.rs"}),
    "raw-user-rs-patient-claim-no-org": _raw({"scope": "user/*.rs", "patient": "kid-0"}),
    "raw-user-rs-practitioner": _raw({"scope": "user/*.rs", "fhirUser": "Practitioner/doc-b"}),
    "raw-user-rs-organization-as-user": _raw({"scope": "user/*.rs", "fhirUser": f"Organization/{PAYER}"}),
    "raw-patient-rs-no-patient-claim": _raw({"scope": "patient/*.rs"}),
    "payer-case-manager-school": _role("payer-case-manager", org=SCHOOL),
}


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# -- what the caller may see, by the policy evaluated directly ----------------------------------------


@dataclass
class Expected:
    """The store as it stands, and what the policy says one caller may see of it."""

    current: dict[Key, Resource]  # every current (not deleted) resource, except those the server writes
    allowed: set[Key]
    versions: dict[Key, list[tuple[int, Resource | None]]]  # every version of every resource, oldest first
    allowed_versions: set[VersionKey]
    deleted: set[Key]
    visible: Callable[[Resource], bool]

    def allowed_of(self, resource_type: str) -> set[str]:
        return {id for (kind, id) in self.allowed if kind == resource_type}

    def may_see(self, resource: Resource) -> bool:
        key = (str(resource.get("resourceType")), str(resource.get("id")))
        if key[0] in SERVER_WRITTEN:
            return self.visible(resource)
        return key in self.allowed


def expected_for(server: LiveServer, claims: dict[str, Any], settings: Any = None) -> Expected:
    from fhirbridge.security.server import access_for  # the documented entry point of the policy

    access = access_for(server.repository, Principal.from_claims(claims), settings or secure_settings())

    def visible(resource: Resource) -> bool:
        return bool(access.visible(resource, "r"))

    current = {
        (version.resource_type, version.id): json.loads(version.content)
        for version in server.repository.iter_current()
        if version.resource_type not in SERVER_WRITTEN and version.content is not None
    }
    allowed = {key for key, resource in current.items() if visible(resource)}
    versions: dict[Key, list[tuple[int, Resource | None]]] = {}
    for resource_type in sorted({kind for kind, _ in current} | {"CareTeam"}):
        page = server.repository.history(resource_type=resource_type, count=1_000_000)
        for version in page.versions:
            content = json.loads(version.content) if version.content is not None else None
            versions.setdefault((resource_type, version.id), []).append((version.version_id, content))
    allowed_versions: set[VersionKey] = set()
    deleted: set[Key] = set()
    for key, found in versions.items():
        found.sort(key=lambda item: item[0])
        if key not in current:
            deleted.add(key)
        # A version is visible when it is visible and so is the resource as it stands (for a deleted
        # resource: as it last stood).
        last = next(content for _, content in reversed(found) if content is not None)
        if not visible(last):
            continue
        for number, content in found:
            if content is None or visible(content):
                allowed_versions.add((*key, number))
    return Expected(current, allowed, versions, allowed_versions, deleted, visible)


# -- HTTP helpers -----------------------------------------------------------------------------------


class Problems:
    """Every disagreement found for one caller, reported together (with the path that showed it)."""

    def __init__(self, caller: str) -> None:
        self.caller = caller
        self.found: list[str] = []

    def check(self, condition: bool, path: str, message: str) -> bool:
        if not condition:
            self.found.append(f"{path}: {message}")
        return condition

    def report(self) -> None:
        shown = "\n  ".join(self.found[:60])
        more = f"\n  ... and {len(self.found) - 60} more" if len(self.found) > 60 else ""
        assert not self.found, f"caller {self.caller}: {len(self.found)} disagreements\n  {shown}{more}"


def outcome_text(response: httpx.Response, *secrets: str) -> str:
    """The issues of an error answer, with the names that differ between two probes taken out."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    text = json.dumps(body.get("issue", body) if isinstance(body, dict) else body, sort_keys=True)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "<name>")
    return UUID.sub("<generated id>", text)


def same_answer(problems: Problems, path: str, hidden: httpx.Response, absent: httpx.Response, *names: str) -> None:
    """A hidden resource must answer exactly as an absent one (status and message, modulo the name)."""
    problems.check(
        hidden.status_code == absent.status_code,
        path,
        f"hidden answers {hidden.status_code}, an absent resource {absent.status_code}: {hidden.text[:200]}",
    )
    if hidden.status_code == absent.status_code and hidden.status_code >= 400:
        problems.check(
            outcome_text(hidden, *names) == outcome_text(absent, *names),
            path,
            f"hidden and absent answer differently: {outcome_text(hidden, *names)[:300]} "
            f"vs {outcome_text(absent, *names)[:300]}",
        )


def entries(bundle: dict[str, Any], mode: str | None = "match") -> list[Resource]:
    found = []
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if resource is None or resource.get("resourceType") == "OperationOutcome":
            continue
        if mode is None or entry.get("search", {}).get("mode", "match") == mode:
            found.append(resource)
    return found


def next_link(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)


def pages(http: httpx.Client, path: str, params: dict[str, str], limit: int) -> Iterator[httpx.Response]:
    response = http.get(path, params=params)
    yield response
    for _ in range(limit):
        if response.status_code != 200:
            return
        following = next_link(response.json())
        if following is None:
            return
        response = http.get(following)
        yield response


# -- the checks, one family of paths each -----------------------------------------------------------


def check_reads(http: httpx.Client, exp: Expected, problems: Problems, rng: random.Random) -> None:
    never = "never-existed"
    absent: dict[str, httpx.Response] = {}

    def absent_answer(path: str) -> httpx.Response:
        """The answer for a resource that never existed (asked once per type and kind of path)."""
        if path not in absent:
            absent[path] = http.get(path)
        return absent[path]

    keys = sorted(set(exp.current) | exp.deleted)
    for resource_type, id in keys:
        path = f"/{resource_type}/{id}"
        response = http.get(path)
        if (resource_type, id) in exp.allowed:
            if problems.check(response.status_code == 200, path, f"visible but answered {response.status_code}"):
                problems.check(response.json().get("id") == id, path, "answered another resource")
        elif (resource_type, id) in exp.deleted and (resource_type, id, 1) in exp.allowed_versions:
            problems.check(response.status_code == 410, path, f"visible deletion answered {response.status_code}")
        else:
            reference = absent_answer(f"/{resource_type}/{never}")
            problems.check(response.status_code != 200, path, "hidden but answered 200")
            problems.check(
                response.status_code == 404 or reference.status_code == 403,
                path,
                f"hidden answered {response.status_code} where an absent resource answers {reference.status_code}",
            )
            same_answer(problems, path, response, reference, id, never)
    # Versions and instance history: every resource with several versions, and a sample of the others.
    several = [key for key in keys if len(exp.versions.get(key, [])) > 1]
    sample = rng.sample([key for key in keys if key not in several], min(6, len(keys) - len(several)))
    for resource_type, id in several + sample:
        for number, content in exp.versions.get((resource_type, id), []):
            if content is None:
                continue
            path = f"/{resource_type}/{id}/_history/{number}"
            response = http.get(path)
            if (resource_type, id, number) in exp.allowed_versions:
                problems.check(response.status_code == 200, path, f"visible version answered {response.status_code}")
            else:
                problems.check(response.status_code != 200, path, "hidden version answered 200")
                reference = absent_answer(f"/{resource_type}/{never}/_history/1")
                same_answer(problems, path, response, reference, id, never)
        path = f"/{resource_type}/{id}/_history"
        response = http.get(path)
        expected = {n for (t, i, n) in exp.allowed_versions if (t, i) == (resource_type, id)}
        if not expected:
            reference = absent_answer(f"/{resource_type}/{never}/_history")
            if response.status_code == 200 and reference.status_code == 200:
                problems.check(entries(response.json(), None) == [], path, "hidden resource's history has entries")
                problems.check(response.json().get("total", 0) == 0, path, "hidden resource's history counts")
            else:
                same_answer(problems, path, response, reference, id, never)
        elif problems.check(response.status_code == 200, path, f"visible history answered {response.status_code}"):
            found = {int(e["response"]["etag"].split('"')[1]) for e in response.json().get("entry", [])}
            problems.check(found == expected, path, f"versions {sorted(found)}, expected {sorted(expected)}")


def search_ids(
    http: httpx.Client, exp: Expected, problems: Problems, path: str, params: dict[str, str]
) -> tuple[int, set[str], list[Resource]]:
    """Run a search (one page of up to 500), check its includes, return (status, matched ids, includes)."""
    response = http.get(path, params={**params, "_count": "500"})
    where = f"GET {path}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
    if response.status_code != 200:
        return response.status_code, set(), []
    bundle = response.json()
    matched = entries(bundle, "match")
    included = entries(bundle, "include")
    for resource in matched + included:
        problems.check(exp.may_see(resource), where, f"returned {resource['resourceType']}/{resource.get('id')}")
    if "total" in bundle:
        problems.check(bundle["total"] == len(matched), where, f"total {bundle['total']} for {len(matched)} matches")
    return 200, {str(resource["id"]) for resource in matched}, included


def check_type_searches(http: httpx.Client, exp: Expected, problems: Problems, types: list[str]) -> None:
    """Every type, one match a page: matches, totals and the number of pages count only what is visible."""
    for resource_type in types:
        expected = exp.allowed_of(resource_type)
        seen: list[str] = []
        count = 0
        where = f"GET /{resource_type}?_count=1"
        for count, response in enumerate(pages(http, f"/{resource_type}", {"_count": "1"}, len(expected) + 5), 1):
            if response.status_code != 200:
                problems.check(
                    response.status_code == 403 and not expected and count == 1,
                    where,
                    f"answered {response.status_code} (visible: {len(expected)}): {response.text[:200]}",
                )
                break
            bundle = response.json()
            matched = entries(bundle, "match")
            problems.check(len(matched) <= 1, where, f"a page of _count=1 held {len(matched)} entries")
            for resource in matched:
                problems.check(exp.may_see(resource), where, f"returned {resource_type}/{resource.get('id')}")
                seen.append(str(resource["id"]))
            if "total" in bundle:
                problems.check(
                    bundle["total"] == len(expected),
                    where,
                    f"total {bundle['total']}, visible {len(expected)}",
                )
        else:
            problems.check(set(seen) == expected, where, f"found {sorted(seen)}, visible {sorted(expected)}")
            problems.check(len(seen) == len(set(seen)), where, "a resource came twice across the pages")
            problems.check(count == max(1, len(expected)), where, f"{count} pages for {len(expected)} visible matches")


def check_type_history(http: httpx.Client, exp: Expected, problems: Problems, types: list[str]) -> None:
    for resource_type in types:
        expected = {(t, i, n) for (t, i, n) in exp.allowed_versions if t == resource_type}
        where = f"GET /{resource_type}/_history"
        found: set[VersionKey] = set()
        total: int | None = None
        for response in pages(http, f"/{resource_type}/_history", {"_count": "50"}, limit=50):
            if response.status_code != 200:
                problems.check(
                    response.status_code == 403 and not expected,
                    where,
                    f"answered {response.status_code} with {len(expected)} visible versions",
                )
                break
            bundle = response.json()
            total = bundle.get("total", total)
            for entry in bundle.get("entry", []):
                id = entry["fullUrl"].rsplit("/", 1)[1]
                number = int(entry["response"]["etag"].split('"')[1])
                found.add((resource_type, id, number))
        problems.check(found <= expected, where, f"shows hidden versions {sorted(found - expected)[:8]}")
        has_deletions = any(kind == resource_type for kind, _ in exp.deleted)
        if not has_deletions:
            problems.check(found == expected, where, f"misses visible versions {sorted(expected - found)[:8]}")
            if total is not None:
                problems.check(total == len(expected), where, f"total {total}, visible versions {len(expected)}")


def _referenced(resource: Resource, element: str) -> list[str]:
    value = resource.get(element)
    items = value if isinstance(value, list) else [value] if value else []
    return [str(item.get("reference")) for item in items if isinstance(item, dict) and item.get("reference")]


def _has_code(resource: Resource, code: str) -> bool:
    return any(coding.get("code") == code for coding in resource.get("code", {}).get("coding", []))


def check_criteria_searches(http: httpx.Client, exp: Expected, problems: Problems, children: tuple[str, ...]) -> None:
    """Includes, chains and ``_has``: neither a match nor an include may come through a hidden resource."""
    current, allowed = exp.current, exp.allowed

    def expect(path: str, params: dict[str, str], wanted: set[str]) -> None:
        status, found, _ = search_ids(http, exp, problems, path, params)
        where = f"GET {path}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        if status != 200:
            problems.check(status == 403 and not wanted, where, f"answered {status}, expected {sorted(wanted)}")
            return
        problems.check(found == wanted, where, f"found {sorted(found)}, expected {sorted(wanted)}")

    def visible_targets(resource: Resource, element: str, resource_type: str) -> list[Resource]:
        keys = [(kind, id) for kind, _, id in (r.partition("/") for r in _referenced(resource, element))]
        return [current[key] for key in keys if key in allowed and key[0] == resource_type]

    # _include / _revinclude: the matches as a plain search, the included only visible ones.
    expect("/CarePlan", {"_include": "CarePlan:goal"}, exp.allowed_of("CarePlan"))
    expect("/Task", {"_include": "Task:focus"}, exp.allowed_of("Task"))
    expect("/CareTeam", {"_include": "CareTeam:participant"}, exp.allowed_of("CareTeam"))
    expect("/Patient", {"_revinclude": "Condition:patient"}, exp.allowed_of("Patient"))
    expect("/Patient", {"_revinclude": "CareTeam:subject"}, exp.allowed_of("Patient"))
    # Chains: the chained resource must be visible too, or the search is an oracle on it.
    for code in ("F84.0", "F90.0", "J45.909"):
        wanted = {
            id
            for id in exp.allowed_of("CarePlan")
            if any(_has_code(c, code) for c in visible_targets(current[("CarePlan", id)], "addresses", "Condition"))
        }
        expect("/CarePlan", {"condition:Condition.code": code}, wanted)
        wanted = {
            child
            for child in exp.allowed_of("Patient")
            if any(
                _has_code(current[("Condition", id)], code)
                and f"Patient/{child}" in _referenced(current[("Condition", id)], "subject")
                for id in exp.allowed_of("Condition")
            )
        }
        expect("/Patient", {"_has:Condition:patient:code": code}, wanted)
    for org in (AGENCY, PAYER):
        wanted = {
            id
            for id in exp.allowed_of("Task")
            if any(
                f"Organization/{org}" in _referenced(request, "performer")
                for request in visible_targets(current[("Task", id)], "focus", "ServiceRequest")
            )
        }
        expect("/Task", {"focus:ServiceRequest.performer": f"Organization/{org}"}, wanted)
    for child in children:
        wanted = {
            id
            for id in exp.allowed_of("Condition")
            if f"Patient/{child}" in _referenced(current[("Condition", id)], "subject")
            and ("Patient", child) in allowed
        }
        expect("/Condition", {"subject:Patient.name": child.title()}, wanted)
        teams = [current[("CareTeam", id)] for id in exp.allowed_of("CareTeam")]
        members = {
            member["member"]["reference"]
            for team in teams
            if f"Patient/{child}" in _referenced(team, "subject")
            for member in team.get("participant", [])
        }
        wanted = {id for id in exp.allowed_of("Practitioner") if f"Practitioner/{id}" in members}
        expect("/Practitioner", {"_has:CareTeam:participant:patient": f"Patient/{child}"}, wanted)
        consents = [current[("Consent", id)] for id in exp.allowed_of("Consent")]
        actors = {
            actor["reference"]["reference"]
            for item in consents
            if f"Patient/{child}" in _referenced(item, "patient")
            for actor in item["provision"].get("actor", [])
        }
        wanted = {id for id in exp.allowed_of("Organization") if f"Organization/{id}" in actors}
        expect("/Organization", {"_has:Consent:actor:patient": f"Patient/{child}"}, wanted)


def check_patient_operations(
    http: httpx.Client, exp: Expected, problems: Problems, children: tuple[str, ...], searchable: set[str]
) -> None:
    absent = {
        "everything": http.get("/Patient/never-a-child/$everything"),
        "summary": http.get("/Patient/never-a-child/$summary"),
        "compartment": http.get("/Patient/never-a-child/Condition"),
    }
    for child in children:
        names = (child, "never-a-child")
        patient_visible = ("Patient", child) in exp.allowed
        in_compartment = {
            key
            for key in exp.allowed
            if in_patient_compartment_types(key[0]) and child in compartment_patients(exp.current[key])
        }
        # $everything (every page: the audit trail of the run adds to a child's compartment as it goes).
        # It finds a child's resources through the search index, so only those of the types it indexes.
        indexed = {key for key in in_compartment if key[0] in searchable}
        path = f"/Patient/{child}/$everything"
        answers = list(pages(http, path, {"_count": "1000"}, limit=20))
        response = answers[0]
        if response.status_code == 200:
            found = [resource for answer in answers for resource in entries(answer.json(), None)]
            for resource in found:
                problems.check(exp.may_see(resource), path, f"returned {resource['resourceType']}/{resource['id']}")
            keys = {(r["resourceType"], r["id"]) for r in found}
            problems.check(indexed <= keys, path, f"misses visible {sorted(indexed - keys)[:6]}")
            if len(answers) == 1 and "total" in response.json():
                total = response.json()["total"]
                problems.check(total == len(found), path, f"total {total} for {len(found)} entries")
            problems.check(patient_visible or not in_compartment, path, "answered for a child the caller cannot see")
        else:
            problems.check(not patient_visible, path, f"visible child answered {response.status_code}")
            same_answer(problems, path, response, absent["everything"], *names)
        # $summary: the generated Composition, then only what the caller may see.
        path = f"/Patient/{child}/$summary"
        response = http.get(path)
        if response.status_code == 200:
            document = entries(response.json(), None)
            for resource in document[1:] if document and document[0]["resourceType"] == "Composition" else document:
                problems.check(exp.may_see(resource), path, f"holds {resource['resourceType']}/{resource['id']}")
            problems.check(patient_visible, path, "a summary of a child the caller cannot see")
        else:
            problems.check(not patient_visible or response.status_code == 403, path, f"{response.status_code}")
            if not patient_visible:
                same_answer(problems, path, response, absent["summary"], *names)
        # Compartment search
        path = f"/Patient/{child}/Condition"
        wanted = {id for (kind, id) in in_compartment if kind == "Condition"}
        response = http.get(path, params={"_count": "500"})
        if response.status_code == 200:
            found_ids = set()
            for resource in entries(response.json(), "match"):
                problems.check(exp.may_see(resource), path, f"returned Condition/{resource['id']}")
                found_ids.add(resource["id"])
            problems.check(found_ids == wanted, path, f"found {sorted(found_ids)}, visible {sorted(wanted)}")
            if "total" in response.json():
                problems.check(response.json()["total"] == len(wanted), path, "total counts what is not visible")
        else:
            problems.check(not wanted, path, f"answered {response.status_code} with visible {sorted(wanted)}")
            same_answer(problems, path, response, absent["compartment"], *names)


def _can(claims: dict[str, Any], resource_type: str, permission: str) -> bool:
    return bool(granting_contexts(Principal.from_claims(claims).scopes, resource_type, permission))


def check_conditional_writes(
    http: httpx.Client, exp: Expected, problems: Problems, children: tuple[str, ...], claims: dict[str, Any]
) -> None:
    """If-None-Exist and conditional references resolve among visible resources only."""
    for child in children:
        target = f"{child}-autism"
        visible = ("Condition", target) in exp.allowed
        body = {"resourceType": "Condition", "code": {"text": "probe"}, "subject": ref(f"Patient/{child}")}
        absent = http.post("/Condition", json=body, headers={"If-None-Exist": "_id=never-a-condition"})
        for criteria in (f"_id={target}", f"patient=Patient/{child}&code=F84.0"):
            path = f"POST /Condition If-None-Exist: {criteria}"
            response = http.post("/Condition", json=body, headers={"If-None-Exist": criteria})
            if visible and absent.status_code == 201:
                problems.check(response.status_code == 200, path, f"visible match answered {response.status_code}")
                if response.status_code == 200:
                    problems.check(response.json().get("id") == target, path, "answered another resource")
            elif not visible:
                problems.check(
                    response.status_code not in (200, 412), path, f"hidden match answered {response.status_code}"
                )
                same_answer(problems, path, response, absent, criteria, "_id=never-a-condition")
        # Conditional references in a transaction.
        kind = "Observation" if _can(claims, "Observation", "c") else "Communication"
        element = "focus" if kind == "Observation" else "about"

        def post(criteria: str, kind: str = kind, element: str = element, child: str = child) -> httpx.Response:
            resource: Resource = {
                "resourceType": kind,
                "status": "final" if kind == "Observation" else "completed",
                "subject": ref(f"Patient/{child}"),
                element: [ref(criteria)],
            }
            if kind == "Observation":
                resource["code"] = {"text": "probe"}
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"resource": resource, "request": {"method": "POST", "url": kind}}],
            }
            return http.post("/", json=bundle)

        nothing = f"Condition?patient=Patient/{child}&code=no-such-code"
        absent = post(nothing)
        for code in ("F84.0", "J45.909"):
            criteria = f"Condition?patient=Patient/{child}&code={code}"
            path = f"POST / transaction with the reference {criteria}"
            matches = [
                id
                for id in exp.allowed_of("Condition")
                if f"Patient/{child}" in _referenced(exp.current[("Condition", id)], "subject")
                and _has_code(exp.current[("Condition", id)], code)
            ]
            response = post(criteria)
            counted = re.findall(r"matches (\d+) resources", response.text)
            problems.check(
                all(int(n) == len(matches) for n in counted),
                path,
                f"the error counts {counted} matches, {len(matches)} visible",
            )
            if not matches:
                same_answer(problems, path, response, absent, criteria, nothing)
            elif response.status_code == 200:
                location = response.json()["entry"][0]["response"]["location"]
                kind_, id_ = location.split("/")[:2]
                created = http.get(f"/{kind_}/{id_}")
                if created.status_code == 200:
                    references = _referenced(created.json(), element)
                    problems.check(
                        references == [f"Condition/{matches[0]}"], path, f"resolved to {references}, not {matches}"
                    )


# -- the tests --------------------------------------------------------------------------------------


SEARCH_TYPES = [
    "Patient",
    "RelatedPerson",
    "CareTeam",
    "Consent",
    "Goal",
    "CarePlan",
    "Task",
    "ServiceRequest",
    "Condition",
    "Observation",
    "QuestionnaireResponse",
    "AllergyIntolerance",
    "DocumentReference",
    *DIRECTORY_TYPES,
]


DATA_DEPENDENT_CALLERS = ("care-coordinator-clinic-b", "payer-case-manager", "referral-partner-agency")
CASES = [pytest.param(SEEDS[0], caller, id=f"{SEEDS[0]}-{caller}") for caller in CALLERS] + [
    pytest.param(seed, caller, id=f"{seed}-{caller}") for seed in SEEDS[1:] for caller in DATA_DEPENDENT_CALLERS
]


@pytest.mark.parametrize(("seed", "caller"), CASES)
def test_http_answers_only_what_the_policy_allows(secure_live_server: LiveServer, seed: int, caller: str) -> None:
    world = world_on(secure_live_server, seed)
    token = CALLERS[caller]()
    claims = claims_of(token)
    exp = expected_for(secure_live_server, claims)
    problems = Problems(caller)
    rng = random.Random(f"{seed}-{caller}")
    from fhirbridge.search.definitions import searchable_types

    searchable = [t for t in SEARCH_TYPES if t in set(searchable_types())]
    history_types = sorted({kind for kind, _ in exp.current})
    with client_as(secure_live_server, token) as http:
        check_reads(http, exp, problems, rng)
        check_type_searches(http, exp, problems, searchable)
        check_type_history(http, exp, problems, history_types)
        check_criteria_searches(http, exp, problems, world.children)
        check_patient_operations(http, exp, problems, world.children, set(searchable_types()))
        check_conditional_writes(http, exp, problems, world.children, claims)  # last: it may write
    problems.report()


# -- the entry point against the written rules -------------------------------------------------------


def rule_visible(claims: dict[str, Any], resource: Resource, store_now: dict[Key, Resource], now: datetime) -> bool:
    """The policy of the brief, re-stated over the stored resources (default ``care-team`` mode)."""
    principal = Principal.from_claims(claims)
    resource_type = resource["resourceType"]
    contexts = granting_contexts(principal.scopes, resource_type, "r")
    if not contexts:
        return False
    confined = contexts == {"patient"}
    if not in_patient_compartment_types(resource_type):
        # Directory data: by scopes alone; patient/ scopes grant nothing without a patient in context.
        return not confined or (principal.patient is not None and resource_type in SHARED_REFERENCE_TYPES)
    children = compartment_patients(resource)
    if confined:
        return principal.patient is not None and children == {principal.patient}
    callers = {ref for ref in (principal.fhir_user, principal.organization) if ref}
    return all(child_open(child, resource, callers, principal.organization, store_now, now) for child in children)


def child_open(
    child: str, resource: Resource, callers: set[str], org: str | None, store_now: dict[Key, Resource], now: datetime
) -> bool:
    if treats(child, callers, store_now):
        return True
    if org is None:
        return False
    consents = [item for item in store_now.values() if item["resourceType"] == "Consent"]
    grants = [grant for grant in (grant_of(item, child, org, now) for item in consents) if grant]
    kind = class_of(resource)
    if kind == "patient":
        return bool(grants)  # the Patient itself, under any grant
    if kind is None or (kind == "referrals" and org not in parties(resource)):
        return False
    # One Consent must open the resource: its class and every sensitive label it carries.
    return any(kind in classes and labels_of(resource) <= labels for classes, labels in grants)


def treats(child: str, callers: set[str], store_now: dict[Key, Resource]) -> bool:
    patient = store_now.get(("Patient", child), {})
    named = _referenced(patient, "generalPractitioner") + _referenced(patient, "managingOrganization")
    if callers & set(named):
        return True
    for (kind, _), team in store_now.items():
        if kind == "CareTeam" and _referenced(team, "subject") == [f"Patient/{child}"]:
            members = {p.get("member", {}).get("reference") for p in team.get("participant", [])}
            if callers & members:
                return True
    return False


def grant_of(item: Resource, child: str, org: str, now: datetime) -> tuple[set[str], set[str]] | None:
    categories = [c for concept in item.get("category", []) for c in concept.get("coding", [])]
    if item.get("status") != "active" or _referenced(item, "patient") != [f"Patient/{child}"]:
        return None
    if not any(c.get("system") == ACT_CODE and c.get("code") == "IDSCL" for c in categories):
        return None
    provision = item.get("provision", {})
    actors = [actor.get("reference", {}).get("reference") for actor in provision.get("actor", [])]
    if provision.get("type") != "permit" or org not in actors:
        return None
    period = provision.get("period") or {}
    start = datetime.fromisoformat(period["start"]).replace(tzinfo=UTC) if "start" in period else None
    end = datetime.fromisoformat(period["end"]).replace(tzinfo=UTC) if "end" in period else None
    if (start is not None and now < start) or (end is not None and now > end):
        return None
    classes = {c["code"] for c in provision.get("class", []) if c.get("system") == SHARED_INFORMATION}
    labels = {c["code"] for c in provision.get("securityLabel", []) if c.get("system") == ACT_CODE}
    return classes, labels


def labels_of(resource: Resource) -> set[str]:
    labels: set[str] = set()
    for part in [resource, *resource.get("contained", [])]:
        labels |= {c["code"] for c in part.get("meta", {}).get("security", []) if c.get("system") == ACT_CODE} & set(
            SENSITIVE
        )
        if part.get("resourceType") == "Condition" and any(
            c.get("system") in (ICD10CM, ICD10CM_OID, "http://hl7.org/fhir/sid/icd-10")
            and str(c.get("code", "")).upper().startswith("F")
            for c in part.get("code", {}).get("coding", [])
        ):
            labels.add("BH")
    return labels


CLASS_OF_TYPE = {
    "Patient": "patient",
    "Goal": "goals",
    "CarePlan": "care-plan",
    "Task": "care-plan",
    "ServiceRequest": "referrals",
    "Communication": "referrals",
    "DocumentReference": "referrals",
    "QuestionnaireResponse": "needs-assessment",
    "RiskAssessment": "needs-assessment",
    "Observation": "needs-assessment",
    "CareTeam": "care-team",
    "RelatedPerson": "care-team",
    **dict.fromkeys(
        (
            "Condition",
            "AllergyIntolerance",
            "MedicationStatement",
            "MedicationRequest",
            "Device",
            "Encounter",
            "Procedure",
            "Immunization",
            "Composition",
            "DiagnosticReport",
        ),
        "medical-summary",
    ),
}


def class_of(resource: Resource) -> str | None:
    categories = resource.get("category", [])
    codings = [(c.get("system"), c.get("code")) for concept in categories for c in concept.get("coding", [])]
    if resource["resourceType"] == "CarePlan" and any(code == "emergency-plan" for _, code in codings):
        return "emergency-plan"
    task_codes = [(c.get("system"), c.get("code")) for c in resource.get("code", {}).get("coding", [])]
    if resource["resourceType"] == "Task" and (TASK_CODE, "fulfill") in task_codes:
        return "referrals"
    return CLASS_OF_TYPE.get(resource["resourceType"])


PARTY_ELEMENTS = {
    "ServiceRequest": ("performer", "requester"),
    "Task": ("owner", "requester"),
    "Communication": ("sender", "recipient"),
    "DocumentReference": ("author", "custodian"),
}


def parties(resource: Resource) -> set[str]:
    return {
        reference
        for element in PARTY_ELEMENTS.get(resource["resourceType"], ())
        for reference in _referenced(resource, element)
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_the_policy_entry_point_follows_the_written_rules(secure_live_server: LiveServer, seed: int) -> None:
    world_on(secure_live_server, seed)
    now = datetime.now(UTC)
    disagreements: list[str] = []
    from fhirbridge.security.server import access_for

    stored = {
        (version.resource_type, version.id): json.loads(version.content)
        for version in secure_live_server.repository.iter_current()
        if version.resource_type not in SERVER_WRITTEN and version.content is not None
    }
    for caller, mint in CALLERS.items():
        claims = claims_of(mint())
        access = access_for(secure_live_server.repository, Principal.from_claims(claims), secure_settings())
        for key, resource in sorted(stored.items()):
            by_rule = rule_visible(claims, resource, stored, now)
            if by_rule != access.visible(resource, "r"):
                disagreements.append(f"{caller} {key[0]}/{key[1]}: the rules say {by_rule}, access_for {not by_rule}")
    shown = "\n  ".join(disagreements[:60])
    assert not disagreements, f"{len(disagreements)} disagreements\n  {shown}"
