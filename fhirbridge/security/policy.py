"""The access policy: which of a child's resources a caller may see. docs/security.md has it as a table.

One decision, written twice over the same facts so that reads and searches cannot disagree:
``denial`` decides on one resource in Python (reads, history, writes); ``row_filter`` says the same in
SQL over the index rows the policy's own functions wrote (``fhirbridge.classification``), so searches,
counts, paging links, includes, chains, ``_has`` and conditional matching only ever see what the caller
may see. The differential test (tests/security/test_differential.py) checks that they agree.

For a resource of a child (in a Patient compartment), every child whose compartment holds it must be
open to the caller, by one of:

- **own child**: a ``patient/`` scope and the token's ``patient`` claim open that child's whole record.
- **treating**: the caller (its ``fhirUser`` or organization) is a member of one of the child's
  CareTeams, or the child's ``generalPractitioner`` or ``managingOrganization`` (in single-practice
  mode: the ``fhirbridge_team: treating`` claim); opens the whole record, sensitive parts included.
- **consent**: an active privacy Consent of the child names the caller's organization; opens the
  information classes it lists, referrals only where the organization is a party, sensitive labels
  only when listed.
- **none**: nothing, not even whether a resource exists.

**Age of majority.** Once the child has come of age (``FHIRBRIDGE_AGE_OF_MAJORITY``, 18 by default) the
own-child relation of anyone but the youth (a parent's token confined to the child) no longer opens the
youth's sensitive data: a resource with a sensitivity label is seen only when a Consent the youth gave
(``performer`` the youth's Patient) names the caller (its ``fhirUser``, e.g. ``RelatedPerson/x``) and one of
its permit provisions covers the labels and the resource's class. What is not sensitive stays open.
``of_age_shares`` reads those facts; ``denial`` and ``row_filter`` both apply them.

Shared directory data (organizations, practitioners, questionnaires, value sets and code systems) is
open to whoever has the scope. Scopes come first: a relation never opens a type the token's scopes do not
grant.

One write reaches past these relations: a referral's performer returns what it did as a Procedure for the
child (Gravity SDOH, ``Task.output`` of type ``resulting-activity``). Creating a Procedure that reports a
referral's result (``reports_referral_result``: ``basedOn`` a ServiceRequest, every ``performer.actor`` the
caller) is allowed here on that shape alone, for one child; the engine then confirms, in the write's own
transaction, that the caller owns the referral Task for that child and request while it is being worked on,
and refuses the write otherwise (``fhirbridge.engine.referrals.check_referral_result``: this module has no
store at hand). It opens nothing to read: the performer does not see the Procedure afterwards unless a
relation opens it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.classification import (
    CLASS_PARAM,
    LABEL_PARAM,
    PARTY_PARAM,
    PATIENT_CLASS,
    PATIENT_PARAM,
    REFERRALS,
    information_class,
    parties,
    sensitivity_labels,
)
from fhirbridge.compartment import (
    SHARED_REFERENCE_TYPES,
    compartment_patients,
    in_patient_compartment_types,
    patient_id_of,
)
from fhirbridge.formats import json as fhir_json
from fhirbridge.search.predicates import RowFilter
from fhirbridge.search.tables import search_reference, search_token
from fhirbridge.security.consent import consent_grants
from fhirbridge.security.principal import Principal
from fhirbridge.security.scopes import granting_contexts
from fhirbridge.storage.schema import resources

Resource = dict[str, Any]

CLAIM = "claim"
CARE_TEAM = "care-team"
TREATING_MODES = (CARE_TEAM, CLAIM)
PERMISSION_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
INACTIVE_TEAM = ("inactive", "entered-in-error")
# The audit trail and the attribution of writes: the server writes them, nobody else (read as the
# children they are about allow).
SERVER_WRITTEN = frozenset({"AuditEvent", "Provenance"})


@dataclass(frozen=True)
class Share:
    """What a child's Consents share with one organization: ``classes`` None means every class."""

    classes: frozenset[str] | None
    labels: frozenset[str]

    def opens(self, kind: str | None, labels: frozenset[str], party: bool) -> bool:
        if not labels <= self.labels:
            return False
        if kind == PATIENT_CLASS:
            return True
        if kind is None or (self.classes is not None and kind not in self.classes):
            return False
        return party or kind != REFERRALS


