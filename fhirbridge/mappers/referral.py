"""Referrals: the request (ServiceRequest), its tracking (Task, code ``fulfill``) and the appointment
(Appointment). The Task carries every status change with its time, so the loop can be seen closing, the
reason of a rejection or cancellation (``statusReason``, the note of that status change), and what either
party wrote about the referral (``note``).

A recipient the record does not hold is taken to be an Organization of the server's directory, named by
its id (``Organization/<recipient_id>``): a referral may go to an organization the child's record does not
know yet."""

from __future__ import annotations

from typing import Any, get_args

from fhirbridge.domain.plan import ProgressNote
from fhirbridge.domain.referral import (
    NEEDS_REASON,
    Appointment,
    Referral,
    ReferralPriority,
    ReferralStatus,
    StatusChange,
)
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    US_CORE,
    Resource,
    clean,
    codeable,
    codes,
    extension,
    extension_values,
    first_code,
    instant_text,
    narrative,
    parse_date,
    parse_instant,
    pick,
    profile,
    resource_id,
    string,
    system_url,
    text_of,
)

__all__ = ["PERTAINS_TO_GOAL", "REQUEST_STATUS", "is_referral_task", "referral_from_fhir", "referral_to_fhir"]

PERTAINS_TO_GOAL = "http://hl7.org/fhir/StructureDefinition/resource-pertainsToGoal"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
SNOMED = "http://snomed.info/sct"
STATUS_CHANGE = profile("status-change")
REFERRAL_OUTPUT = system_url("CodeSystem/referral-output")
# The ServiceRequest status for each referral (Task) status; the server keeps a request in step with its
# Task the same way (engine/referrals.py).
REQUEST_STATUS = {
    "draft": "draft",
    "requested": "active",
    "accepted": "active",
    "in-progress": "active",
    "completed": "completed",
    "rejected": "revoked",
    "failed": "revoked",
    "cancelled": "revoked",
}
# Statuses whose change says why (Task.statusReason): the note of that status change.
# Who may have written a note on a referral.
_NOTE_AUTHORS = ("child", "family member", "team member", "organization")
_FROM_REQUEST = {
    "draft": "draft",
    "active": "requested",
    "on-hold": "requested",
    "completed": "completed",
    "revoked": "cancelled",
    "entered-in-error": "cancelled",
    "unknown": "requested",
}


