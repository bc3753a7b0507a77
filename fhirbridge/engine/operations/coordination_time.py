"""``Patient/[id]/$coordination-time`` and ``Practitioner/[id]/$coordination-time``: a month's coordination
minutes for a child, or by a coordinator, and the CCM time thresholds a child's month reaches.

A coordination activity is a Procedure with a category from ``coordination-activity`` (profile
``fhirbridge-coordination-activity``, docs/coordination-time.md): its ``performedPeriod`` is when it was done
and how long it took. Everything is read under the caller's ``Access``, as ``$worklist`` reads:

- the Patient or Practitioner by the engine's guarded read (hidden or absent: 404, alike);
- a child's activities by the search store's ``compartment``, a coordinator's by ``match_ids`` on
  ``performer`` (the Practitioner, or one of its PractitionerRoles the caller may see): both queries carry
  the caller's row filter, and each activity is re-checked by the Python policy, so an activity (or a
  child) the caller may not see is not counted anywhere.

An activity counts in the calendar month its start falls in, as its start is written (the date and offset the
recording system gave), for its whole length in whole minutes (seconds dropped, never rounded up). Only a
``completed`` one counts. One the server cannot measure (no end, an end before its start, a start without a
time) is listed under ``notCounted`` with the reason, never counted as 0. A month with nothing counted
answers ``notRecorded`` = ``activity``, not 0 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhirbridge.compartment import patient_id_of
from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.engine.operations.compartment import resources_of
from fhirbridge.engine.operations.coordination_thresholds import CPT, THRESHOLDS
from fhirbridge.security.access import Access
from fhirbridge.storage.contract import Resource
from fhirbridge.validation.validator import require_valid

BASE = "http://fhirbridge.org/fhir"
ACTIVITY_SYSTEM = f"{BASE}/CodeSystem/coordination-activity"
PROFILE = f"{BASE}/StructureDefinition/fhirbridge-coordination-activity"
KINDS = ("call", "visit", "team-meeting", "research", "letter")

Parameter = dict[str, Any]


@dataclass(frozen=True)
class Activity:
    reference: str
    kind: str
    child: str | None
    start: str
    minutes: int | None  # None: it cannot be measured (see ``reason``)
    reason: str | None = None


class CoordinationTimeOperations:
    def __init__(self, engine: FhirEngine) -> None:
        self.engine = engine

    def for_child(self, access: Access, patient_id: str, month: str) -> Resource:
        """The month's coordination time for ``Patient/patient_id``, with the CCM thresholds it reaches."""
        _require(access, "Patient")
        resource_of(self.engine.read(access, "Patient", patient_id))
        members = self.engine.index.compartment(access, patient_id, types={"Procedure"}, with_referenced=False)
        found = activities_in(members_visible(access, resources_of(members)), month)
        extra = [thresholds_parameter(sum_minutes(found))] if counted(found) else []
        return report(("subject", f"Patient/{patient_id}"), month, found, extra)

    def for_coordinator(self, access: Access, practitioner_id: str, month: str) -> Resource:
        """The month's coordination time recorded by ``Practitioner/practitioner_id``, by kind and by child.
        No thresholds: a CCM code counts a child's month, whoever's time it was."""
        _require(access, "Practitioner")
        resource_of(self.engine.read(access, "Practitioner", practitioner_id))
        performers = [f"Practitioner/{practitioner_id}", *self._roles_of(access, practitioner_id)]
        ids = self.engine.index.match_ids(access, "Procedure", [("performer", ",".join(performers))])
        resources = self.engine.index.current(access, "Procedure", ids=ids) if ids else []
        found = activities_in(members_visible(access, resources), month)
        extra = [by_child_parameter(found)] if counted(found) else []
        return report(("performer", f"Practitioner/{practitioner_id}"), month, found, extra)

    def _roles_of(self, access: Access, practitioner_id: str) -> list[str]:
        """The PractitionerRoles of ``Practitioner/practitioner_id`` the caller may see: an activity recorded
        by the coordinator in a role (``performer.actor`` a PractitionerRole, as a directory-minded EHR
        records it) is the coordinator's time too. A caller that may not search roles counts the
        activities recorded against the Practitioner only."""
        if not access.can("PractitionerRole", "s"):
            return []
        ids = self.engine.index.match_ids(
            access, "PractitionerRole", [("practitioner", f"Practitioner/{practitioner_id}")]
        )
        return [f"PractitionerRole/{id}" for id in ids]


def _require(access: Access, subject_type: str) -> None:
    access.require(subject_type, "r")
    # Over a type the caller may not search, the month would read as empty when it is only hidden.
    access.require("Procedure", "r")
    access.require("Procedure", "s")


def members_visible(access: Access, resources: list[Resource]) -> list[Resource]:
    return [
        resource for resource in resources if resource.get("resourceType") == "Procedure" and access.visible(resource)
    ]


def activity_kind(resource: Resource) -> str | None:
    """The coordination-activity code of a Procedure's category, None when it is not a coordination activity."""
    category = resource.get("category")
    codings = category.get("coding") if isinstance(category, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, dict) and coding.get("system") == ACTIVITY_SYSTEM and coding.get("code") in KINDS:
            return str(coding["code"])
    return None