@dataclass(frozen=True)
class ReadDecision:
    """Whether a caller may read one resource version, and the children it is about."""

    visible: bool
    children: frozenset[str]


@dataclass(frozen=True)
class Relations:
    """What the store says about the caller: the children it treats and what Consents share with it."""

    treats_every_child: bool = False
    treated: frozenset[str] = frozenset()
    # child -> what each permit provision naming the caller's organization shares (any one may open)
    shares: Mapping[str, tuple[Share, ...]] = field(default_factory=dict)
    # Children come of age whose own-child relation with this caller (who is not the youth) no longer
    # opens their sensitive data: child -> what the youth's own Consents naming the caller share.
    of_age: Mapping[str, tuple[Share, ...]] = field(default_factory=dict)
    # Read decisions made under these relations, by caller and resource version (Access.check_read_version):
    # a version never changes, and these relations are kept only while the store does not, so a decision
    # holds as long as they are in use.
    read_decisions: dict[Hashable, ReadDecision] = field(default_factory=dict, compare=False, hash=False, repr=False)


NO_RELATIONS = Relations()


def caller_references(principal: Principal) -> frozenset[str]:
    """What the caller acts as: its user (``Practitioner/7``) and its organization."""
    return frozenset(ref for ref in (principal.fhir_user, principal.organization) if ref)


# Only these can treat a child: a parent on the care team is family, not a clinician.
CLINICIAN_TYPES = ("Practitioner", "PractitionerRole", "Organization")


def clinical_references(principal: Principal) -> frozenset[str]:
    """The caller's references that can make it a member of a child's treating team."""
    return frozenset(ref for ref in caller_references(principal) if ref.partition("/")[0] in CLINICIAN_TYPES)


# -- the decision in Python ---------------------------------------------------------------------------


def denial(
    principal: Principal,
    relations: Relations,
    resource: Resource,
    permission: str,
    children: Iterable[str] | None = None,
) -> str | None:
    """Why this caller may not ``permission`` this resource, or None when it may. ``children``: its
    compartment's, when the caller knows them already."""
    resource_type = str(resource.get("resourceType", ""))
    contexts = granting_contexts(principal.scopes, resource_type, permission)
    if not contexts:
        return f"The access token does not allow {PERMISSION_NAMES[permission]} of {resource_type}"
    confined = not contexts - {"patient"}
    if resource_type in SERVER_WRITTEN and permission in ("c", "u", "d"):
        return f"{resource_type} is written by the server itself, never through the API"
    # A Subscription is set up by whoever has the scope: the server records the caller as its owner and
    # delivers only what that owner may read, asking this policy as the owner (subscriptions/owner.py).
    if not in_patient_compartment_types(resource_type):
        if confined and not (resource_type in SHARED_REFERENCE_TYPES and permission in ("r", "s")):
            return f"{resource_type} is outside the compartment of the patient in the access token"
        return None
    children = compartment_patients(resource) if children is None else set(children)
    if resource_type == "Patient" and permission == "c" and not relations.treats_every_child:
        # Registering a child: the new Patient must name the caller as its general practitioner or
        # managing organization, which makes the caller its treating team (and nobody else's).
        if not _registers_with(resource, clinical_references(principal)):
            return "A new Patient must name the caller as its generalPractitioner or managingOrganization"
        return None
    if confined:
        if not children or children != {principal.patient}:
            return f"{resource_type} is outside the compartment of the patient in the access token"
        youth = relations.of_age.get(principal.patient or "")
        if youth is not None and not _youth_shares(youth, resource):
            return f"This {resource_type} is sensitive and the youth, now of age, has not consented to share it"
        return None
    if relations.treats_every_child:
        return None
    if not children:
        # A type that holds children's data, about no child this server knows: nobody's to share.
        return f"This {resource_type} is about no child the caller is related to"
    if permission == "c" and len(children) == 1 and reports_referral_result(resource, caller_references(principal)):
        return None  # a referral's performer reporting its result: confirmed by engine/referrals.py
    kind = information_class(resource)
    labels = sensitivity_labels(resource)
    party = kind == REFERRALS and bool(parties(resource) & caller_references(principal))
    for child in children:
        if child in relations.treated:
            continue
        if not any(share.opens(kind, labels, party) for share in relations.shares.get(child, ())):
            return f"The caller has no treating relationship or consent that opens this {resource_type}"
    return None


