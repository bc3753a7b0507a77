"""The sections of the patient summary (``SECTIONS``), in the order the document gives them: for each part
of the child's plan, the resources it holds and the lines of its narrative.

Kept apart from the document (``summary``), which assembles the sections of any kind of document the
same way; each section reads only the ``ChildRecord`` (``child_record``).
"""

from __future__ import annotations

from typing import Any

from fhirbridge.engine.operations.child_record import (
    LOINC,
    Block,
    Built,
    ChildRecord,
    Section,
    bracketed,
    code_of,
    codes_of,
    day_of,
    joined,
    party_name,
    phone_of,
    reference_to,
    text_of,
)
from fhirbridge.engine.operations.labels import Labels
from fhirbridge.engine.referrals import OPEN_STATUSES, is_referral_task
from fhirbridge.storage.contract import Resource

SNOMED = "http://snomed.info/sct"
SECTION_SYSTEM = "http://fhirbridge.org/fhir/CodeSystem/summary-section"
PLAN_KIND = "http://fhirbridge.org/fhir/CodeSystem/care-plan-kind"
RESPONSIBILITY = "http://fhirbridge.org/fhir/StructureDefinition/responsibility"
# SNOMED CT situations that record the absence of allergies ("no known allergy" and its kinds).
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002", "428607008", "429625007", "428197003"})
_NO_ALLERGY_WORDS = ("no known allerg", "nka", "nkda", "no allerg")
# Task kinds that are not steps anyone takes toward a goal.
_NOT_STEPS = frozenset({"care-plan-review"})


def _problems(record: ChildRecord) -> Built:
    built = Built()
    problems = [
        c
        for c in record.of_type("Condition")
        if "health-concern" not in codes_of(c.get("category"))
        and code_of(c.get("verificationStatus")) not in ("entered-in-error", "refuted")
    ]
    lines = []
    for condition in problems:
        status = code_of(condition.get("clinicalStatus"))
        onset = day_of(condition.get("onsetDateTime"))
        label = text_of(condition.get("code")) or reference_to(condition)
        lines.append(label + bracketed(joined(record.labels.status(status) if status else None, onset)))
    built.entries = problems
    built.add(None, lines)
    return built


def _from_summary(record: ChildRecord, built: Built, loinc: str, label: str | None = None) -> Built:
    summary, items = record.summary_items(loinc)
    if summary is not None:
        built.entries = [summary]
        built.add(label, items)
    return built


def _medications(record: ChildRecord) -> Built:
    built = Built()
    recorded = [
        r
        for r in record.of_type("MedicationStatement", "MedicationRequest")
        if r.get("status") in (None, "active", "intended", "on-hold", "unknown")
    ]
    if not recorded:
        return _from_summary(record, built, "10160-0")
    lines = []
    for medication in recorded:
        name = text_of(medication.get("medicationCodeableConcept")) or record.name_of(
            medication.get("medicationReference")
        )
        if name is None and (found := record.resolve(medication.get("medicationReference"))):
            name = text_of(found.get("code"))
        dosage = next(
            (d["text"] for d in medication.get("dosage") or medication.get("dosageInstruction") or [] if d.get("text")),
            None,
        )
        lines.append(joined(name or reference_to(medication), dosage, sep=": "))
    built.entries = recorded
    built.add(None, lines)
    return built


def _allergies(record: ChildRecord) -> Built:
    built = Built()
    recorded = [
        r
        for r in record.of_type("AllergyIntolerance")
        if code_of(r.get("verificationStatus")) not in ("entered-in-error", "refuted")
    ]
    if not recorded:
        built = _from_summary(record, built, "48765-2")
        if built.blocks and all(_says_no_allergies(line) for line in built.blocks[0].lines):
            built.blocks = [Block(None, [record.labels["allergies.none_known"]])]
        return built
    lines = []
    for allergy in recorded:
        if codes_of(allergy.get("code")) & NO_KNOWN_ALLERGY:
            lines.append(record.labels["allergies.none_known"])
            continue
        reactions = [
            text_of(manifestation)
            for reaction in allergy.get("reaction") or []
            for manifestation in reaction.get("manifestation") or []
        ]
        detail = joined(*(r for r in reactions if r), allergy.get("criticality"))
        lines.append((text_of(allergy.get("code")) or reference_to(allergy)) + bracketed(detail))
    built.entries = recorded
    built.add(None, lines)
    return built


