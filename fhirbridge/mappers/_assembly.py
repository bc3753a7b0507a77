"""One import: placing resources as parts of the record, mapping them, following a referral's status
moves made over FHIR, retaining what does not map; and what an import gives back (``ImportResult``).
"""

from __future__ import annotations

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
from fhirbridge.mappers import careplan, people, referral, summary, task, team, transition
from fhirbridge.mappers._context import Reader, ReportEntry
from fhirbridge.mappers._fhir import Resource, parse_instant, pick, text_of
from fhirbridge.mappers._incoming import resource_key, subject_key
from fhirbridge.mappers._retained import retain_unreproduced
from fhirbridge.mappers.parts import PART_TYPES, PARTS, PARTS_BY_KIND, PLACED_WITH_OTHERS, READ_WITH_OTHERS
from fhirbridge.mappers.retention import without_server_meta

__all__ = ["Assembly", "ImportResult", "StatusMove", "StatusMoves"]


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


class Assembly:
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
        keys = ([child_key] if child_key else []) + [resource_key(r) for rs in by_type.values() for r in rs]
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
        return self.did_of(resource_key(resource))

    def of(self, resource_type: str) -> list[Resource]:
        return self.by_type.get(resource_type, [])

    def run(self) -> ImportResult:
        self._place()
        record = self._map()
        retain_unreproduced(record, self.sources, self.reader)
        report = self.reader.report + [
            ReportEntry("record", problem.path, f"the record breaks a coordinator rule: {problem.message}")
            for problem in problems(record)
        ]
        return ImportResult(record, report, self._parts(record))

    def _parts(self, record: Record) -> dict[str, list[str]]:
        def keys(entities: Iterable[Entity]) -> set[str]:
            return {resource_key(source) for entity in entities for source in self.sources.get(entity.id, [])}

        parts: dict[str, set[str]] = {}
        for name in Record.model_fields:
            value = getattr(record, name)
            if name == "fhir_other_resources":
                parts[name] = {resource_key(resource) for resource in self.others}
            elif isinstance(value, list):
                parts[name] = keys(value)
            else:
                parts[name] = keys([value]) if value is not None else set()
        for care_team in record.care_teams:
            parts["care_teams"] |= keys(care_team.members)
        parts["action_steps"] |= {self.inline_in[step.id] for step in record.action_steps if step.id in self.inline_in}
        if self.organizations_list is not None:
            # Read with the child (it is written with the Patient), it orders the organizations.
            parts["child"].discard(resource_key(self.organizations_list))
            parts["organizations"].add(resource_key(self.organizations_list))
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
                        place(resource_key(resource), part.kind, self.did(resource))

    def _place_care_teams(self) -> None:
        place = self.reader.place
        practitioners = {resource_key(resource) for resource in self.of("Practitioner")}
        for care_team in self.of("CareTeam"):
            place(resource_key(care_team), "care team", self.did(care_team))
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
                place(resource_key(resource), "review", self.did(resource))
            elif referral.is_referral_task(resource, self.reader):
                request = self.reader.key(resource.get("focus"))
                if request and request not in self.tasks:
                    self.tasks[request] = resource_key(resource)
                    continue
                place(resource_key(resource), "action step", self.did(resource))
            else:
                place(resource_key(resource), "action step", self.did(resource))

    # -- mapping
    def _read(self, resource: Resource, read: Callable[[Resource, Reader], Any]) -> Any:
        """Read one resource into a part of the record, under the part's id in the record."""
        self.reader.current = resource_key(resource)
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
        practitioners = {resource_key(r): r for r in self.of("Practitioner")}
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
            reader.current = resource_key(resource)
            steps = careplan.inline_steps_from_fhir(resource, reader)
            inline.extend(steps)
            self.inline_in.update({step.id: resource_key(resource) for step in steps})
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
        read = {resource_key(source) for sources in self.sources.values() for source in sources}
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
            if resource_key(resource) not in read:
                if resource_key(resource) not in named or not transition.is_readiness_response(resource):
                    reader.current = resource_key(resource)
                    reader.note("", f"this {resource['resourceType']} has no place in the record; kept as it came")
                self.others.append(resource)
        for resource_type, resources in self.by_type.items():
            if resource_type in PART_TYPES or resource_type in kept_unless_read:
                continue
            for resource in resources:
                if resource is self.organizations_list:
                    continue
                reader.current = resource_key(resource)
                reader.note("", f"a {resource_type} has no place in the record; kept as it came")
                self.others.append(resource)
        record.fhir_other_resources = [without_server_meta(r) for r in self.others]
        return record

    def _summary(self, composition: Resource) -> Any:
        """The medical summary: its Composition, and the medications, allergies, equipment and hospital
        stays about the child, whether its sections refer to them or not."""
        entries = {
            resource_key(resource): resource
            for resource_type in summary.ENTRY_TYPES.values()
            for resource in self.of(resource_type)
            if subject_key(resource) == self.child_key
        }
        self.reader.current = resource_key(composition)
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
        self.reader.current = resource_key(lists[0])
        order = {organization: n for n, organization in enumerate(team.organizations_list_order(lists[0], self.reader))}
        return sorted(organizations, key=lambda organization: order.get(organization.id, len(order)))

    def _child(self) -> Child:
        patients = [r for r in self.of("Patient") if resource_key(r) == self.child_key]
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
        tasks = {resource_key(r): r for r in self.of("Task")}
        appointments: dict[str, Resource] = {}
        for resource in self.of("Appointment"):
            for based_on in resource.get("basedOn", []) or []:
                key = self.reader.key(based_on)
                if key and self.reader.kind_of(based_on) == "referral" and key not in appointments:
                    appointments[key] = resource
        found = []
        for request in self.of("ServiceRequest"):
            key = resource_key(request)
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
                    self.reader.current = resource_key(extra)
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
        self.reader.current = resource_key(tracking)
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


def _read_referral(
    request: Resource, reader: Reader, *, tracking: Resource | None, appointment: Resource | None
) -> Any:
    return referral.referral_from_fhir(request, tracking, appointment, reader)


def reference_of(resource: Resource) -> dict[str, str]:
    return {"reference": resource_key(resource)}
