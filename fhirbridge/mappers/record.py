"""A whole record to FHIR (a list of resources, or a transaction Bundle) and back.

Reading is tolerant: every resource finds a place in the record or is kept as it came, and the import
report lists, element by element, what the record does not cover and why.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, get_args

from fhirbridge.domain.common import Entity
from fhirbridge.domain.people import Child
from fhirbridge.domain.plan import ActionStep
from fhirbridge.domain.record import Record
from fhirbridge.domain.referral import Referral, ReferralStatus, StatusChange
from fhirbridge.domain.rules import problems
from fhirbridge.domain.team import CareTeam
from fhirbridge.mappers import (
    assessment,
    careplan,
    consent,
    goal,
    people,
    referral,
    summary,
    task,
    team,
    transition,
)
from fhirbridge.mappers._context import Links, PartKind, Reader, ReportEntry, is_staff
from fhirbridge.mappers._fhir import Resource, parse_instant, pick, reference_parts, resource_id, text_of
from fhirbridge.mappers.provenance import provenance_for
from fhirbridge.mappers.retention import ABSENT, differences, merge, retain, without_server_meta
from fhirbridge.references import reference_holders, replace_references

__all__ = [
    "PARTS",
    "ImportResult",
    "PartMapping",
    "StatusMove",
    "StatusMoves",
    "record_from_resources",
    "record_to_bundle",
    "record_to_resources",
    "references_outside",
]

BUNDLE_NAMESPACE = uuid.UUID("5b0b2c1e-6f43-5a8e-9d1c-7e2f4b8a1c30")
IGNORED_TYPES = ("Provenance", "AuditEvent", "Bundle", "OperationOutcome", "Subscription")


# ----------------------------------------------------------------------------------------------- writing


def record_to_resources(record: Record) -> list[Resource]:
    """Every resource the record is written as, partner data retained, in dependency order."""
    links = Links(record)
    out: list[Resource] = []
    for part in PARTS:
        for entity, resource in part.written(record, links):
            key = f"{resource['resourceType']}/{resource['id']}"
            out.append(merge(resource, (entity.fhir_retained or {}).get(key)))
    out.extend(copy.deepcopy(resource) for resource in record.fhir_other_resources)
    return out


# --------------------------------------------------------------------------------------- the part table


@dataclass(frozen=True)
class PartMapping:
    """One kind of part of the record and the FHIR resource it is written as and read from.

    Writing, the references between parts (``Links``), placing resources and reading them all loop over
    ``PARTS``; a part that is special says so through its hooks rather than through a branch elsewhere.
    """

    kind: PartKind
    field: str
    """The record field holding these parts (``care_teams`` for team members, which sit on the teams)."""
    fhir_type: str
    recognise: Callable[[Resource], bool]
    """Whether a resource of ``fhir_type`` is this kind of part (two kinds share Condition, CarePlan, Task)."""
    to_fhir: Callable[[Any, Links], Resource | list[Resource]]
    from_fhir: Callable[[Resource, Reader], Any] | None
    """None where reading needs more than the resource (a referral's Task, a plan's inline steps)."""
    display: Callable[[Any], str | None] = lambda entity: None
    entities: Callable[[Record], list[Any]] | None = None
    """The parts in a record; by default those in ``field``."""
    writes: Callable[[Any], bool] = lambda entity: True
    """Whether a part is written as a resource of its own (an inline step is written inside its plan)."""
    once_per_resource: bool = False
    """The same person on several care teams is one Practitioner, written once."""
    also_writes: Callable[[Record, Links], list[tuple[Entity, Resource]]] | None = None
    """Resources written after these parts that belong to no one part (the child's organizations List)."""
    also_reads: tuple[str, ...] = ()
    """Other FHIR types ``to_fhir`` writes and the part is read from (the medical summary's entries)."""

    def of(self, record: Record) -> list[Any]:
        if self.entities is not None:
            return self.entities(record)
        value = getattr(record, self.field)
        return value if isinstance(value, list) else [value] if value is not None else []

    def written(self, record: Record, links: Links) -> list[tuple[Entity, Resource]]:
        found: list[tuple[Entity, Resource]] = []
        seen: set[str] = set()
        for entity in self.of(record):
            if not self.writes(entity) or (self.once_per_resource and resource_id(entity) in seen):
                continue
            seen.add(resource_id(entity))
            made = self.to_fhir(entity, links)
            found.extend((entity, resource) for resource in (made if isinstance(made, list) else [made]))
        return found + (self.also_writes(record, links) if self.also_writes else [])


def _every(resource: Resource) -> bool:
    return True


def _staff(record: Record) -> list[Any]:
    """Team members who are people of their own (Practitioners), on every team they are on."""
    return [member for care_team in record.care_teams for member in care_team.members if is_staff(member)]


def _organizations_list(record: Record, links: Links) -> list[tuple[Entity, Resource]]:
    # Written with the child (an Organization is in no child's compartment; the List brings them in).
    if record.child.known_only_by_reference:
        return []
    return [(record.child, team.organizations_list_to_fhir(record.organizations, links))]


PARTS: tuple[PartMapping, ...] = (
    PartMapping(
        "child",
        "child",
        "Patient",
        _every,
        people.child_to_fhir,
        people.child_from_fhir,
        display=lambda child: child.display_name,
        writes=lambda child: not child.known_only_by_reference,
    ),
    PartMapping(
        "family member",
        "family",
        "RelatedPerson",
        _every,
        people.family_member_to_fhir,
        people.family_member_from_fhir,
        display=lambda relative: relative.display_name,
    ),
    PartMapping(
        "organization",
        "organizations",
        "Organization",
        _every,
        team.organization_to_fhir,
        team.organization_from_fhir,
        display=lambda organization: organization.name,
        also_writes=_organizations_list,
    ),
    PartMapping(
        "team member",
        "care_teams",
        "Practitioner",
        _every,
        team.practitioner_to_fhir,
        None,
        display=lambda member: member.name,
        entities=_staff,
        once_per_resource=True,
    ),
    PartMapping(
        "care team",
        "care_teams",
        "CareTeam",
        _every,
        team.care_team_to_fhir,
        None,
        display=lambda care_team: care_team.name,
    ),
    PartMapping(
        "needs assessment",
        "assessments",
        "QuestionnaireResponse",
        assessment.is_needs_assessment,  # a screening assesses nothing: kept as it came
        assessment.needs_assessment_to_fhir,
        assessment.needs_assessment_from_fhir,
    ),
    PartMapping(
        "need",
        "needs",
        "Condition",
        assessment.is_health_concern,
        assessment.need_to_fhir,
        assessment.need_from_fhir,
        display=lambda need: need.description,
    ),
    PartMapping(
        "diagnosis",
        "diagnoses",
        "Condition",
        lambda condition: not assessment.is_health_concern(condition),
        assessment.diagnosis_to_fhir,
        assessment.diagnosis_from_fhir,
        display=lambda diagnosis: diagnosis.description,
    ),
    PartMapping(
        "complexity assessment",
        "complexity",
        "RiskAssessment",
        assessment.is_complexity,
        assessment.complexity_to_fhir,
        assessment.complexity_from_fhir,
    ),
    PartMapping(
        "goal",
        "goals",
        "Goal",
        _every,
        goal.goal_to_fhir,
        goal.goal_from_fhir,
        display=lambda item: item.description,
    ),
    PartMapping(
        "referral",
        "referrals",
        "ServiceRequest",  # with its tracking Task (and the Appointment, when read)
        _every,
        referral.referral_to_fhir,
        None,
        display=lambda item: item.service,
    ),
    PartMapping(
        "action step",
        "action_steps",
        "Task",
        lambda resource: not task.is_review(resource),  # nor a referral's tracking Task: see _place
        task.action_step_to_fhir,
        task.action_step_from_fhir,
        display=lambda step: step.description,
        writes=lambda step: step.recorded_as == "task",
    ),
    PartMapping(
        "care plan",
        "care_plans",
        "CarePlan",
        lambda plan: not careplan.is_emergency_plan(plan) and not transition.is_transition_plan(plan),
        careplan.care_plan_to_fhir,
        None,
        display=lambda plan: plan.title,
    ),
    PartMapping(
        "emergency plan",
        "emergency_plans",
        "CarePlan",
        careplan.is_emergency_plan,
        careplan.emergency_plan_to_fhir,
        careplan.emergency_plan_from_fhir,
    ),
    PartMapping(
        "transition plan",
        "transition_plans",
        "CarePlan",
        transition.is_transition_plan,
        transition.transition_plan_to_fhir,
        transition.transition_plan_from_fhir,
        display=lambda plan: plan.title,
    ),
    PartMapping(
        "medical summary",
        "medical_summary",
        "Composition",
        summary.is_medical_summary,
        summary.medical_summary_to_fhir,  # the Composition, then a resource for each entry of its lists
        summary.medical_summary_from_fhir,
        also_reads=tuple(summary.ENTRY_TYPES.values()),
    ),
    PartMapping("review", "reviews", "Task", task.is_review, task.review_to_fhir, task.review_from_fhir),
    PartMapping(
        "consent",
        "consents",
        "Consent",
        _every,
        consent.consent_to_fhir,
        consent.consent_from_fhir,
    ),
)
"""Every kind of part, in the order the record is written (what a part refers to comes before it)."""
PARTS_BY_KIND = {part.kind: part for part in PARTS}
PART_TYPES = frozenset(kind for part in PARTS for kind in (part.fhir_type, *part.also_reads))
# Placed by the hooks of another kind (team members with their care teams, reviews with the other Tasks),
# or not at all (nothing refers to the medical summary).
PLACED_WITH_OTHERS: frozenset[PartKind] = frozenset({"team member", "review", "medical summary"})
# Read with more than the resource: the child with its organizations List, care teams with their
# Practitioners, a plan with its inline steps, steps from Tasks and plans, the one medical summary.
READ_WITH_OTHERS: frozenset[PartKind] = frozenset({"child", "organization", "action step", "medical summary"})


def record_to_bundle(record: Record, *, author_id: str | None = None, recorded: datetime | None = None) -> Resource:
    """A transaction Bundle: each resource PUT under its stable id, so sending it twice updates it.

    With ``author_id`` (who made the change: a team member, a family member or the child) and
    ``recorded`` (when), the Bundle also creates a Provenance naming every resource written.
    """
    resources = record_to_resources(record)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid5(BUNDLE_NAMESPACE, _key(resource))}",
            "resource": resource,
            "request": {"method": "PUT", "url": _key(resource)},
        }
        for resource in resources
    ]
    if author_id is not None:
        if recorded is None:
            raise ValueError("a Provenance needs the time of the change (recorded)")
        made = provenance_for(resources, Links(record), author_id=author_id, recorded=recorded)
        entries.append(
            {
                "fullUrl": f"urn:uuid:{made['id']}",
                "resource": made,
                "request": {"method": "POST", "url": "Provenance"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _key(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


# ----------------------------------------------------------------------------------------------- reading


@dataclass
class ImportResult:
    """A record read from FHIR, and what the reading could not place."""

    record: Record
    report: list[ReportEntry] = field(default_factory=list)
    parts: dict[str, list[str]] = field(default_factory=dict)
    """Each part of the record (``child``, ``goals``, ...) -> the resources (``"Type/id"``) it was read
    from, sorted: what a store derives the part's version (ETag) from."""

    def report_json(self) -> list[dict[str, str]]:
        return [entry.to_json() for entry in self.report]


@dataclass(frozen=True)
class StatusMove:
    """A status a referral's tracking Task took over FHIR: when, and who made the move."""

    status: str
    at: datetime
    by: tuple[str, ...] = ()
    """References (``Organization/x``), the author first, then whom it acted for; empty when unknown."""


StatusMoves = Callable[[Resource, str], list[StatusMove]]
"""(a referral's tracking Task, the last status its recorded history holds) -> the status moves made
since, oldest first, as the store saw them (its versions and their Provenance)."""


def record_from_resources(
    resources: Resource | Iterable[Resource], *, status_moves: StatusMoves | None = None
) -> ImportResult:
    """Assemble a record from a Bundle or a list of resources (as the store hands them over).

    A referral whose tracking Task was moved to another status over FHIR (by an agency, say), without
    a ``status-change`` entry for the move, gains the move in its history: when and by whom, as
    ``status_moves`` tells, else at the Task's ``lastModified`` or ``meta.lastUpdated``, by nobody
    named. The record read is then one its own rules accept, and can be written back.
    """
    reader = Reader()
    collected = _collect(resources, reader)
    child_key = _choose_child(collected)
    by_type: dict[str, list[Resource]] = {}
    others: list[Resource] = []
    for resource in collected:
        if resource["resourceType"] in IGNORED_TYPES:
            reader.current = _key(resource)
            reader.note(
                "",
                f"a {resource['resourceType']} is history or transport, not part of the record; not kept in it",
            )
        elif _about_another_patient(resource, child_key):
            reader.current = _key(resource)
            reader.note("", "about another patient than the record's child; kept as it came")
            others.append(resource)
        else:
            by_type.setdefault(resource["resourceType"], []).append(resource)
    return _Assembly(reader, by_type, others, child_key, status_moves).run()


def references_outside(resources: Resource | Iterable[Resource]) -> set[str]:
    """``Type/id`` of the resources referred to but not among ``resources``: what a store should fetch
    too before assembling a record (the Organizations and Practitioners a child's resources name)."""
    reader = Reader()
    collected = _collect(resources, reader)
    present = {_key(resource) for resource in collected}
    wanted: set[str] = set()
    for resource in collected:
        for value in reference_holders(resource):
            parts = reference_parts(value)
            if parts and not value["reference"].startswith(("#", "urn:")):
                wanted.add(f"{parts[0]}/{parts[1]}")
    return wanted - present


def _collect(resources: Resource | Iterable[Resource], reader: Reader) -> list[Resource]:
    items = [resources] if isinstance(resources, dict) else list(resources)
    collected: list[Resource] = []
    for item in items:
        if item.get("resourceType") == "Bundle":
            for entry in item.get("entry", []) or []:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    resource = copy.deepcopy(entry["resource"])
                    full_url = entry.get("fullUrl")
                    if "id" not in resource:
                        resource["id"] = _id_for(resource, full_url)
                    if isinstance(full_url, str):
                        reader.aliases[full_url] = _key(resource)
                    collected.append(resource)
        elif isinstance(item.get("resourceType"), str):
            resource = copy.deepcopy(item)
            resource.setdefault("id", _id_for(resource, None))
            collected.append(resource)
    if reader.aliases:
        # A Bundle's urn:uuid references stand for the resources it carries; once they are resources of a
        # record they are referred to as Type/id, as a server does when it processes the Bundle.
        for resource in collected:
            replace_references(resource, reader.aliases)
    return collected


def _id_for(resource: Resource, full_url: Any) -> str:
    if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
        return full_url.removeprefix("urn:uuid:")
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True, default=str).encode()).hexdigest()
    return f"{resource['resourceType'].lower()}-{digest[:16]}"


_SUBJECT = ("subject", "patient", "for")


def _subject_key(resource: Resource) -> str | None:
    for name in _SUBJECT:
        parts = reference_parts(resource.get(name))
        if parts and parts[0] == "Patient":
            return f"Patient/{parts[1]}"
    return None


def _choose_child(resources: list[Resource]) -> str | None:
    patients = [_key(resource) for resource in resources if resource["resourceType"] == "Patient"]
    named = Counter(key for key in (_subject_key(resource) for resource in resources) if key)
    if patients:
        return max(patients, key=lambda key: (named.get(key, 0), -patients.index(key)))
    return named.most_common(1)[0][0] if named else None


def _about_another_patient(resource: Resource, child_key: str | None) -> bool:
    if resource["resourceType"] == "Patient":
        return _key(resource) != child_key
    subject = _subject_key(resource)
    return subject is not None and child_key is not None and subject != child_key


class _Assembly:
    """One import: placing resources, mapping them, retaining what does not map, reporting."""

    def __init__(
        self,
        reader: Reader,
        by_type: dict[str, list[Resource]],
        others: list[Resource],
        child_key: str | None,
        status_moves: StatusMoves | None = None,
    ) -> None:
        self.reader = reader
        self.by_type = by_type
        self.others = others
        self.child_key = child_key
        self.status_moves = status_moves
        self.organizations_list: Resource | None = None
        self.inline_in: dict[str, str] = {}
        """id of a step carried inside a plan's activity -> the CarePlan (``"Type/id"``) carrying it"""
        self.sources: dict[str, list[Resource]] = {}
        """domain id -> the resources it was read from"""
        self.domain_ids: dict[str, str] = {}
        """``"Type/id"`` -> id in the record; FHIR ids are unique per type, record ids across the record"""
        taken: set[str] = set()
        keys = ([child_key] if child_key else []) + [_key(r) for rs in by_type.values() for r in rs]
        for key in keys:
            resource_type, fhir_id = key.split("/", 1)
            candidate, n = fhir_id, 1
            while candidate in taken:
                n += 1
                suffix = f"-{resource_type.lower()}" + (f"-{n}" if n > 2 else "")
                candidate = fhir_id[: 64 - len(suffix)] + suffix
            taken.add(candidate)
            self.domain_ids.setdefault(key, candidate)

    def did_of(self, key: str) -> str:
        return self.domain_ids.get(key) or key.split("/", 1)[1]

    def did(self, resource: Resource) -> str:
        return self.did_of(_key(resource))

    def of(self, resource_type: str) -> list[Resource]:
        return self.by_type.get(resource_type, [])

    def run(self) -> ImportResult:
        self._place()
        record = self._map()
        self._retain(record)
        report = self.reader.report + [
            ReportEntry("record", problem.path, f"the record breaks a coordinator rule: {problem.message}")
            for problem in problems(record)
        ]
        return ImportResult(record, report, self._parts(record))

    def _parts(self, record: Record) -> dict[str, list[str]]:
        def keys(entities: Iterable[Entity]) -> set[str]:
            return {_key(source) for entity in entities for source in self.sources.get(entity.id, [])}

        parts: dict[str, set[str]] = {}
        for name in Record.model_fields:
            value = getattr(record, name)
            if name == "fhir_other_resources":
                parts[name] = {_key(resource) for resource in self.others}
            elif isinstance(value, list):
                parts[name] = keys(value)
            else:
                parts[name] = keys([value]) if value is not None else set()
        for care_team in record.care_teams:
            parts["care_teams"] |= keys(care_team.members)
        parts["action_steps"] |= {self.inline_in[step.id] for step in record.action_steps if step.id in self.inline_in}
        if self.organizations_list is not None:
            # Read with the child (it is written with the Patient), it orders the organizations.
            parts["child"].discard(_key(self.organizations_list))
            parts["organizations"].add(_key(self.organizations_list))
        return {name: sorted(found) for name, found in parts.items()}

    # -- placing: which resource becomes which part, so references resolve in any order
    def _place(self) -> None:
        """Give every resource its kind of part, so references resolve whatever order they come in: the
        parts the table recognises from the resource alone, in its order; the child, the care teams
        (with who is on them) and the Tasks (steps, reviews, a referral's tracking Task) by hand."""
        place = self.reader.place
        self.tasks: dict[str, str] = {}
        self.staff: set[str] = set()
        for part in PARTS:
            if part.kind == "child":
                if self.child_key:
                    place(self.child_key, "child", self.did_of(self.child_key))
            elif part.kind == "care team":
                self._place_care_teams()
            elif part.kind == "action step":
                self._place_tasks()
            elif part.kind not in PLACED_WITH_OTHERS:
                for resource in self.of(part.fhir_type):
                    if part.recognise(resource):
                        place(_key(resource), part.kind, self.did(resource))

    def _place_care_teams(self) -> None:
        place = self.reader.place
        practitioners = {_key(resource) for resource in self.of("Practitioner")}
        for care_team in self.of("CareTeam"):
            place(_key(care_team), "care team", self.did(care_team))
            for index, participant in enumerate(care_team.get("participant", []) or []):
                if not isinstance(participant, dict):
                    continue
                key = self.reader.key(participant.get("member"))
                if key in practitioners and key not in self.staff:
                    self.staff.add(key)
                    place(key, "team member", self.did_of(key))
                elif key and key not in practitioners:
                    found = team.member_id(care_team, index, participant, self.reader)
                    if found and found[0] != "child":
                        place(key, "team member", found[1])

    def _place_tasks(self) -> None:
        """A Task is a review, the tracking Task of a referral (the first one focused on it), or a step."""
        place = self.reader.place
        for resource in self.of("Task"):
            if task.is_review(resource):
                place(_key(resource), "review", self.did(resource))
            elif referral.is_referral_task(resource, self.reader):
                request = self.reader.key(resource.get("focus"))
                if request and request not in self.tasks:
                    self.tasks[request] = _key(resource)
                    continue
                place(_key(resource), "action step", self.did(resource))
            else:
                place(_key(resource), "action step", self.did(resource))

    # -- mapping
    def _read(self, resource: Resource, read: Callable[[Resource, Reader], Any]) -> Any:
        """Read one resource into a part of the record, under the part's id in the record."""
        self.reader.current = _key(resource)
        domain_id = self.did(resource)
        entity = read({**resource, "id": domain_id}, self.reader)
        if domain_id != resource["id"]:
            entity.fhir_id = resource["id"]
        self.sources.setdefault(entity.id, []).append(resource)
        return entity

    def _map(self) -> Record:
        reader = self.reader
        child = self._child()
        organizations = self._organizations(child)
        practitioners = {_key(r): r for r in self.of("Practitioner")}
        care_teams: list[CareTeam] = []
        for resource in self.of("CareTeam"):
            care_team = self._read(resource, lambda r, rd: team.care_team_from_fhir(r, rd, practitioners))
            care_teams.append(care_team)
            for member in care_team.members:
                key = f"Practitioner/{member.fhir_id or member.id}"
                if key in practitioners and member.id not in self.sources:
                    self.sources[member.id] = [practitioners[key]]
        for key, resource in practitioners.items():
            if key not in self.staff:
                reader.current = key
                reader.note("", "a Practitioner on no care team has no place in the record; kept as it came")
                self.others.append(resource)
        plans = [r for r in self.of("CarePlan") if PARTS_BY_KIND["care plan"].recognise(r)]
        inline: list[ActionStep] = []
        care_plans = []
        for resource in plans:
            reader.current = _key(resource)
            steps = careplan.inline_steps_from_fhir(resource, reader)
            inline.extend(steps)
            self.inline_in.update({step.id: _key(resource) for step in steps})
            plan = self._read(resource, lambda r, rd, s=steps: careplan.care_plan_from_fhir(r, rd, s))  # type: ignore[misc]
            care_plans.append(plan)
        step_tasks = [r for r in self.of("Task") if reader.kind_of(reference_of(r)) == "action step"]
        summaries = [r for r in self.of("Composition") if summary.is_medical_summary(r)]
        # The parts the table reads from the resource alone, in its order.
        read_alone = {
            part.field: [self._read(r, part.from_fhir) for r in self.of(part.fhir_type) if part.recognise(r)]
            for part in PARTS
            if part.from_fhir is not None and part.kind not in READ_WITH_OTHERS
        }
        record = Record(
            child=child,
            organizations=organizations,
            care_teams=care_teams,
            medical_summary=self._summary(summaries[0]) if summaries else None,
            care_plans=care_plans,
            action_steps=[*(self._read(r, task.action_step_from_fhir) for r in step_tasks), *inline],
            referrals=self._referrals(),
            **read_alone,
        )
        read = {_key(source) for sources in self.sources.values() for source in sources}
        kept_unless_read = (
            "RiskAssessment",
            "Composition",
            "Appointment",
            "QuestionnaireResponse",
            *summary.ENTRY_TYPES.values(),
        )
        # The youth's readiness answers a transition plan names are kept as they came, as the plan expects.
        named = {f"QuestionnaireResponse/{plan.readiness_response_id}" for plan in record.transition_plans}
        for resource in [resource for kind in kept_unless_read for resource in self.of(kind)]:
            if _key(resource) not in read:
                if _key(resource) not in named or not transition.is_readiness_response(resource):
                    reader.current = _key(resource)
                    reader.note("", f"this {resource['resourceType']} has no place in the record; kept as it came")
                self.others.append(resource)
        for resource_type, resources in self.by_type.items():
            if resource_type in PART_TYPES or resource_type in kept_unless_read:
                continue
            for resource in resources:
                if resource is self.organizations_list:
                    continue
                reader.current = _key(resource)
                reader.note("", f"a {resource_type} has no place in the record; kept as it came")
                self.others.append(resource)
        record.fhir_other_resources = [without_server_meta(r) for r in self.others]
        return record

    def _summary(self, composition: Resource) -> Any:
        """The medical summary: its Composition, and the medications, allergies, equipment and hospital
        stays about the child, whether its sections refer to them or not."""
        entries = {
            _key(resource): resource
            for resource_type in summary.ENTRY_TYPES.values()
            for resource in self.of(resource_type)
            if _subject_key(resource) == self.child_key
        }
        self.reader.current = _key(composition)
        found = summary.summary_entries(composition, self.reader, entries, composition["id"])
        entity = self._read(composition, partial(summary.medical_summary_from_fhir, entries=found))
        self.sources[entity.id].extend(found.read)
        return entity

    def _organizations(self, child: Child) -> list[Any]:
        """The organizations, in the order of the child's organizations List when there is one."""
        organizations = [self._read(r, team.organization_from_fhir) for r in self.of("Organization")]
        if child.known_only_by_reference:
            return organizations
        lists = [r for r in self.of("List") if team.is_organizations_list(r, self.child_key)]
        if not lists:
            return organizations
        self.organizations_list = lists[0]
        self.sources[child.id].append(lists[0])
        self.reader.current = _key(lists[0])
        order = {organization: n for n, organization in enumerate(team.organizations_list_order(lists[0], self.reader))}
        return sorted(organizations, key=lambda organization: order.get(organization.id, len(order)))

    def _child(self) -> Child:
        patients = [r for r in self.of("Patient") if _key(r) == self.child_key]
        if patients:
            return self._read(patients[0], people.child_from_fhir)  # type: ignore[no-any-return]
        self.reader.current = self.child_key or "record"
        self.reader.note(
            "",
            "the child's Patient is not among the resources; the child is known only by "
            "reference and no Patient is written back",
        )
        child_id = self.did_of(self.child_key) if self.child_key else "unknown-child"
        return Child(id=child_id, known_only_by_reference=True)

    def _referrals(self) -> list[Any]:
        tasks = {_key(r): r for r in self.of("Task")}
        appointments: dict[str, Resource] = {}
        for resource in self.of("Appointment"):
            for based_on in resource.get("basedOn", []) or []:
                key = self.reader.key(based_on)
                if key and self.reader.kind_of(based_on) == "referral" and key not in appointments:
                    appointments[key] = resource
        found = []
        for request in self.of("ServiceRequest"):
            key = _key(request)
            tracking = tasks.get(self.tasks[key]) if key in self.tasks else None
            appointment = appointments.get(key)
            entity = self._read(request, partial(_read_referral, tracking=tracking, appointment=appointment))
            if tracking is not None:
                self._record_moves(entity, tracking)
            if tracking is None:
                self.reader.note(
                    "",
                    f"no Task tracks this referral; fhirbridge adds Task/{entity.tracking_task_id} "
                    "(code fulfill) when it writes the record back",
                )
            for extra in (tracking, appointment):
                if extra is not None:
                    self.reader.current = _key(extra)
                    self.sources[entity.id].append(extra)
            found.append(entity)
        return found

    def _record_moves(self, referral: Referral, tracking: Resource) -> None:
        """Bring into the referral's history the status moves made over FHIR that it does not hold."""
        history = list(referral.history)
        if not history:
            return  # nothing recorded to follow on from: the status alone says where the referral stands
        last = history[-1]
        status = tracking.get("status")
        known = status in get_args(ReferralStatus)
        if known and status == last.status:
            return
        moves = self.status_moves(tracking, last.status) if self.status_moves is not None else []
        if known and (not moves or moves[-1].status != status):
            moves = [*moves, StatusMove(str(status), self._moved_at(tracking, last))]
        added: list[StatusChange] = []
        previous = last
        reason = text_of(tracking.get("statusReason"))
        for n, move in enumerate(moves):
            if move.status == previous.status or move.status not in get_args(ReferralStatus):
                continue
            note = "changed over FHIR" + (f" by {self._who(move.by)}" if move.by else "")
            if reason and n == len(moves) - 1 and move.status == status:
                note = f"{reason}; {note}"  # why it was rejected or cancelled, as the Task says
            previous = StatusChange(status=pick(move.status, ReferralStatus), at=max(move.at, previous.at), note=note)
            added.append(previous)
        self.reader.current = _key(tracking)
        if added:
            referral.history = [*history, *added]
            moved = ", ".join(f"{change.status} at {change.at.isoformat()}" for change in added)
            self.reader.note(
                "extension",
                f"status moves made over FHIR without a status-change entry ({moved}) are added to the "
                "referral's history; written to the Task once the history changes again",
            )
        if not known:
            self.reader.note(
                "status",
                f"'{status}' is not a referral status of the record; the referral stays "
                f"{previous.status}, the Task's status is kept",
            )
        referral.status = previous.status

    @staticmethod
    def _moved_at(tracking: Resource, last: StatusChange) -> datetime:
        """When the Task took its status, as far as the Task itself tells."""
        meta = tracking.get("meta") if isinstance(tracking.get("meta"), dict) else {}
        for value in (tracking.get("lastModified"), (meta or {}).get("lastUpdated")):
            at = parse_instant(value)
            if at is not None and at > last.at:
                return at
        return last.at

    def _who(self, references: tuple[str, ...]) -> str:
        shown = []
        for key in references:
            parts = key.split("/", 1)
            found = [r for r in self.of(parts[0]) if r["id"] == parts[-1]]
            name = None
            if found and parts[0] == "Organization":
                name = found[0].get("name")
            elif found and parts[0] == "Practitioner":
                name = team.staff_member_from_fhir(found[0])["name"]
            shown.append(f"{name} ({key})" if isinstance(name, str) and name else key)
        return " for ".join(shown)

    # -- retaining what the record does not reproduce, and reporting it
    def _retain(self, record: Record) -> None:
        written: dict[str, Resource] = {_key(r): r for r in _plain_resources(record)}
        noted = {(entry.resource, entry.path) for entry in self.reader.report}
        reported: set[str] = set()
        for entity in _entities(record):
            sources = self.sources.get(entity.id, [])
            kept: dict[str, Any] = {}
            for source in sources:
                key = _key(source)
                as_read = written.get(key, {})
                elements = retain(source, as_read)
                if elements:
                    kept[key] = elements
                if key in reported:
                    continue  # the same person on two care teams: one Practitioner, reported once
                reported.add(key)
                for name, entry in elements.items():
                    if "original" not in entry:
                        continue
                    for path, partly in differences(entry["original"], entry.get("as_read", ABSENT), name):
                        if not _covered(key, path, noted):
                            self.reader.report.append(ReportEntry(key, path, _reason(path, partly)))
            if kept:
                entity.fhir_retained = kept


def _covered(resource: str, path: str, noted: set[tuple[str, str]]) -> bool:
    """Whether a report entry already speaks of this element (an unresolved reference inside it)."""
    return any(
        where == resource and (path == seen or path.startswith((f"{seen}.", f"{seen}[")) or seen.startswith(path))
        for where, seen in noted
        if seen
    )


def _reason(path: str, partly: bool) -> str:
    if path == "text" or path.startswith("text."):
        return "the partner's narrative is kept; fhirbridge writes its own once the record changes"
    if not partly:
        return "no place in the record; kept and written back unchanged"
    return "only partly represented in the record; the partner's value is kept and written back unchanged"


def _read_referral(
    request: Resource, reader: Reader, *, tracking: Resource | None, appointment: Resource | None
) -> Any:
    return referral.referral_from_fhir(request, tracking, appointment, reader)


def reference_of(resource: Resource) -> dict[str, str]:
    return {"reference": _key(resource)}


def _plain_resources(record: Record) -> list[Resource]:
    bare = record.model_copy(deep=True)
    for entity in _entities(bare):
        entity.fhir_retained = None
    bare.fhir_other_resources = []
    return record_to_resources(bare)


def _entities(record: Record) -> list[Entity]:
    found: list[Entity] = [record.child]
    for items in (
        record.family,
        record.organizations,
        record.care_teams,
        record.assessments,
        record.needs,
        record.complexity,
        record.diagnoses,
        record.care_plans,
        record.goals,
        record.action_steps,
        record.emergency_plans,
        record.referrals,
        record.reviews,
        record.consents,
        record.transition_plans,
    ):
        found.extend(items)
    for care_team in record.care_teams:
        found.extend(care_team.members)
    if record.medical_summary:
        found.append(record.medical_summary)
    return found