def _says_no_allergies(line: str) -> bool:
    words = line.strip().lower()
    return any(words == w or words.startswith(w) for w in _NO_ALLERGY_WORDS)


def _devices(record: ChildRecord) -> Built:
    built = Built()
    uses = [r for r in record.of_type("DeviceUseStatement") if r.get("status") in (None, "active", "intended")]
    devices = [r for r in record.of_type("Device") if r.get("status") in (None, "active")]
    if not uses and not devices:
        return _from_summary(record, built, "46264-8")
    lines = []
    for use in uses:
        device = record.resolve(use.get("device"))
        lines.append(_device_name(device) if device else record.name_of(use.get("device")) or reference_to(use))
    used = {reference_to(d) for d in record.referenced.values() if d["resourceType"] == "Device"}
    lines += [_device_name(d) for d in devices if reference_to(d) not in used]
    built.entries = uses + devices
    built.add(None, lines)
    return built


def _device_name(device: Resource) -> str:
    for name in device.get("deviceName") or []:
        if isinstance(name, dict) and name.get("name"):
            return str(name["name"])
    return text_of(device.get("type")) or reference_to(device)


def _hospitalizations(record: ChildRecord) -> Built:
    built = Built()
    stays = [
        e
        for e in record.of_type("Encounter")
        if (e.get("class") or {}).get("code") in ("IMP", "ACUTE", "NONAC") or e.get("hospitalization")
    ]
    if not stays:
        return _from_summary(record, built, "46240-8")
    stays.sort(key=lambda e: str((e.get("period") or {}).get("start") or ""), reverse=True)
    lines = []
    for stay in stays:
        period = stay.get("period") or {}
        when = " to ".join(day for day in (day_of(period.get("start")), day_of(period.get("end"))) if day)
        reason = text_of(stay.get("reasonCode"))
        lines.append(joined(record.name_of(stay.get("serviceProvider")), when, reason))
    built.entries = stays
    built.add(None, lines)
    return built


def _functional_status(record: ChildRecord) -> Built:
    built = Built()
    observations = [
        o
        for o in record.of_type("Observation")
        if "functional-status" in codes_of(o.get("category"))
        and o.get("status") not in ("entered-in-error", "cancelled")
    ]
    lines = []
    for observation in observations:
        value = observation.get("valueString") or text_of(observation.get("valueCodeableConcept"))
        lines.append(joined(text_of(observation.get("code")), value, sep=": "))
    built.entries = observations
    built.add(None, lines)
    return built


def is_emergency_plan(resource: Resource) -> bool:
    return resource["resourceType"] == "CarePlan" and (
        bool(resource.get("partOf")) or "emergency-plan" in codes_of(resource.get("category"))
    )


def _plan_of_care(record: ChildRecord) -> Built:
    built = Built()
    labels = record.labels
    plans = [
        p
        for p in record.of_type("CarePlan")
        if not is_emergency_plan(p) and p.get("status") in ("active", "draft", "on-hold")
    ]
    goals = [
        g
        for g in record.of_type("Goal")
        if g.get("lifecycleStatus") not in ("cancelled", "entered-in-error", "rejected", "completed")
    ]
    tasks = [
        t
        for t in record.of_type("Task")
        if not is_referral_task(t)
        and not (codes_of(t.get("code")) & _NOT_STEPS)
        and t.get("status") not in ("cancelled", "entered-in-error")
    ]
    built.add(
        None, [joined(p.get("title") or text_of(p.get("category")), p.get("description"), sep=": ") for p in plans]
    )
    built.add(labels["plan.goals"], [_goal_line(goal, record) for goal in goals])
    steps = [_task_line(task, record) for task in tasks]
    steps += [_inline_step_line(detail, record) for plan in plans for detail in _inline_steps(plan)]
    built.add(labels["plan.steps"], steps)
    built.entries = plans + goals + tasks
    return built


