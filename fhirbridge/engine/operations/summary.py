"""``Patient/$summary`` and ``Composition/$document``: the child's current plan as one document.

A hospital discharge planner asks for everything about a child in one request. The answer is a FHIR
``document`` Bundle shaped like the International Patient Summary: its first entry is a patient-summary
Composition (LOINC 60591-5) with a LOINC-coded section per part of the plan, each with its entries and a
narrative that says what those entries say: problems, medications, allergies, equipment, the working plan
(goals, and who does what by when), the emergency plan in full, the care team by name and phone, open
referrals, recent hospital stays and, where known, functional status.

Medications, allergies, equipment and hospital stays are read from the resources recorded for them
(MedicationStatement, AllergyIntolerance, Device/DeviceUseStatement, Encounter) when the child has any,
and otherwise from the sections of the record's medical summary (a 60591-5 Composition written by the
care team), whose entries are text. A section with nothing recorded says so, with IPS's ``emptyReason``;
"no known allergies" is said only when it is recorded.

The fixed words (headings, labels) are in the family's language (``labels``); what was recorded is shown
as it was recorded.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhirbridge.engine.operations.labels import Labels
from fhirbridge.engine.referrals import OPEN_STATUSES, is_referral_task
from fhirbridge.storage.clock import instant
from fhirbridge.storage.contract import Resource

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
SECTION_SYSTEM = "http://fhirbridge.org/fhir/CodeSystem/summary-section"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
PLAN_KIND = "http://fhirbridge.org/fhir/CodeSystem/care-plan-kind"
RESPONSIBILITY = "http://fhirbridge.org/fhir/StructureDefinition/responsibility"
XHTML = "http://www.w3.org/1999/xhtml"
PATIENT_SUMMARY = "60591-5"
# SNOMED CT situations that record the absence of allergies ("no known allergy" and its kinds).
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002", "428607008", "429625007", "428197003"})
_NO_ALLERGY_WORDS = ("no known allerg", "nka", "nkda", "no allerg")
# Task kinds that are not steps anyone takes toward a goal.
_NOT_STEPS = frozenset({"care-plan-review"})

Resolver = Callable[[str], Resource | None]


@dataclass
class Block:
    """Part of a section's narrative: an optional label and the lines under it."""

    label: str | None
    lines: list[str]


@dataclass
class Built:
    entries: list[Resource] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def add(self, label: str | None, lines: Iterable[str]) -> None:
        lines = [line for line in lines if line]
        if lines:
            self.blocks.append(Block(label, lines))


@dataclass(frozen=True)
class Section:
    key: str  # the label key of its title, and its id in the printable page
    system: str
    code: str
    display: str
    build: Callable[[ChildRecord], Built]
    optional: bool = False  # left out when nothing is known, rather than said to be empty


class ChildRecord:
    """What the summary reads: the child's compartment, and what it references, under the caller's access."""

    def __init__(self, patient: Resource, compartment: list[Resource], resolve: Resolver | None, labels: Labels):
        self.patient = patient
        self.compartment = compartment
        self.labels = labels
        self._resolve = resolve
        self._known = {_key(r): r for r in compartment}
        self._known[_key(patient)] = patient
        self.referenced: dict[str, Resource] = {}

    def of_type(self, *names: str) -> list[Resource]:
        return [r for r in self.compartment if r["resourceType"] in names]

    def resolve(self, reference: Any) -> Resource | None:
        """The resource a Reference points at, if the caller may read it (never around its access)."""
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(target, str) or "/" not in target:
            return None
        key = "/".join(target.split("/")[-2:])
        found = self._known.get(key)
        if found is None and self._resolve is not None:
            found = self._resolve(key)
            if found is not None:
                self._known[key] = found
        if found is not None:
            self.referenced[key] = found
        return found

    def name_of(self, reference: Any) -> str | None:
        found = self.resolve(reference)
        if found is not None:
            return party_name(found)
        display = reference.get("display") if isinstance(reference, dict) else None
        return display if isinstance(display, str) else None

    def medical_summary(self) -> Resource | None:
        """The care team's latest written medical summary, read for what has no resources of its own."""
        written = [
            r
            for r in self.of_type("Composition")
            if _code(r.get("type"), LOINC) == PATIENT_SUMMARY and r.get("status") != "entered-in-error"
        ]
        return max(written, key=lambda r: str(r.get("date") or ""), default=None)

    def summary_items(self, loinc: str) -> tuple[Resource | None, list[str]]:
        summary = self.medical_summary()
        if summary is None:
            return None, []
        items = [
            entry["display"]
            for section in summary.get("section") or []
            if _code(section.get("code"), LOINC) == loinc
            for entry in section.get("entry") or []
            if isinstance(entry, dict) and isinstance(entry.get("display"), str)
        ]
        return (summary if items else None), items


