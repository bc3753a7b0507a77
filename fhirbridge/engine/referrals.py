"""Closed-loop referrals: the status a referral Task may move to, who may move it, and what follows.

A referral is a ServiceRequest plus a Task whose ``code`` is ``fulfill`` and whose ``focus`` is the
request. Its status follows the referral state machine of the Gravity SDOH Clinical Care guide: the
requester sends it (draft -> requested) and may cancel it while it is open; the performer (the Task's
``owner``) accepts or rejects it, works on it, puts it on hold, and completes or fails it; the
requester can mark it entered-in-error at any time. Either party may be an Organization, a
PractitionerRole or a Practitioner, named by a literal reference the caller acts as. A rejection or a
cancellation says why (``statusReason``). Results come back in ``Task.output``, the performer's notes
in ``Task.note``; what the performer did may be a Procedure (an output of type ``resulting-activity``).

Two things follow a referral write, in the same database transaction (``follow_up``, run by the engine
after every write):

- the ServiceRequest is kept in step with its Task: when the Task is completed, the request is
  completed; when it is rejected, cancelled or failed, the request is revoked. The server writes that
  version itself (the caller may not change a ServiceRequest's status), with a Provenance naming the
  server as author and the Task version that caused it as its source;
- a Procedure that a caller outside the child's care team reports as a referral's result (``basedOn``
  the request, performed in its own name, ``policy.reports_referral_result``) is kept only if that
  caller performs the referral: it owns the referral Task for that child and request, and the Task is
  accepted, in progress or on hold, or already names the Procedure in its output.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fhirbridge.classification import TASK_CODE as TASK_CODE_SYSTEM
from fhirbridge.classification import is_referral_task
from fhirbridge.compartment import compartment_patients
from fhirbridge.domain.referral import NEEDS_REASON
from fhirbridge.errors import Forbidden, Unprocessable
from fhirbridge.formats import json as fhir_json
from fhirbridge.mappers.referral import REQUEST_STATUS
from fhirbridge.search.engine import match_ids
from fhirbridge.security.access import Access
from fhirbridge.security.policy import caller_references, reports_referral_result
from fhirbridge.security.principal import Actor
from fhirbridge.security.provenance import server_provenance
from fhirbridge.security.scopes import granting_contexts
from fhirbridge.storage.clock import time_ordered_id
from fhirbridge.storage.contract import StoredVersion, WriteTransaction

Resource = dict[str, Any]

REQUESTER = "requester"
PERFORMER = "performer"

# status -> {next status: the party allowed to make that move}
TRANSITIONS: dict[str, dict[str, str]] = {
    "draft": {"requested": REQUESTER, "cancelled": REQUESTER},
    "requested": {"accepted": PERFORMER, "rejected": PERFORMER, "cancelled": REQUESTER},
    "accepted": {"in-progress": PERFORMER, "on-hold": PERFORMER, "failed": PERFORMER, "cancelled": REQUESTER},
    "in-progress": {"on-hold": PERFORMER, "completed": PERFORMER, "failed": PERFORMER, "cancelled": REQUESTER},
    "on-hold": {"in-progress": PERFORMER, "failed": PERFORMER, "cancelled": REQUESTER},
    "rejected": {},
    "completed": {},
    "failed": {},
    "cancelled": {},
    "entered-in-error": {},
}
OPEN_STATUSES = {"draft", "requested", "accepted", "in-progress", "on-hold"}
UNANSWERED_STATUSES = {"requested"}
# A Task entering one of these says why (Gravity SDOH: Task.statusReason for a rejection or cancellation).
# The performer is working on the referral: what it does for it may be reported (a Procedure).
PERFORMING = frozenset({"accepted", "in-progress", "on-hold"})
# The ServiceRequest statuses a closing Task moves on (a request completed, revoked or entered in error
# stays as it is), and where a closing Task moves them: as the record mapper writes them.
MOVABLE_REQUEST_STATUSES = frozenset({"draft", "active", "on-hold"})
CLOSING_REQUEST_STATUS = {status: REQUEST_STATUS[status] for status in ("completed", "rejected", "cancelled", "failed")}


def worklist_criteria(kind: str, older_than_days: int, now: datetime) -> list[tuple[str, str]]:
    """Search criteria for a coordinator's referral worklists.

    ``open``: referrals not yet closed that were requested more than ``older_than_days`` ago;
    ``unanswered``: referrals the performer has neither accepted nor rejected in that time.
    """
    statuses = OPEN_STATUSES if kind == "open" else UNANSWERED_STATUSES
    cutoff = (now - timedelta(days=older_than_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        ("code", f"{TASK_CODE_SYSTEM}|fulfill"),
        ("status", ",".join(sorted(statuses))),
        ("authored-on", f"lt{cutoff}"),
        ("_sort", "authored-on"),
    ]


# -- the state machine (before the write) ------------------------------------------------------------------


def check_referral_task(actor: Actor | None, previous: dict[str, Any] | None, task: dict[str, Any]) -> None:
    """Refuse a referral status move the state machine does not allow, or that the caller may not make,
    and a rejection or cancellation that does not say why."""
    if not is_referral_task(task) and not (previous is not None and is_referral_task(previous)):
        return
    new_status = task.get("status")
    if previous is None:
        # A referral may arrive mid-way (synced from a partner, or migrated): the machine governs moves
        # from here on, not where a referral we did not see start stands today.
        _check_reason(task)
        return
    old_status = previous.get("status", "")
    if new_status == old_status:
        return
    if new_status == "entered-in-error":
        _check_party(actor, previous, REQUESTER, old_status, new_status)
        return
    party = TRANSITIONS.get(old_status, {}).get(str(new_status))
    if party is None:
        allowed = ", ".join(sorted(TRANSITIONS.get(old_status, {}))) or "none: it is closed"
        raise Unprocessable(
            f"A referral cannot move from {old_status} to {new_status} (allowed from {old_status}: {allowed})",
            code="business-rule",
            expression="Task.status",
        )
    _check_party(actor, previous, party, old_status, str(new_status))
    _check_reason(task)


def _check_party(actor: Actor | None, task: dict[str, Any], party: str, old_status: str, new_status: str) -> None:
    if actor is None:
        return  # no authenticated caller (development mode): the state machine alone applies
    element = "requester" if party == REQUESTER else "owner"
    reference = (task.get(element) or {}).get("reference")
    if reference is None or not actor.is_any_of({reference}):
        raise Forbidden(
            f"Only the referral's {party} ({reference or 'not named'}) may move it from {old_status} to {new_status}",
            expression=f"Task.{element}",
        )


def _check_reason(task: dict[str, Any]) -> None:
    status = task.get("status")
    if status in NEEDS_REASON and not _says_why(task.get("statusReason")):
        raise Unprocessable(
            f"A {status} referral must say why: Task.statusReason needs a text or a code",
            code="business-rule",
            expression="Task.statusReason",
        )


def _says_why(reason: Any) -> bool:
    if not isinstance(reason, dict):
        return False
    text = reason.get("text")
    codings = _list(reason.get("coding"))
    return (isinstance(text, str) and bool(text.strip())) or any(
        isinstance(coding, dict) and (coding.get("code") or coding.get("display")) for coding in codings
    )


# -- what follows a write (in its transaction) ----------------------------------------------------------


def follow_up(
    access: Access,
    tx: WriteTransaction,
    resource_type: str,
    before: StoredVersion | None,
    resource: Resource,
    written: StoredVersion,
) -> None:
    """What the server does once a resource is written, before its transaction commits: keep a referral's
    ServiceRequest in step with its Task, and confirm a Procedure reported as a referral's result.
    ``before`` is the version the write replaced (None, or a deletion: created), ``resource`` as written."""
    created = before is None or before.content is None
    if resource_type == "Task":
        previous = None if before is None or before.content is None else fhir_json.loads_stored(before.content)
        keep_request_in_step(access, tx, previous, resource, written)
    elif resource_type == "Procedure" and created:
        check_referral_result(access, tx, resource, written)


def keep_request_in_step(
    access: Access, tx: WriteTransaction, previous: Resource | None, task: Resource, written: StoredVersion
) -> None:
    """Complete or revoke the referral's ServiceRequest when its Task closes (written as the server)."""
    status = task.get("status")
    if not is_referral_task(task) or (previous is not None and previous.get("status") == status):
        return
    request_status = CLOSING_REQUEST_STATUS.get(str(status))
    request_id = _relative_id(task.get("focus"), "ServiceRequest")
    if request_status is None or request_id is None:
        return
    current = tx.current("ServiceRequest", request_id)
    if current is None or current.content is None:
        return
    request = fhir_json.loads_stored(current.content)
    children = compartment_patients(request)
    if request.get("status") not in MOVABLE_REQUEST_STATUSES or not children or children != compartment_patients(task):
        return  # closed already, or another child's request: a Task moves only its own child's
    moved = tx.put("ServiceRequest", request_id, {**request, "status": request_status}, method="PUT")
    if access.principal is not None:  # as every write: attributed when there is someone to attribute it to
        provenance = server_provenance(moved, cause=written, children=children)
        tx.put("Provenance", time_ordered_id(), provenance, method="POST", fresh=True)  # as guard.attribute


