"""The element-level write policy: which elements of a resource a caller may change.

Scopes say whether a caller may write a resource type at all, and the read policy whether it may see
the resource; this module says *what* in the resource it may change. It is pure: one function over the
resource as stored (``current``, None for a create) and as it is to be written (``new``, None for a
delete), and the facts about the caller it needs (``WriteCaller``). The referral state machine
(``fhirbridge.engine.referrals``) still decides separately which status moves a party may make.

The rules, and why
==================

**The treating team may change anything.** A coordinator, the child's practice or a hospital EHR keeps
the plan: it writes goals, action steps and referrals and corrects them. Every rule below applies only to
callers outside the treating team: the family, referral partners, payers.

**Referral Task** (``code`` fulfill, ``focus`` a ServiceRequest; judged on the Task as stored *or* as
written, so a Task cannot be turned into or out of a referral to escape these rules):

- ``owner``, ``requester``, ``focus``, ``for``, ``basedOn``, ``intent``, ``code`` are fixed. They say
  who sent the referral, to whom, about which child and for which request; a partner that could rewrite
  them could take over someone else's referral (make itself the owner, or the requester so it may cancel
  it), and a family could redirect it.
- ``output`` is the result the performer returns (a text, a document, or what it did: a Procedure as a
  ``resulting-activity``); only the caller named in ``owner`` may change it, so no one else can forge a
  result.
- ``note`` is a conversation: notes may be appended, the existing ones stay as they were, in order, and
  a note added by the caller names no one else as its ``authorReference``.
- ``extension`` (the referral's status history) may be appended to, never rewritten.
- Everything else (``status``, ``businessStatus``, ``statusReason``, ``lastModified``, ``executionPeriod``,
  ``meta``, ``text``, ...) is free here: the state machine decides who may move the status (and requires
  a ``statusReason`` for a rejection or a cancellation).
- Creating one: only in the caller's own name (the caller is the ``requester``); a partner may send a
  referral on, not create one in someone else's name. Its ``output`` only when it is also the ``owner``.
- Deleting one: never (history is kept; the requester marks it entered-in-error instead).

**Action step** (any other Task: an action step or a plan review): the caller named in ``owner`` reports
on its own step: ``status``, ``businessStatus``, ``statusReason``, ``executionPeriod``. Anyone allowed to
write the Task may append a ``note`` and send ``meta``, ``text``, ``lastModified`` (bookkeeping: the
server stamps ``meta``, the narrative is derived, and a note bumps ``lastModified``). Nothing else: who
owns the step, whom it is for, what it is about and its outputs belong to the care team, so a family
cannot cancel a step the coordinator owns nor hand a step to someone else. Creating or deleting one is
the care team's.

**ServiceRequest** (the referral's request): ``note`` may be appended, ``meta``/``text`` sent; nothing
else changes. Created only in the caller's own name (``requester``); deleted only by the care team.

**Goal**: the family records its agreement (the goal-acceptance ``extension``), progress
(``achievementStatus``) and notes (``note``, append-only); ``meta``/``text`` may be sent. What the goal is,
whose it is and its lifecycle belong to the care team. Creating or deleting one is the care team's.

**Communication, DocumentReference, Encounter, Observation, Procedure**: nobody posts in someone else's
name. On create, the author element (``Communication.sender``, ``DocumentReference.author``,
``Encounter.serviceProvider``, ``Observation.performer``, the ``actor`` of each ``Procedure.performer``)
must be present and every
reference in it must be one of the caller's own. Only the original author (a caller named in the stored
author element) may update or delete it, and a changed author element must again name only the caller.
(A referral's performer reporting what it did as a Procedure is one such author; the access policy and
the referral rules in ``fhirbridge.engine.referrals`` decide whether it may create one for that child.)

**QuestionnaireResponse**: a caller confined to one child (a family token) answers only about that
child: ``subject`` must be ``Patient/<that child>``. ``subject`` never changes on update (an answer set
cannot be moved to another child). If ``author`` is present it must be one of the caller's references
or, for a family token, the child (a child answering for themself).

**Security labels** (every type): ``meta.security`` may not be changed on update by a caller outside the
treating team. The labels decide which outside organizations may read the resource; removing one would
share sensitive data the family did not consent to share.

Anything else: no element rule here (scopes and the read policy decide).

Elements are compared as JSON, with a missing element, ``null``, ``[]`` and ``{}`` all taken as absent
(at any depth), so a client that drops empty elements changes nothing. A primitive's extension
(``_status``) is judged as its element (``status``). Reference checks compare the literal ``reference``
string with the caller's references exactly (``Organization/x``); a reference by identifier only, or an
absolute URL, names no caller. Refusals are ``Forbidden`` with ``expression`` naming the element
(``Task.owner``); their messages say what was refused and who may do it, and quote no resource data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from fhirbridge.classification import is_referral_task
from fhirbridge.errors import Forbidden

Resource = dict[str, Any]

CARE_TEAM = "the child's care team (coordinator, EHR)"


@dataclass(frozen=True)
class WriteCaller:
    """The facts about a caller the write policy decides on."""

    # What the caller acts as: {"Practitioner/p1", "Organization/org-a", "RelatedPerson/mother"}.
    references: frozenset[str]
    # The child a patient-confined (family) token is confined to, else None.
    patient: str | None
    # Whether the caller treats the child(ren) the resource is about (coordinator, EHR, practice).
    treating: bool

    def is_named(self, value: Any) -> bool:
        """Whether a Reference (or any Reference of a list of them) names the caller."""
        return any(reference in self.references for reference in _references(value))


class May(StrEnum):
    """Who outside the treating team may change an element."""

    ANYONE = "any caller allowed to write the resource"
    APPEND = "any caller allowed to write the resource, by appending"
    OWNER = "the caller named in Task.owner"
    NOBODY = "nobody outside the care team"


class Creator(StrEnum):
    """Who outside the treating team may create a resource of a kind."""

    REQUESTER = "the caller named as its requester"
    NOBODY = "nobody outside the care team"


@dataclass(frozen=True)
class ElementPolicy:
    """The elements of one kind of resource a caller outside the treating team may change."""

    kind: str  # "a Goal": as it reads in a message
    elements: Mapping[str, May]
    otherwise: May  # for every element not listed
    creator: Creator


# Elements the server governs (the id in the URL, the type): never refused here.
SERVER_ELEMENTS: Final = frozenset({"resourceType", "id"})

# The policy table (callers outside the treating team; see the module docstring for the reasons).
REFERRAL_TASK: Final = ElementPolicy(
    kind="a referral Task",
    elements={
        "owner": May.NOBODY,
        "requester": May.NOBODY,
        "focus": May.NOBODY,
        "for": May.NOBODY,
        "basedOn": May.NOBODY,
        "intent": May.NOBODY,
        "code": May.NOBODY,
        "output": May.OWNER,
        "note": May.APPEND,
        "extension": May.APPEND,  # the status history: moves are added to it, never rewritten
    },
    otherwise=May.ANYONE,  # status (state machine), businessStatus, statusReason, lastModified, ...
    creator=Creator.REQUESTER,
)
ACTION_STEP_TASK: Final = ElementPolicy(
    kind="an action step (Task)",
    elements={
        "status": May.OWNER,
        "businessStatus": May.OWNER,
        "statusReason": May.OWNER,
        "executionPeriod": May.OWNER,
        "note": May.APPEND,
        "lastModified": May.ANYONE,
        "meta": May.ANYONE,
        "text": May.ANYONE,
    },
    otherwise=May.NOBODY,
    creator=Creator.NOBODY,
)
SERVICE_REQUEST: Final = ElementPolicy(
    kind="a ServiceRequest",
    elements={"note": May.APPEND, "meta": May.ANYONE, "text": May.ANYONE},
    otherwise=May.NOBODY,
    creator=Creator.REQUESTER,
)
GOAL: Final = ElementPolicy(
    kind="a Goal",
    elements={
        "note": May.APPEND,
        "achievementStatus": May.ANYONE,
        "extension": May.ANYONE,  # goal-acceptance: the family's agreement
        "meta": May.ANYONE,
        "text": May.ANYONE,
    },
    otherwise=May.NOBODY,
    creator=Creator.NOBODY,
)
# Resources posted in someone's name: the element naming who posted it.
AUTHOR_ELEMENTS: Final[Mapping[str, str]] = {
    "Communication": "sender",
    "DocumentReference": "author",
    # A hospital stay is recorded by the hospital that provided it (its discharge planner).
    "Encounter": "serviceProvider",
    "Observation": "performer",
    "Procedure": "performer",
}
# Where that element holds parts rather than References: the Reference inside each (Procedure.performer.actor).
AUTHOR_PARTS: Final[Mapping[str, str]] = {"Procedure": "actor"}


def check_write(caller: WriteCaller, resource_type: str, current: Resource | None, new: Resource | None) -> None:
    """Raise ``Forbidden`` (``expression`` naming the element, e.g. ``Task.owner``) when this caller may
    not make this change. ``current`` None is a create, ``new`` None a delete."""
    if caller.treating or (current is None and new is None):
        return
    if current is not None and new is not None and not same(_labels(current), _labels(new)):
        raise Forbidden(
            f"The security labels of a {resource_type} decide who may read it; only {CARE_TEAM} may change them",
            expression=f"{resource_type}.meta.security",
        )
    policy = element_policy(resource_type, current, new)
    if policy is not None:
        _check_policy(policy, caller, resource_type, current, new)
    elif resource_type in AUTHOR_ELEMENTS:
        _check_authored(caller, resource_type, AUTHOR_ELEMENTS[resource_type], current, new)
    elif resource_type == "QuestionnaireResponse":
        _check_questionnaire_response(caller, current, new)


def element_policy(resource_type: str, current: Resource | None, new: Resource | None) -> ElementPolicy | None:
    """The row of the policy table that governs this write (None: no element rule)."""
    if resource_type == "Task":
        referral = any(r is not None and is_referral_task(r) for r in (current, new))
        return REFERRAL_TASK if referral else ACTION_STEP_TASK
    return {"ServiceRequest": SERVICE_REQUEST, "Goal": GOAL}.get(resource_type)


def same(left: Any, right: Any) -> bool:
    """JSON equality, with missing, ``null``, ``[]`` and ``{}`` taken as absent at any depth."""
    return bool(_normalized(left) == _normalized(right))


def appended_only(old: Any, new: Any) -> bool:
    """Whether the list ``new`` keeps every entry of ``old`` as it was, in order, and only adds at the end."""
    before, after = _list(old), _list(new)
    return len(after) >= len(before) and all(same(a, b) for a, b in zip(before, after, strict=False))


# --- the rules -------------------------------------------------------------------------------------------


def _check_policy(
    policy: ElementPolicy, caller: WriteCaller, resource_type: str, current: Resource | None, new: Resource | None
) -> None:
    if new is None:
        raise Forbidden(
            f"{_sentence(policy.kind)} cannot be deleted by a caller outside the child's care team; "
            f"only {CARE_TEAM} may",
            expression=resource_type,
        )
    if current is None:
        _check_create(policy, caller, resource_type, new)
        return
    for element in _changed_elements(policy, current, new):
        may = policy.elements.get(element, policy.otherwise)
        path = f"{resource_type}.{element}"
        if may is May.ANYONE:
            continue
        if may is May.APPEND:
            if not appended_only(current.get(element), new.get(element)):
                raise Forbidden(
                    f"{path} of {policy.kind} may only be added to: existing entries must stay as they were, "
                    f"in order, with new ones at the end; only {CARE_TEAM} may change or remove them",
                    expression=path,
                )
            if element == "note":
                _check_note_authors(caller, path, current.get(element), new.get(element))
            continue
        if may is May.OWNER and caller.is_named(current.get("owner")):
            continue
        who = f"{May.OWNER} or {CARE_TEAM}" if may is May.OWNER else CARE_TEAM
        raise Forbidden(f"{path} of {policy.kind} may be changed only by {who}", expression=path)


def _check_note_authors(caller: WriteCaller, path: str, before: Any, after: Any) -> None:
    """A note added outside the care team is the caller's own: it names no one else as its author."""
    added = (after if isinstance(after, list) else [])[len(before) if isinstance(before, list) else 0 :]
    for note in added:
        author = note.get("authorReference") if isinstance(note, dict) else None
        if author is not None and not caller.is_named(author):
            raise Forbidden(
                f"{path}: a note added by the caller must not name someone else as its author", expression=path
            )