def _youth_shares(shares: tuple[Share, ...], resource: Resource) -> bool:
    """Whether a youth come of age lets the caller see this resource: always when it is not sensitive."""
    labels = sensitivity_labels(resource)
    if not labels:
        return True
    # Only the youth's consent limits the class here; a referral is not only its parties' business.
    return any(share.opens(information_class(resource), labels, party=True) for share in shares)


def reports_referral_result(resource: Resource, references: frozenset[str]) -> bool:
    """Whether ``resource`` is a Procedure the caller reports as the result of a referral it performs: based
    on a ServiceRequest, with performers all of them the caller (``references``). The referral itself is
    checked against the store where one is at hand (``fhirbridge.engine.referrals``)."""
    if resource.get("resourceType") != "Procedure":
        return False
    requests = [ref for ref in _literal_references(resource.get("basedOn")) if ref.startswith("ServiceRequest/")]
    performers = resource.get("performer")
    actors = [
        _literal_reference(performer.get("actor")) if isinstance(performer, dict) else None
        for performer in (performers if isinstance(performers, list) else [])
    ]
    return bool(requests) and bool(actors) and all(actor in references for actor in actors)


def _literal_references(value: Any) -> list[str]:
    items = value if isinstance(value, list) else []
    return [ref for ref in (_literal_reference(item) for item in items) if ref is not None]


def _literal_reference(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) else None


def _registers_with(patient: Resource, references: frozenset[str]) -> bool:
    named = [patient.get("managingOrganization"), *(patient.get("generalPractitioner") or [])]
    return any(isinstance(ref, dict) and ref.get("reference") in references for ref in named)


# -- the same decision in SQL -------------------------------------------------------------------------


def row_filter(principal: Principal, relations: Relations) -> RowFilter:
    """The condition a row of ``resources`` (or an alias) of a type must meet to be seen by the caller."""
    references = caller_references(principal)

    def visible(resource_type: str, r: Any) -> Any:
        contexts = granting_contexts(principal.scopes, resource_type, "r")
        if not contexts:
            return sa.false()
        confined = not contexts - {"patient"}
        if not in_patient_compartment_types(resource_type):
            return sa.false() if confined and resource_type not in SHARED_REFERENCE_TYPES else sa.true()
        if confined:
            own_child = sa.and_(
                _child_rows(r, lambda child: child == principal.patient),
                ~_child_rows(r, lambda child: child != principal.patient),
            )
            youth = relations.of_age.get(principal.patient or "")
            if youth is None:
                return own_child
            opened = (_share_opens(share, r, references, any_party=True) for share in youth)
            return sa.and_(own_child, sa.or_(~_labelled(r), *opened))
        if relations.treats_every_child:
            return sa.true()
        # The resource is about a child, and no child of it is one the caller cannot see it for.
        about_a_child = _child_rows(r, lambda child: sa.true())
        hidden_child = _child_rows(
            r, lambda child: sa.not_(_opens(sa.func.coalesce(child, ""), r, relations, references))
        )
        return sa.and_(about_a_child, ~hidden_child)

    return visible


def _child_rows(r: Any, condition: Callable[[Any], Any]) -> Any:
    """EXISTS a child of ``r`` (an ``@patient`` index row) meeting ``condition`` (on its id column)."""
    t = search_reference.alias()
    found = sa.exists().where(
        t.c.resource_pk == r.c.pk, t.c.param == PATIENT_PARAM, t.c.target_type == "Patient", condition(t.c.target_id)
    )
    return found.correlate(r)