def _goal_line(goal: Resource, record: ChildRecord) -> str:
    labels = record.labels
    targets = [t for t in goal.get("target") or [] if isinstance(t, dict)]
    measure = next((text_of(t.get("measure")) for t in targets if text_of(t.get("measure"))), None)
    due = next((t["dueDate"] for t in targets if t.get("dueDate")), None)
    achievement = code_of(goal.get("achievementStatus"))
    details = joined(
        f"{labels['plan.measure']} {measure}" if measure else None,
        f"{labels['plan.target']} {due}" if due else None,
        f"{labels['plan.expressed_by']} {who}" if (who := record.name_of(goal.get("expressedBy"))) else None,
        labels.status(achievement) if achievement else None,
    )
    return (text_of(goal.get("description")) or reference_to(goal)) + bracketed(details)


def _task_line(task: Resource, record: ChildRecord) -> str:
    """Who does what by when: the Task's own description, owner and due date (never a generic code)."""
    what = task.get("description") or text_of(task.get("code")) or reference_to(task)
    period = (task.get("restriction") or {}).get("period") or task.get("executionPeriod") or {}
    return _step_line(
        str(what), record.name_of(task.get("owner")), day_of(period.get("end")), task.get("status"), record
    )


def _inline_steps(plan: Resource) -> list[dict[str, Any]]:
    return [
        a["detail"] for a in plan.get("activity") or [] if isinstance(a, dict) and isinstance(a.get("detail"), dict)
    ]


def _inline_step_line(detail: dict[str, Any], record: ChildRecord) -> str:
    what = detail.get("description") or text_of(detail.get("code")) or "—"
    performers = detail.get("performer") or []
    who = record.name_of(performers[0]) if performers else None
    due = day_of((detail.get("scheduledPeriod") or {}).get("end"))
    return _step_line(str(what), who, due, detail.get("status"), record)


def _step_line(what: str, who: str | None, due: str | None, status: Any, record: ChildRecord) -> str:
    labels = record.labels
    details = joined(
        who or labels["plan.unassigned"],
        f"{labels['plan.due']} {due}" if due else None,
        labels.status(status) if isinstance(status, str) else None,
    )
    return f"{what} — {details}"


def _emergency_plan(record: ChildRecord) -> Built:
    built = Built()
    labels = record.labels
    plans = [p for p in record.of_type("CarePlan") if is_emergency_plan(p) and p.get("status") in ("active", "draft")]
    if not plans:
        return built
    medications, allergies = _medications(record), _allergies(record)
    for plan in plans:
        details = _inline_steps(plan)
        built.add(labels["emergency.baseline"], [plan.get("description") or ""])
        built.add(
            labels["emergency.scenarios"],
            [
                joined(text_of(d.get("code")), d.get("description") or labels["emergency.see_team"], sep=": ")
                for d in details
                if d.get("doNotPerform") is not True
            ],
        )
        built.add(
            labels["emergency.avoid"],
            [
                str(text_of(d.get("code")) or d.get("description") or "")
                for d in details
                if d.get("doNotPerform") is True
            ],
        )
        built.add(labels["emergency.allergies"], [line for block in allergies.blocks for line in block.lines])
        built.add(labels["emergency.medications"], [line for block in medications.blocks for line in block.lines])
        supporting = [(ref, record.resolve(ref)) for ref in plan.get("supportingInfo") or []]
        built.add(
            labels["emergency.contacts"],
            [_contact_line(found) for _, found in supporting if found and found["resourceType"] != "Organization"],
        )
        built.add(
            labels["emergency.hospital"],
            [
                joined(party_name(found), phone_of(found))
                for _, found in supporting
                if found and found["resourceType"] == "Organization"
            ],
        )
    built.entries = plans
    return built


def _contact_line(person: Resource) -> str:
    relationship = text_of(person.get("relationship"))
    return joined(party_name(person) + bracketed(relationship), phone_of(person), sep=": ")