def _check_create(policy: ElementPolicy, caller: WriteCaller, resource_type: str, new: Resource) -> None:
    if policy.creator is Creator.NOBODY:
        raise Forbidden(
            f"{_sentence(policy.kind)} can be created only by {CARE_TEAM}",
            expression=resource_type,
        )
    if not caller.is_named(new.get("requester")):
        raise Forbidden(
            f"{_sentence(policy.kind)} can be created outside the child's care team only in the caller's own name: "
            f"{resource_type}.requester must name the caller",
            expression=f"{resource_type}.requester",
        )
    owner_only = [element for element, may in policy.elements.items() if may is May.OWNER]
    for element in owner_only:
        if _present(new.get(element)) and not caller.is_named(new.get("owner")):
            path = f"{resource_type}.{element}"
            raise Forbidden(f"{path} of {policy.kind} may be set only by {May.OWNER} or {CARE_TEAM}", expression=path)


def _check_authored(
    caller: WriteCaller, resource_type: str, element: str, current: Resource | None, new: Resource | None
) -> None:
    path = f"{resource_type}.{element}"
    if current is not None and not any(
        reference in caller.references for reference in _author_references(resource_type, current.get(element))
    ):
        action = "deleted" if new is None else "changed"
        raise Forbidden(
            f"This {resource_type} may be {action} only by its author (named in {path}) or {CARE_TEAM}",
            expression=path,
        )
    if new is None or (current is not None and same(current.get(element), new.get(element))):
        return
    references = _author_references(resource_type, new.get(element))
    if not references or not all(reference in caller.references for reference in references):
        raise Forbidden(
            f"Posting a {resource_type} is allowed only in the caller's own name: {path} must name the caller "
            "and no one else",
            expression=path,
        )