def _opens(child: Any, r: Any, relations: Relations, references: frozenset[str]) -> Any:
    alternatives: list[Any] = []
    if relations.treated:
        alternatives.append(child.in_(sorted(relations.treated)))
    by_share: dict[Share, list[str]] = {}
    for patient, shares in relations.shares.items():
        if patient not in relations.treated:
            for share in set(shares):
                by_share.setdefault(share, []).append(patient)
    for share, children in by_share.items():
        alternatives.append(sa.and_(child.in_(sorted(children)), _share_opens(share, r, references)))
    return sa.or_(*alternatives) if alternatives else sa.false()


def _labelled(r: Any) -> Any:
    """EXISTS a sensitivity label of ``r`` (an ``@label`` index row)."""
    token = search_token.alias()
    return sa.exists().where(token.c.resource_pk == r.c.pk, token.c.param == LABEL_PARAM).correlate(r)


def _share_opens(share: Share, r: Any, references: frozenset[str], *, any_party: bool = False) -> Any:
    # Every subquery names the row it is about (``correlate``): nested two levels down, SQLAlchemy would
    # otherwise add the resources table to its FROM and ask about every row of the store instead.
    token = search_token.alias()
    uncovered = sa.exists().where(
        token.c.resource_pk == r.c.pk, token.c.param == LABEL_PARAM, token.c.code.not_in(sorted(share.labels))
    )
    labels_covered = ~uncovered.correlate(r)
    classes = search_token.alias()
    kinds = sa.select(classes.c.code).where(classes.c.resource_pk == r.c.pk, classes.c.param == CLASS_PARAM)
    kind = sa.func.coalesce(kinds.correlate(r).scalar_subquery(), "")  # never NULL: a NULL would open the row
    patient = kind == PATIENT_CLASS
    in_classes = sa.true() if share.classes is None else kind.in_(sorted(share.classes))
    referral = sa.true() if any_party else sa.or_(kind != REFERRALS, _party_rows(r, references))
    # A resource of no class (a Group, a Coverage) is in no class a Consent can share, even one sharing
    # every class (``Share.opens``: kind None): "" is what the coalesce makes of no class.
    classified = kind != ""
    return sa.and_(labels_covered, sa.or_(patient, sa.and_(classified, in_classes, referral)))


def _party_rows(r: Any, references: frozenset[str]) -> Any:
    if not references:
        return sa.false()
    t = search_reference.alias()
    found = sa.exists().where(t.c.resource_pk == r.c.pk, t.c.param == PARTY_PARAM, _names_any(t, references))
    return found.correlate(r)


def _names_any(t: Any, references: Iterable[str]) -> Any:
    pairs = [ref.split("/", 1) for ref in sorted(references) if "/" in ref]
    return (
        sa.or_(*(sa.and_(t.c.target_type == kind, t.c.target_id == id) for kind, id in pairs)) if pairs else sa.false()
    )


# -- relations, from the index ------------------------------------------------------------------------


# The caller's references go into the relation queries as two bind parameters each (a caller has at most
# a user and an organization; one reference is given twice), so each query is built and compiled once.
_REFERENCE_SLOTS = 2


def _named_by_caller(t: Any) -> Any:
    return sa.or_(
        *(
            sa.and_(t.c.target_type == sa.bindparam(f"type{n}"), t.c.target_id == sa.bindparam(f"id{n}"))
            for n in range(_REFERENCE_SLOTS)
        )
    )


def _caller_params(references: Iterable[str]) -> dict[str, str]:
    pairs = [ref.split("/", 1) for ref in sorted(references) if "/" in ref][:_REFERENCE_SLOTS]
    pairs += [pairs[-1]] * (_REFERENCE_SLOTS - len(pairs))
    params: dict[str, str] = {}
    for n, (kind, id) in enumerate(pairs):
        params[f"type{n}"], params[f"id{n}"] = kind, id
    return params