def referral_to_fhir(referral: Referral, links: Links) -> list[Resource]:
    """The ServiceRequest, its tracking Task and, once booked, the Appointment."""
    request_ref = {"reference": f"ServiceRequest/{resource_id(referral)}"}
    history = referral.history
    recipient = _recipient(referral, links)
    lines = [
        f"{change.status} at {instant_text(change.at)}" + (f" ({change.note})" if change.note else "")
        for change in history
    ]
    facts = [
        ("Service", referral.service),
        ("Why", referral.reason),
        ("To", links.display(referral.recipient_id) or referral.recipient_id),
        ("Priority", referral.priority),
        ("Status", referral.status),
        ("History", lines),
        ("Appointment", instant_text(referral.appointment.starts_at) if referral.appointment else None),
        ("Result", referral.result),
        ("Result date", referral.result_date),
        ("Notes", [note.text for note in referral.notes]),
    ]
    request = clean(
        {
            "resourceType": "ServiceRequest",
            "id": resource_id(referral),
            "meta": {
                "profile": [
                    f"{US_CORE}/us-core-servicerequest",
                    profile("fhirbridge-referral-servicerequest"),
                ]
            },
            "text": narrative(f"Referral: {referral.service}", facts),
            "extension": [extension(PERTAINS_TO_GOAL, valueReference=links.ref(referral.goal_id))]
            if links.ref(referral.goal_id)
            else [],
            "status": REQUEST_STATUS[referral.status],
            "intent": "order",
            "category": [codeable(SNOMED, "3457005", "Patient referral")],
            "priority": referral.priority,
            "code": {"text": referral.service},
            "subject": links.patient(),
            "authoredOn": instant_text(history[0].at) if history else None,
            "requester": links.ref(referral.requester_id),
            "performer": [recipient],
            "reasonCode": [{"text": referral.reason}] if referral.reason else [],
        }
    )
    task = clean(
        {
            "resourceType": "Task",
            "id": referral.tracking_task_id,
            "meta": {"profile": [profile("fhirbridge-referral-task")]},
            "text": narrative(f"Tracking of the referral: {referral.service}", facts),
            "extension": [_status_change(change) for change in history],
            "status": referral.status,
            "statusReason": _status_reason(referral),
            "intent": "order",
            "priority": referral.priority,
            "code": codeable(TASK_CODE, "fulfill", "Fulfill the focal request"),
            "focus": request_ref,
            "for": links.patient(),
            "authoredOn": instant_text(history[0].at) if history else None,
            "lastModified": instant_text(history[-1].at) if history else None,
            "requester": links.ref(referral.requester_id),
            "owner": recipient,
            "output": [
                {"type": codeable(REFERRAL_OUTPUT, "result"), "valueString": referral.result}
                if referral.result
                else None,
                {
                    "type": codeable(REFERRAL_OUTPUT, "result-date"),
                    "valueDate": referral.result_date.isoformat(),
                }
                if referral.result_date
                else None,
            ],
            "note": [
                {
                    "authorReference": links.ref(note.author_id),
                    "time": instant_text(note.written_at) if note.written_at else None,
                    "text": note.text,
                }
                for note in referral.notes
            ],
        }
    )
    resources = [request, task]
    if referral.appointment:
        resources.append(_appointment(referral, referral.appointment, request_ref, recipient, links))
    return resources


def _recipient(referral: Referral, links: Links) -> dict[str, Any] | None:
    """The recipient in the record, else an Organization of the directory by its id."""
    if referral.recipient_id is None:
        return None
    return links.ref(referral.recipient_id) or {"reference": f"Organization/{referral.recipient_id}"}


def _status_reason(referral: Referral) -> dict[str, Any] | None:
    """Why the referral was rejected or cancelled: the note of the change to that status."""
    last = referral.history[-1] if referral.history else None
    if referral.status not in NEEDS_REASON or last is None or last.status != referral.status or not last.note:
        return None
    return {"text": last.note}


def _status_change(change: StatusChange) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "status", "valueCode": change.status},
        {"url": "time", "valueDateTime": instant_text(change.at)},
    ]
    if change.note:
        parts.append({"url": "note", "valueString": change.note})
    return {"url": STATUS_CHANGE, "extension": parts}


def _appointment(
    referral: Referral,
    appointment: Appointment,
    request_ref: dict[str, Any],
    recipient: dict[str, Any] | None,
    links: Links,
) -> Resource:
    participants = [{"actor": links.patient(), "status": "accepted"}]
    if recipient and not recipient["reference"].startswith("Organization/"):
        # an Appointment's participants are people, rooms and services; an organization cannot be one
        participants.append({"actor": recipient, "status": "accepted"})
    return clean(
        {
            "resourceType": "Appointment",
            "id": referral.appointment_id,
            "text": narrative(
                f"Appointment for the referral: {referral.service}",
                [
                    ("Starts", instant_text(appointment.starts_at)),
                    ("Ends", instant_text(appointment.ends_at) if appointment.ends_at else None),
                    ("Status", appointment.status),
                    ("About", appointment.description),
                ],
            ),
            "status": appointment.status,
            "description": appointment.description,
            "start": instant_text(appointment.starts_at),
            "end": instant_text(appointment.ends_at) if appointment.ends_at else None,
            "basedOn": [request_ref],
            "participant": participants,
        }
    )


def is_referral_task(task: Resource, reader: Reader) -> bool:
    return (TASK_CODE, "fulfill") in codes(task.get("code")) and reader.kind_of(task.get("focus")) == "referral"