def _check_questionnaire_response(caller: WriteCaller, current: Resource | None, new: Resource | None) -> None:
    child = f"Patient/{caller.patient}" if caller.patient is not None else None
    subject = "QuestionnaireResponse.subject"
    if new is None:
        if child is not None and current is not None and _references(current.get("subject")) != [child]:
            raise Forbidden("A family may delete only answers about its own child", expression=subject)
        return
    if current is not None and not same(current.get("subject"), new.get("subject")):
        raise Forbidden(
            f"The child a QuestionnaireResponse is about cannot be changed; only {CARE_TEAM} may correct it",
            expression=subject,
        )
    if child is not None and _references(new.get("subject")) != [child]:
        raise Forbidden(
            "A family may record answers only about its own child: QuestionnaireResponse.subject must be "
            "the child the token is for",
            expression=subject,
        )
    author = new.get("author")
    if _present(author):
        allowed = caller.references | ({child} if child is not None else set())
        if not any(reference in allowed for reference in _references(author)):
            raise Forbidden(
                "A QuestionnaireResponse may be recorded only in the caller's own name: "
                "QuestionnaireResponse.author must name the caller" + (" or the child" if child is not None else ""),
                expression="QuestionnaireResponse.author",
            )


# --- helpers ---------------------------------------------------------------------------------------------


