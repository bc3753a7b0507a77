"""Closed-loop referrals: the status a referral Task may move to, and who may move it.

A referral is a ServiceRequest plus a Task whose ``code`` is ``fulfill`` and whose ``focus`` is the
request. Its status follows the referral state machine of the Gravity SDOH Clinical Care guide: the
requester sends it (draft -> requested) and may cancel it while it is open; the performer (the Task's
``owner``) accepts or rejects it, works on it, puts it on hold, and completes or fails it; the
requester can mark it entered-in-error at any time. Results come back in ``Task.output``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fhirbridge.classification import TASK_CODE as TASK_CODE_SYSTEM
from fhirbridge.classification import is_referral_task
from fhirbridge.errors import Forbidden, Unprocessable
from fhirbridge.security.principal import Actor

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


def check_referral_task(actor: Actor | None, previous: dict[str, Any] | None, task: dict[str, Any]) -> None:
    """Refuse a referral status move the state machine does not allow, or that the caller may not make."""
    if not is_referral_task(task) and not (previous is not None and is_referral_task(previous)):
        return
    new_status = task.get("status")
    if previous is None:
        # A referral may arrive mid-way (synced from a partner, or migrated): the machine governs moves
        # from here on, not where a referral we did not see start stands today.
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


__all__ = [
    "OPEN_STATUSES",
    "TRANSITIONS",
    "UNANSWERED_STATUSES",
    "check_referral_task",
    "is_referral_task",
    "worklist_criteria",
]