def referral_from_fhir(
    request: Resource, task: Resource | None, appointment: Resource | None, reader: Reader
) -> Referral:
    goals = [ext.get("valueReference") for ext in extension_values(request, PERTAINS_TO_GOAL)]
    performers = [ref for ref in request.get("performer", []) or []]
    reasons = [reason for reason in request.get("reasonCode", []) or []]
    priority = request.get("priority")
    referral_id = request["id"]
    status: Any = _FROM_REQUEST.get(str(request.get("status")), "requested")
    history: list[StatusChange] = []
    notes: list[ProgressNote] = []
    result = result_date = None
    if task is not None:
        task_status = task.get("status")
        status = task_status if task_status in get_args(ReferralStatus) else status
        history = _with_reason(_history(task), status, text_of(task.get("statusReason")))
        notes = _notes(task, reader)
        for entry in task.get("output", []) or []:
            kind = first_code(entry.get("type"), REFERRAL_OUTPUT) if isinstance(entry, dict) else None
            if kind == "result" and isinstance(entry.get("valueString"), str):
                result = entry["valueString"]
            elif kind == "result-date":
                result_date = parse_date(entry.get("valueDate"))
    default_task_id = f"{referral_id[:59]}-task"
    return Referral(
        id=referral_id,
        service=text_of(request.get("code")) or "Service not named",
        reason=text_of(reasons[0]) if reasons else None,
        recipient_id=reader.resolve(performers[0], "performer[0]", "organization", "team member")
        if performers
        else None,
        requester_id=reader.resolve(request.get("requester"), "requester", "team member"),
        goal_id=reader.resolve(goals[0], "extension", "goal") if goals else None,
        priority=pick(priority, ReferralPriority, "routine"),
        status=status,
        history=history,
        appointment=_read_appointment(appointment, referral_id) if appointment else None,
        result=result,
        result_date=result_date,
        notes=notes,
        task_id=None if task is None or task["id"] == default_task_id else task["id"],
    )


def _history(task: Resource) -> list[StatusChange]:
    history = []
    for ext in extension_values(task, STATUS_CHANGE):
        parts = {part.get("url"): part for part in ext.get("extension", []) or [] if isinstance(part, dict)}
        status = pick(parts.get("status", {}).get("valueCode"), ReferralStatus)
        at = parse_instant(parts.get("time", {}).get("valueDateTime"))
        if status is not None and at is not None:
            history.append(StatusChange(status=status, at=at, note=string(parts.get("note", {}).get("valueString"))))
    return history


def _with_reason(history: list[StatusChange], status: str, reason: str | None) -> list[StatusChange]:
    """The reason of a rejection or cancellation kept as the note of that status change, when it has none."""
    if status not in NEEDS_REASON or reason is None or not history:
        return history
    last = history[-1]
    if last.status != status or last.note:
        return history
    return [*history[:-1], last.model_copy(update={"note": reason})]


def _notes(task: Resource, reader: Reader) -> list[ProgressNote]:
    return [
        ProgressNote(
            text=note["text"],
            written_at=parse_instant(note.get("time")),
            author_id=reader.resolve(note.get("authorReference"), f"note[{index}].authorReference", *_NOTE_AUTHORS),
        )
        for index, note in enumerate(task.get("note", []) or [])
        if isinstance(note, dict) and isinstance(note.get("text"), str)
    ]


def _read_appointment(resource: Resource, referral_id: str) -> Appointment | None:
    starts = parse_instant(resource.get("start"))
    status = resource.get("status")
    if starts is None:
        return None
    return Appointment(
        id=None if resource["id"] == f"{referral_id[:59]}-appt" else resource["id"],
        starts_at=starts,
        ends_at=parse_instant(resource.get("end")),
        status=status if status in ("proposed", "booked", "fulfilled", "cancelled", "noshow") else "booked",
        description=string(resource.get("description")),
    )