# --- reading resources ---------------------------------------------------------------------------


def _key(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource.get('id')}"


def _code(concept: Any, system: str | None = None) -> str | None:
    for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
        if isinstance(coding, dict) and (system is None or coding.get("system") == system):
            code = coding.get("code")
            return code if isinstance(code, str) else None
    return None


def _codes(concepts: Any) -> set[str]:
    return {
        str(coding.get("code"))
        for concept in (concepts if isinstance(concepts, list) else [concepts])
        if isinstance(concept, dict)
        for coding in concept.get("coding") or []
        if isinstance(coding, dict)
    }


def text_of(concept: Any) -> str | None:
    """What a CodeableConcept says to a person: its text, else a coding's display."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            return str(coding["display"])
    return None


def human_name(resource: Resource) -> str | None:
    for name in resource.get("name") or []:
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        if any(parts):
            return " ".join(part for part in parts if part)
    return None


def party_name(resource: Resource) -> str:
    if resource["resourceType"] == "Organization" and isinstance(resource.get("name"), str):
        return str(resource["name"])
    return human_name(resource) or _key(resource)


def phone_of(resource: Resource | None) -> str | None:
    for telecom in (resource or {}).get("telecom") or []:
        if isinstance(telecom, dict) and telecom.get("system") == "phone" and telecom.get("value"):
            return str(telecom["value"])
    return None


def _day(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and value else None


def _joined(*parts: str | None, sep: str = ", ") -> str:
    return sep.join(part for part in parts if part)


def _bracket(text: str | None) -> str:
    return f" ({text})" if text else ""


# --- the sections ----------------------------------------------------------------------------------


def _problems(record: ChildRecord) -> Built:
    built = Built()
    problems = [
        c
        for c in record.of_type("Condition")
        if "health-concern" not in _codes(c.get("category"))
        and _code(c.get("verificationStatus")) not in ("entered-in-error", "refuted")
    ]
    lines = []
    for condition in problems:
        status = _code(condition.get("clinicalStatus"))
        onset = _day(condition.get("onsetDateTime"))
        label = text_of(condition.get("code")) or _key(condition)
        lines.append(label + _bracket(_joined(record.labels.status(status) if status else None, onset)))
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
        lines.append(_joined(name or _key(medication), dosage, sep=": "))
    built.entries = recorded
    built.add(None, lines)
    return built


def _allergies(record: ChildRecord) -> Built:
    built = Built()
    recorded = [
        r
        for r in record.of_type("AllergyIntolerance")
        if _code(r.get("verificationStatus")) not in ("entered-in-error", "refuted")
    ]
    if not recorded:
        built = _from_summary(record, built, "48765-2")
        if built.blocks and all(_says_no_allergies(line) for line in built.blocks[0].lines):
            built.blocks = [Block(None, [record.labels["allergies.none_known"]])]
        return built
    lines = []
    for allergy in recorded:
        if _codes(allergy.get("code")) & NO_KNOWN_ALLERGY:
            lines.append(record.labels["allergies.none_known"])
            continue
        reactions = [
            text_of(manifestation)
            for reaction in allergy.get("reaction") or []
            for manifestation in reaction.get("manifestation") or []
        ]
        detail = _joined(*(r for r in reactions if r), allergy.get("criticality"))
        lines.append((text_of(allergy.get("code")) or _key(allergy)) + _bracket(detail))
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
        lines.append(_device_name(device) if device else record.name_of(use.get("device")) or _key(use))
    used = {_key(d) for d in record.referenced.values() if d["resourceType"] == "Device"}
    lines += [_device_name(d) for d in devices if _key(d) not in used]
    built.entries = uses + devices
    built.add(None, lines)
    return built


def _device_name(device: Resource) -> str:
    for name in device.get("deviceName") or []:
        if isinstance(name, dict) and name.get("name"):
            return str(name["name"])
    return text_of(device.get("type")) or _key(device)


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
        when = " to ".join(day for day in (_day(period.get("start")), _day(period.get("end"))) if day)
        reason = text_of(stay.get("reasonCode"))
        lines.append(_joined(record.name_of(stay.get("serviceProvider")), when, reason))
    built.entries = stays
    built.add(None, lines)
    return built


def _functional_status(record: ChildRecord) -> Built:
    built = Built()
    observations = [
        o
        for o in record.of_type("Observation")
        if "functional-status" in _codes(o.get("category")) and o.get("status") not in ("entered-in-error", "cancelled")
    ]
    lines = []
    for observation in observations:
        value = observation.get("valueString") or text_of(observation.get("valueCodeableConcept"))
        lines.append(_joined(text_of(observation.get("code")), value, sep=": "))
    built.entries = observations
    built.add(None, lines)
    return built


def is_emergency_plan(resource: Resource) -> bool:
    return resource["resourceType"] == "CarePlan" and (
        bool(resource.get("partOf")) or "emergency-plan" in _codes(resource.get("category"))
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
        and not (_codes(t.get("code")) & _NOT_STEPS)
        and t.get("status") not in ("cancelled", "entered-in-error")
    ]
    built.add(
        None, [_joined(p.get("title") or text_of(p.get("category")), p.get("description"), sep=": ") for p in plans]
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
    achievement = _code(goal.get("achievementStatus"))
    details = _joined(
        f"{labels['plan.measure']} {measure}" if measure else None,
        f"{labels['plan.target']} {due}" if due else None,
        f"{labels['plan.expressed_by']} {who}" if (who := record.name_of(goal.get("expressedBy"))) else None,
        labels.status(achievement) if achievement else None,
    )
    return (text_of(goal.get("description")) or _key(goal)) + _bracket(details)


def _task_line(task: Resource, record: ChildRecord) -> str:
    """Who does what by when: the Task's own description, owner and due date (never a generic code)."""
    what = task.get("description") or text_of(task.get("code")) or _key(task)
    period = (task.get("restriction") or {}).get("period") or task.get("executionPeriod") or {}
    return _step_line(str(what), record.name_of(task.get("owner")), _day(period.get("end")), task.get("status"), record)