def _changed_elements(policy: ElementPolicy, current: Resource, new: Resource) -> Iterator[str]:
    """The elements whose value differs, in the order of the policy table and then by name."""
    names = {_element(key) for key in (*current, *new)} - SERVER_ELEMENTS
    ordered = [name for name in policy.elements if name in names] + sorted(names - set(policy.elements))
    for name in ordered:
        if not (same(current.get(name), new.get(name)) and same(current.get(f"_{name}"), new.get(f"_{name}"))):
            yield name


def _sentence(kind: str) -> str:
    return kind[:1].upper() + kind[1:]


def _element(key: str) -> str:
    """``_status`` (a primitive's id and extensions) -> ``status``."""
    return key[1:] if key.startswith("_") and len(key) > 1 else key


def _labels(resource: Resource) -> Any:
    meta = resource.get("meta")
    return meta.get("security") if isinstance(meta, dict) else None


def _references(value: Any) -> list[str | None]:
    """The literal ``reference`` of a Reference or of each Reference of a list (None: not a literal one)."""
    items = value if isinstance(value, list) else [value] if _present(value) else []
    found: list[str | None] = []
    for item in items:
        reference = item.get("reference") if isinstance(item, dict) else None
        found.append(reference if isinstance(reference, str) else None)
    return found


def _author_references(resource_type: str, value: Any) -> list[str | None]:
    """The literal references of an author element (of the Reference in each of its parts, for a type in
    ``AUTHOR_PARTS``)."""
    part = AUTHOR_PARTS.get(resource_type)
    if part is None:
        return _references(value)
    items = value if isinstance(value, list) else [value] if _present(value) else []
    found: list[str | None] = []
    for item in items:
        found.extend(_references(item.get(part)) if isinstance(item, dict) and _present(item.get(part)) else [None])
    return found


def _normalized(value: Any) -> Any:
    """``value`` without absent parts; None when nothing is left."""
    if isinstance(value, dict):
        cleaned = {key: _normalized(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item is not None} or None
    if isinstance(value, list):
        return [item for item in (_normalized(item) for item in value) if item is not None] or None
    return value


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if _present(value) else []


__all__ = [
    "ACTION_STEP_TASK",
    "AUTHOR_ELEMENTS",
    "AUTHOR_PARTS",
    "GOAL",
    "REFERRAL_TASK",
    "SERVER_ELEMENTS",
    "SERVICE_REQUEST",
    "Creator",
    "ElementPolicy",
    "May",
    "WriteCaller",
    "appended_only",
    "check_write",
    "element_policy",
    "same",
]