@cache
def _treated_query() -> Any:
    member = search_reference.alias()
    subject = search_reference.alias()
    status = search_token.alias()
    named = search_reference.alias()
    teams = sa.select(member.c.resource_pk).where(
        member.c.resource_type == "CareTeam", member.c.param == "participant", _named_by_caller(member)
    )
    inactive = sa.select(status.c.resource_pk).where(
        status.c.resource_type == "CareTeam", status.c.param == "status", status.c.code.in_(INACTIVE_TEAM)
    )
    on_team = sa.select(subject.c.target_id).where(
        subject.c.resource_type == "CareTeam",
        subject.c.param == "subject",
        subject.c.target_type == "Patient",
        subject.c.resource_pk.in_(teams),
        subject.c.resource_pk.not_in(inactive),
    )
    registered = (
        sa.select(resources.c.id)
        .join(named, named.c.resource_pk == resources.c.pk)
        .where(
            named.c.resource_type == "Patient",
            named.c.param.in_(("general-practitioner", "organization")),
            _named_by_caller(named),
        )
    )
    return sa.union(on_team, registered)


def treated_children(conn: Connection, principal: Principal) -> frozenset[str]:
    """Children whose care team has the caller as a member, or whose Patient names it as general
    practitioner or managing organization."""
    references = clinical_references(principal)
    if not references:
        return frozenset()
    return frozenset(conn.execute(_treated_query(), _caller_params(references)).scalars())


@cache
def _consents_query() -> Any:
    actor = search_reference.alias()
    status = search_token.alias()
    active = sa.select(status.c.resource_pk).where(
        status.c.resource_type == "Consent", status.c.param == "status", status.c.code == "active"
    )
    naming = sa.select(actor.c.resource_pk).where(
        actor.c.resource_type == "Consent",
        actor.c.param == "actor",
        _named_by_caller(actor),
        actor.c.resource_pk.in_(active),
    )
    return sa.select(resources.c.content).where(resources.c.pk.in_(naming), resources.c.deleted.is_(False))


def consents_naming(conn: Connection, organization: str) -> list[bytes]:
    """The stored content of the active Consents whose provision names ``organization`` as an actor."""
    if "/" not in organization:
        return []
    rows = conn.execute(_consents_query(), _caller_params([organization])).scalars()
    return [bytes(content) for content in rows]


def of_age_shares(
    conn: Connection, principal: Principal, now: datetime, age_of_majority: int
) -> dict[str, tuple[Share, ...]]:
    """``Relations.of_age`` for a caller confined to one child: empty unless the child has come of age and
    the caller is not the youth; then what the youth's own Consents naming the caller's user share."""
    child = principal.patient
    if child is None or principal.fhir_user == f"Patient/{child}":
        return {}
    patient = conn.execute(_patient_query(), {"id": child}).scalar()
    birth_date = _birth_date(fhir_json.loads_stored(bytes(patient))) if patient is not None else None
    if birth_date is None or not _of_age(birth_date, now.date(), age_of_majority):
        return {}
    user = principal.fhir_user
    shares: tuple[Share, ...] = ()
    for content in consents_naming(conn, user) if user else []:
        consent = fhir_json.loads_stored(content)
        if patient_id_of(consent.get("patient")) != child or not _given_by_youth(consent, child):
            continue
        shares += tuple(Share(g.classes, g.labels) for g in consent_grants(consent, str(user), child, now))
    return {child: shares}


@cache
def _patient_query() -> Any:
    return sa.select(resources.c.content).where(
        resources.c.resource_type == "Patient", resources.c.id == sa.bindparam("id"), resources.c.deleted.is_(False)
    )


def _birth_date(patient: Resource) -> date | None:
    value = patient.get("birthDate")
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None  # a partial birth date (a year) says too little: the parents keep what they had


def _of_age(birth_date: date, today: date, age_of_majority: int) -> bool:
    years = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    return years >= age_of_majority


def _given_by_youth(consent: Resource, child: str) -> bool:
    """A Consent the youth gave: one of its performers is the youth's own Patient."""
    performers = consent.get("performer")
    return any(patient_id_of(ref) == child for ref in (performers if isinstance(performers, list) else []))


__all__ = [
    "CARE_TEAM",
    "CLAIM",
    "NO_RELATIONS",
    "TREATING_MODES",
    "Relations",
    "RowFilter",
    "Share",
    "caller_references",
    "consents_naming",
    "denial",
    "of_age_shares",
    "reports_referral_result",
    "row_filter",
    "treated_children",
]