def _inline_steps(plan: Resource) -> list[dict[str, Any]]:
    return [
        a["detail"] for a in plan.get("activity") or [] if isinstance(a, dict) and isinstance(a.get("detail"), dict)
    ]


def _inline_step_line(detail: dict[str, Any], record: ChildRecord) -> str:
    what = detail.get("description") or text_of(detail.get("code")) or "—"
    performers = detail.get("performer") or []
    who = record.name_of(performers[0]) if performers else None
    due = _day((detail.get("scheduledPeriod") or {}).get("end"))
    return _step_line(str(what), who, due, detail.get("status"), record)


def _step_line(what: str, who: str | None, due: str | None, status: Any, record: ChildRecord) -> str:
    labels = record.labels
    details = _joined(
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
                _joined(text_of(d.get("code")), d.get("description") or labels["emergency.see_team"], sep=": ")
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
                _joined(party_name(found), phone_of(found))
                for _, found in supporting
                if found and found["resourceType"] == "Organization"
            ],
        )
    built.entries = plans
    return built


def _contact_line(person: Resource) -> str:
    relationship = text_of(person.get("relationship"))
    return _joined(party_name(person) + _bracket(relationship), phone_of(person), sep=": ")


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
                _joined(
                    _joined(name, role, sep=" — "),
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
        own = [t for t in tasks if (t.get("focus") or {}).get("reference", "").endswith(_key(request))]
        handled.update(_key(t) for t in own)
        task = own[0] if own else None
        to = record.name_of((task or {}).get("owner")) or next(
            (name for ref in request.get("performer") or [] if (name := record.name_of(ref))), None
        )
        since = _day((task or request).get("authoredOn"))
        status = (task or request).get("status")
        lines.append(_referral_line(text_of(request.get("code")) or _key(request), to, status, since, labels))
    for task in tasks:
        if _key(task) not in handled:
            what = task.get("description") or record.name_of(task.get("focus")) or _key(task)
            lines.append(
                _referral_line(
                    str(what),
                    record.name_of(task.get("owner")),
                    task.get("status"),
                    _day(task.get("authoredOn")),
                    labels,
                )
            )
    built.entries = requests + tasks
    built.add(None, lines)
    return built


def _referral_line(what: str, to: str | None, status: Any, since: str | None, labels: Labels) -> str:
    details = _joined(
        labels.status(status) if isinstance(status, str) else None,
        f"{labels['referrals.since']} {since}" if since else None,
    )
    return what + (f" {labels['referrals.to']} {to}" if to else "") + _bracket(details)


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


# --- the document ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentKind:
    """Which document a child's record is summarised as: its LOINC type, title and sections."""

    code: str
    display: str
    title_key: str
    sections: tuple[Section, ...]


PATIENT_SUMMARY_DOCUMENT = DocumentKind(PATIENT_SUMMARY, "Patient summary Document", "summary.title", SECTIONS)


def narrative_of(blocks: list[Block]) -> dict[str, str]:
    parts = []
    for block in blocks:
        if block.label:
            parts.append(f"<p><b>{html.escape(block.label)}</b></p>")
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in block.lines) + "</ul>")
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{"".join(parts)}</div>'}