def check_referral_result(access: Access, tx: WriteTransaction, procedure: Resource, written: StoredVersion) -> None:
    """Refuse a Procedure reported as a referral's result by a caller outside the care team that does not
    perform that referral (the access policy let it through on its shape alone)."""
    principal = access.principal
    if principal is None:
        return
    references = caller_references(principal)
    if not reports_referral_result(procedure, references):
        return
    children = compartment_patients(procedure)
    relations = access.relations(tx.connection())
    confined = not granting_contexts(principal.scopes, "Procedure", "c") - {"patient"}
    if not confined and (relations.treats_every_child or (children and children <= relations.treated)):
        return  # the care team records what it likes
    based_on = (_relative_id(ref, "ServiceRequest") for ref in _list(procedure.get("basedOn")))
    requests = [f"ServiceRequest/{id}" for id in based_on if id is not None]
    reported = f"Procedure/{written.id}"
    criteria = [("focus", ",".join(requests)), ("code", f"{TASK_CODE_SYSTEM}|fulfill")]
    for task_id in match_ids(tx.connection(), "Task", criteria) if requests else []:
        current = tx.current("Task", task_id)
        if current is None or current.content is None:
            continue
        task = fhir_json.loads_stored(current.content)
        if _performs(task, references, children, reported) and access.denial(task, "r", tx.connection()) is None:
            return
    raise Forbidden(
        "A Procedure reported as a referral's result (basedOn its ServiceRequest) can be created outside the "
        "child's care team only by the referral's performer: the owner of its Task for this child, while the "
        "referral is accepted, in progress or on hold, or once the Task's output names the Procedure",
        expression="Procedure.basedOn",
    )


def _performs(task: Resource, references: frozenset[str], children: frozenset[str], reported: str) -> bool:
    owner = (task.get("owner") or {}).get("reference") if isinstance(task.get("owner"), dict) else None
    if not is_referral_task(task) or owner not in references or compartment_patients(task) != children:
        return False
    outputs = [entry.get("valueReference") for entry in _list(task.get("output")) if isinstance(entry, dict)]
    named = any(isinstance(ref, dict) and ref.get("reference") == reported for ref in outputs)
    return task.get("status") in PERFORMING or named


def _relative_id(reference: Any, resource_type: str) -> str | None:
    """``Type/id`` (relative, of that type) -> id; anything else None."""
    target = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(target, str):
        return None
    kind, _, id = target.partition("/")
    return id if kind == resource_type and id and "/" not in id else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = [
    "CLOSING_REQUEST_STATUS",
    "OPEN_STATUSES",
    "PERFORMING",
    "TRANSITIONS",
    "UNANSWERED_STATUSES",
    "check_referral_result",
    "check_referral_task",
    "follow_up",
    "is_referral_task",
    "keep_request_in_step",
    "worklist_criteria",
]