def _care_team(record: ChildRecord) -> Built:
    built = Built()
    labels = record.labels
    teams = [t for t in record.of_type("CareTeam") if t.get("status") in (None, "active", "proposed", "suspended")]
    for team in teams:
        lines = []
        for participant in team.get("participant") or []:
            member = record.resolve(participant.get("member"))
            organization = record.resolve(participant.get("onBehalfOf"))
            if member is not None and member["resourceType"] == "Organization" and organization is None:
                organization = member
            name = record.name_of(participant.get("member"))
            role = text_of(participant.get("role"))
            if member is not None and member["resourceType"] == "RelatedPerson" and not role:
                role = text_of(member.get("relationship"))
            phone = phone_of(member) or phone_of(organization)
            duties = [e["valueString"] for e in participant.get("extension") or [] if e.get("url") == RESPONSIBILITY]
            org_name = party_name(organization) if organization and organization is not member else None
            lines.append(
                joined(
                    joined(name, role, sep=" — "),
                    org_name,
                    f"{labels['team.phone']} {phone}" if phone else None,
                )
                + (f"; {labels['team.responsibilities']}: {'; '.join(duties)}" if duties else "")
            )
        built.add(team.get("name") if isinstance(team.get("name"), str) else None, lines)
    built.entries = teams
    return built


def _open_referrals(record: ChildRecord) -> Built:
    built = Built()
    labels = record.labels
    requests = [r for r in record.of_type("ServiceRequest") if r.get("status") in ("draft", "active", "on-hold")]
    tasks = [t for t in record.of_type("Task") if is_referral_task(t) and t.get("status") in OPEN_STATUSES]
    lines = []
    handled: set[str] = set()
    for request in requests:
        own = [t for t in tasks if (t.get("focus") or {}).get("reference", "").endswith(reference_to(request))]
        handled.update(reference_to(t) for t in own)
        task = own[0] if own else None
        to = record.name_of((task or {}).get("owner")) or next(
            (name for ref in request.get("performer") or [] if (name := record.name_of(ref))), None
        )
        since = day_of((task or request).get("authoredOn"))
        status = (task or request).get("status")
        lines.append(_referral_line(text_of(request.get("code")) or reference_to(request), to, status, since, labels))
    for task in tasks:
        if reference_to(task) not in handled:
            what = task.get("description") or record.name_of(task.get("focus")) or reference_to(task)
            lines.append(
                _referral_line(
                    str(what),
                    record.name_of(task.get("owner")),
                    task.get("status"),
                    day_of(task.get("authoredOn")),
                    labels,
                )
            )
    built.entries = requests + tasks
    built.add(None, lines)
    return built


def _referral_line(what: str, to: str | None, status: Any, since: str | None, labels: Labels) -> str:
    details = joined(
        labels.status(status) if isinstance(status, str) else None,
        f"{labels['referrals.since']} {since}" if since else None,
    )
    return what + (f" {labels['referrals.to']} {to}" if to else "") + bracketed(details)


SECTIONS = (
    Section("emergency", SECTION_SYSTEM, "emergency-plan", "Emergency treatment plan", _emergency_plan),
    Section("problems", LOINC, "11450-4", "Problem list - Reported", _problems),
    Section("medications", LOINC, "10160-0", "History of Medication use Narrative", _medications),
    Section("allergies", LOINC, "48765-2", "Allergies and adverse reactions Document", _allergies),
    Section("devices", LOINC, "46264-8", "History of medical device use", _devices),
    Section("plan", LOINC, "18776-5", "Plan of care note", _plan_of_care),
    Section("care_team", LOINC, "85847-2", "Patient Care team information", _care_team),
    Section("referrals", SECTION_SYSTEM, "open-referrals", "Open referrals", _open_referrals),
    Section(
        "hospitalizations",
        LOINC,
        "46240-8",
        "History of Hospitalizations+Outpatient visits Narrative",
        _hospitalizations,
    ),
    Section("functional", LOINC, "47420-5", "Functional status assessment note", _functional_status, optional=True),
)


__all__ = ["SECTIONS", "SECTION_SYSTEM", "is_emergency_plan"]