def narrative(lines: list[str]) -> dict[str, str]:
    return narrative_of([Block(None, lines)])


def patient_summary(
    patient: Resource,
    compartment: list[Resource],
    base_url: str,
    *,
    resolve: Resolver | None = None,
    language: str = "en",
    kind: DocumentKind = PATIENT_SUMMARY_DOCUMENT,
) -> dict[str, Any]:
    """The ``document`` Bundle summarising one child's record (a patient summary, or another ``kind``).

    ``resolve`` reads a referenced resource ("Practitioner/x") under the caller's access, or None when
    it may not be read; only what it returns (and the compartment) goes into the document.
    """
    labels = Labels(language)
    record = ChildRecord(patient, compartment, resolve, labels)
    patient_ref = _key(patient)
    now = instant(datetime.now(UTC))
    sections = []
    included: dict[str, Resource] = {patient_ref: patient}
    for spec in kind.sections:
        built = spec.build(record)
        if spec.optional and not built.blocks:
            continue
        section: dict[str, Any] = {
            "title": labels[f"section.{spec.key}"],
            "code": {"coding": [{"system": spec.system, "code": spec.code, "display": spec.display}]},
        }
        if built.entries:
            section["text"] = narrative_of(built.blocks or [Block(None, [labels["empty.unavailable"]])])
            section["entry"] = [{"reference": _key(r)} for r in built.entries]
            included.update({_key(r): r for r in built.entries})
        else:
            section["text"] = narrative([labels["empty.unavailable"]])
            section["emptyReason"] = {
                "coding": [{"system": EMPTY_REASON, "code": "unavailable", "display": "Unavailable"}]
            }
        sections.append(section)
    included.update(record.referenced)
    name = patient_name(patient)
    title = labels.format(kind.title_key, name=name)
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "language": labels.language,
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": kind.code, "display": kind.display}]},
        "subject": {"reference": patient_ref, "display": name},
        "date": now,
        "author": [{"display": "fhirbridge shared care plan"}],
        "title": title,
        "text": narrative([title, labels.format("summary.prepared", date=now)]),
        "section": sections,
    }
    return document_bundle(composition, list(included.values()), base_url)


def document_bundle(composition: Resource, resources: list[Resource], base_url: str) -> dict[str, Any]:
    entries = [{"fullUrl": f"{base_url}/Composition/{composition['id']}", "resource": composition}]
    entries += [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": composition.get("date") or instant(datetime.now(UTC)),
        "entry": entries,
    }


def patient_name(patient: Resource) -> str:
    return human_name(patient) or f"Patient/{patient.get('id')}"


__all__ = [
    "PATIENT_SUMMARY_DOCUMENT",
    "SECTIONS",
    "Built",
    "ChildRecord",
    "DocumentKind",
    "Section",
    "document_bundle",
    "is_emergency_plan",
    "narrative",
    "patient_name",
    "patient_summary",
    "text_of",
]
