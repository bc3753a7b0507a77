"""``Group/[id]/$worklist``: a coordinator's worklist over the children of a caseload.

A caseload is a Group (``type`` person, ``actual`` true, its ``member.entity`` the children, its
``managingEntity`` the coordinator or the team's organization; profile ``fhirbridge-caseload-group``).
The worklist reads everything under the caller's ``Access`` and through the policy's own paths:

- the Group by the engine's guarded read: a caseload the caller may not see is a 404 like any other, so
  who is in it never shows (the policy opens a Group only to a caller who may see every child it lists);
- each child's Patient by the same read; a child the caller may not read (or no longer on record) is left
  out, and counted nowhere;
- each child's record by the search store's ``compartment`` (engine/stores.py), whose query carries the
  caller's row filter (as ``$everything`` and ``$summary``), re-checked resource by resource by the Python policy;
- the names of owners, performers and hospitals by the guarded read (a name it may not read is left as the
  reference says it).

The types the worklist reads must all be readable and searchable by the caller (else 403, which says nothing
about any child): computed over a type it may not see, a section would report as missing what is only hidden.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirbridge.assessment.reviews import discharge
from fhirbridge.assessment.values import exact_date
from fhirbridge.compartment import patient_id_of
from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.engine.operations.child_record import human_name
from fhirbridge.engine.operations.compartment import resources_of
from fhirbridge.engine.operations.worklist_parameters import Sections, worklist_parameters
from fhirbridge.engine.operations.worklist_records import ChildRecord, path_of
from fhirbridge.engine.operations.worklist_sections import (
    action_steps,
    goals_without_agreement,
    referrals,
    reviews_overdue,
    without_emergency_plan,
)
from fhirbridge.errors import FhirError, Gone, NotFound, Unprocessable
from fhirbridge.security.access import Access
from fhirbridge.storage.contract import Resource

# What the sections read of each child's record.
RECORD_TYPES = frozenset({"Task", "ServiceRequest", "CarePlan", "Goal", "RiskAssessment", "Encounter"})
# A caseload is one coordinator's or one team's children: a worklist over more is a population report.
MAX_CHILDREN = 1000
DEFAULT_DUE_WITHIN_DAYS = 14
# Whose names the worklist shows (what a step or a referral is about, it says in its own words).
PARTY_TYPES = frozenset({"Patient", "RelatedPerson", "Practitioner", "PractitionerRole", "Organization", "CareTeam"})


class WorklistOperations:
    def __init__(self, engine: FhirEngine) -> None:
        self.engine = engine

    def worklist(
        self, access: Access, group_id: str, *, as_of: date, due_within_days: int = DEFAULT_DUE_WITHIN_DAYS
    ) -> Resource:
        """The worklist of caseload ``group_id`` on ``as_of``, as a Parameters resource (docs/worklists.md)."""
        # Over a type the caller may not read, a section would report as missing what is only hidden.
        for resource_type in ("Patient", *sorted(RECORD_TYPES)):
            access.require(resource_type, "r")
            access.require(resource_type, "s")
        caseload = resource_of(self.engine.read(access, "Group", group_id))
        names = Names(self.engine, access)
        children: list[ChildRecord] = []
        for child in caseload_children(caseload, as_of):
            patient = self._child(access, child)
            if patient is None:
                continue  # not the caller's to see (or not on record): left out, counted nowhere
            names.remember(f"Patient/{child}", patient)
            members = self.engine.index.compartment(access, child, types=RECORD_TYPES, with_referenced=False)
            record = [resource for resource in resources_of(members) if access.visible(resource)]
            children.append(ChildRecord(patient, record))
        sections = Sections(
            steps=action_steps(children, as_of, due_within_days),
            referrals=referrals(children, as_of),
            reviews=reviews_overdue(children, as_of, hospital_names(children, names)),
            goals=goals_without_agreement(children),
            emergency=without_emergency_plan(children, as_of),
        )
        return worklist_parameters(caseload, children, as_of, due_within_days, sections, names.reference)

    def _child(self, access: Access, child: str) -> Resource | None:
        """The child's Patient by the guarded read; None when it is hidden from the caller or not on record
        (the two answer alike). A refusal of the type itself (403) is not taken for an absent child."""
        try:
            return resource_of(self.engine.read(access, "Patient", child))
        except (NotFound, Gone):
            return None


def caseload_children(caseload: Resource, as_of: date) -> list[str]:
    """The ids of the children a caseload holds on ``as_of``, in its order: its members that are Patients,
    not ``inactive`` and within their ``period``."""
    children: list[str] = []
    for member in caseload.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        start, end = exact_date(path_of(member, "period", "start")), exact_date(path_of(member, "period", "end"))
        if (start is not None and as_of < start) or (end is not None and end < as_of):
            continue
        child = patient_id_of(member.get("entity"))
        if child is not None and child not in children:
            children.append(child)
    if len(children) > MAX_CHILDREN:
        raise Unprocessable(
            f"A worklist covers at most {MAX_CHILDREN} children; this caseload has {len(children)}",
            code="too-costly",
            expression="Group.member",
        )
    return children


def hospital_names(children: list[ChildRecord], names: Names) -> dict[str, str]:
    """The names of the hospitals the children were discharged from, as far as the caller may read them."""
    found: dict[str, str] = {}
    for child in children:
        for encounter in child.of_type("Encounter"):
            provider = encounter.get("serviceProvider")
            target = provider.get("reference") if isinstance(provider, dict) else None
            if isinstance(target, str) and discharge(encounter) is not None:
                resource = names.read(target)
                name = name_of(resource) if resource is not None else None
                if name is not None:
                    found[target] = name
    return found


class Names:
    """What the worklist shows of the people and places it names, read under the caller's access once each."""

    def __init__(self, engine: FhirEngine, access: Access) -> None:
        self.engine = engine
        self.access = access
        self._read: dict[str, Resource | None] = {}

    def read(self, reference: str) -> Resource | None:
        """The resource a relative reference names, through the guarded read; None when the caller may not
        read it (or it is not on record)."""
        if reference not in self._read:
            resource_type, _, id = reference.partition("/")
            try:
                self._read[reference] = resource_of(self.engine.read(self.access, resource_type, id))
            except FhirError:
                self._read[reference] = None
        return self._read[reference]

    def remember(self, reference: str, resource: Resource) -> None:
        self._read[reference] = resource

    def reference(self, value: Any, display: str | None = None) -> dict[str, Any] | None:
        """A Reference to what ``value`` (a ``Type/id`` or a Reference) names, shown as ``display``, else by
        the name of the party it names as far as the caller may read it, else by the display it had."""
        if isinstance(value, str):
            value = {"reference": value}
        if not isinstance(value, dict):
            return None
        target = value.get("reference") if isinstance(value.get("reference"), str) else None
        shown = display or self._name(target) or value.get("display")
        result = {"reference": target, "display": shown if isinstance(shown, str) else None}
        return {key: item for key, item in result.items() if item} or None

    def _name(self, target: str | None) -> str | None:
        if target is None or target.count("/") != 1 or target.partition("/")[0] not in PARTY_TYPES:
            return None
        resource = self.read(target)
        return name_of(resource) if resource is not None else None


def name_of(party: Resource) -> str | None:
    """A person's name, or an organization's, team's or group's."""
    if isinstance(party.get("name"), str) and party["name"]:
        return str(party["name"])
    return human_name(party)


__all__ = ["DEFAULT_DUE_WITHIN_DAYS", "MAX_CHILDREN", "WorklistOperations", "caseload_children"]