def _instant(value: Any) -> datetime | None:
    """A dateTime with a time and an offset, else None (a date alone says nothing of how long)."""
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def measured(resource: Resource) -> Activity | None:
    """The activity a completed coordination Procedure records, None for any other Procedure."""
    kind = activity_kind(resource)
    period = resource.get("performedPeriod")
    if kind is None or resource.get("status") != "completed" or not isinstance(period, dict):
        return None
    start_text = period.get("start")
    if not isinstance(start_text, str):
        return None  # with no start it belongs to no month
    reference = f"Procedure/{resource.get('id')}"
    child = patient_id_of(resource.get("subject"))
    start, end = _instant(start_text), _instant(period.get("end"))
    reason = None
    if start is None:
        reason = "performedPeriod.start has no time of day"
    elif end is None:
        reason = "performedPeriod.end is missing or has no time of day"
    elif end < start:
        reason = "performedPeriod.end is before its start"
    if reason is not None or start is None or end is None:
        return Activity(reference, kind, child, start_text, None, reason)
    return Activity(reference, kind, child, start_text, int((end - start).total_seconds()) // 60)


def activities_in(resources: list[Resource], month: str) -> list[Activity]:
    """The coordination activities that start in ``month`` (``YYYY-MM``, as the start is written), by start."""
    found = [activity for activity in map(measured, resources) if activity and activity.start[:7] == month]
    return sorted(found, key=lambda activity: (activity.start, activity.reference))


def counted(activities: list[Activity]) -> list[Activity]:
    return [activity for activity in activities if activity.minutes is not None]


def sum_minutes(activities: list[Activity]) -> int:
    return sum(activity.minutes or 0 for activity in activities)


def report(who: tuple[str, str], month: str, activities: list[Activity], extra: list[Parameter]) -> Resource:
    """The Parameters answer: who and which month, then the totals, or ``notRecorded`` when nothing counts."""
    parameters: list[Parameter] = [_reference(who[0], who[1]), {"name": "month", "valueString": month}]
    done = counted(activities)
    if not done:
        parameters += [
            {"name": "notRecorded", "valueCode": "activity"},
            {"name": "summary", "valueString": f"No coordination activity recorded in {month}"},
        ]
    else:
        parameters.append({"name": "totalMinutes", "valueInteger": sum_minutes(done)})
        parameters += [by_kind_parameter(kind, done) for kind in KINDS if any(a.kind == kind for a in done)]
        parameters += extra
        parameters += [activity_parameter(activity) for activity in done]
    parameters += [not_counted_parameter(activity) for activity in activities if activity.minutes is None]
    return {"resourceType": "Parameters", "parameter": parameters}


def _reference(name: str, reference: str) -> Parameter:
    return {"name": name, "valueReference": {"reference": reference}}


def _part(name: str, *parts: Parameter) -> Parameter:
    return {"name": name, "part": list(parts)}


def _kind(kind: str) -> Parameter:
    return {"name": "kind", "valueCoding": {"system": ACTIVITY_SYSTEM, "code": kind}}


def by_kind_parameter(kind: str, activities: list[Activity]) -> Parameter:
    of_kind = [activity for activity in activities if activity.kind == kind]
    return _part(
        "byKind",
        _kind(kind),
        {"name": "minutes", "valueInteger": sum_minutes(of_kind)},
        {"name": "count", "valueInteger": len(of_kind)},
    )


def by_child_parameter(activities: list[Activity]) -> Parameter:
    """A coordinator's minutes per child (an activity naming no child is listed as ``notRecorded`` subject)."""
    minutes: dict[str, int] = {}
    for activity in activities:
        minutes[activity.child or ""] = minutes.get(activity.child or "", 0) + (activity.minutes or 0)
    return _part(
        "byChild",
        *(
            _part(
                "child",
                _reference("subject", f"Patient/{child}") if child else {"name": "notRecorded", "valueCode": "subject"},
                {"name": "minutes", "valueInteger": total},
            )
            for child, total in sorted(minutes.items())
        ),
    )


def thresholds_parameter(total: int) -> Parameter:
    """Every threshold of coordination_thresholds.py, reached or not, for a child's month of ``total`` minutes."""
    entries: list[Parameter] = []
    for threshold in THRESHOLDS:
        units = threshold.units(total)
        parts: list[Parameter] = [
            {"name": "code", "valueCoding": {"system": CPT, "code": threshold.code, "display": threshold.display}},
            {"name": "minutes", "valueInteger": threshold.minutes},
            {"name": "reached", "valueBoolean": units > 0},
        ]
        if threshold.after is not None:
            parts.append({"name": "units", "valueInteger": units})
        entries.append(_part("threshold", *parts))
    return _part("thresholds", *entries)


def activity_parameter(activity: Activity) -> Parameter:
    return _part(
        "activity",
        _reference("procedure", activity.reference),
        _kind(activity.kind),
        {"name": "start", "valueDateTime": activity.start},
        {"name": "minutes", "valueInteger": activity.minutes},
    )


def not_counted_parameter(activity: Activity) -> Parameter:
    return _part(
        "notCounted",
        _reference("procedure", activity.reference),
        {"name": "reason", "valueString": activity.reason},
    )


def check_coordination_activity(_previous: Resource | None, resource: Resource) -> None:
    """Write rule: a Procedure that records a coordination activity (a category from coordination-activity)
    conforms to the coordination activity profile, whatever ``meta.profile`` says: its minutes are counted."""
    category = resource.get("category")
    codings = category.get("coding") if isinstance(category, dict) else None
    if any(isinstance(c, dict) and c.get("system") == ACTIVITY_SYSTEM for c in codings or []):
        require_valid(resource, profiles=[PROFILE])


__all__ = ["CoordinationTimeOperations", "check_coordination_activity"]
