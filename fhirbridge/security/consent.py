"""Consent to share a child's data with an organization outside the treating team.

A Consent permits an organization while it is ``active``, is a privacy consent (category ``IDSCL``
from v3-ActCode, or scope ``patient-privacy``), concerns the child (``Consent.patient``), and has a
``permit`` provision naming the organization in ``provision.actor`` whose period (and the periods of
the provisions above it) covers the moment of access. The sensitive labels it covers are the
``securityLabel`` codes of those permit provisions and of the permit provisions nested in them, less
those a nested ``deny`` provision lists. The information classes it shares are the ``class`` codes
(fhirbridge's ``shared-information`` CodeSystem) of those permit provisions, with nested provisions
adding or withdrawing classes the same way; a permit provision that lists no class at all shares every
class (R4: "the class of information covered by this rule", none meaning no restriction). A class from
another system is not understood and shares nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhirbridge.classification import ACT_CODE, CONSENTABLE_CLASSES, SHARED_INFORMATION
from fhirbridge.compartment import patient_id_of

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"


@dataclass(frozen=True)
class ConsentGrant:
    """What one Consent allows one organization to see of one child."""

    consent_id: str
    labels: frozenset[str]
    # None: every class (a permit provision that lists none).
    classes: frozenset[str] | None = None

    def covers(self, labels: frozenset[str]) -> bool:
        return labels <= self.labels


def consent_grants(consent: dict[str, Any], organization: str, patient_id: str, now: datetime) -> list[ConsentGrant]:
    """What ``consent`` shares with ``organization`` (``Organization/x``) of the child: one grant per
    permit provision naming it. Each stands alone: a sensitive Goal is shared only by a provision that
    lists both goals and its label, not by one listing goals and another listing the label."""
    if consent.get("status") != "active" or patient_id_of(consent.get("patient")) != patient_id:
        return []
    if not _is_privacy_consent(consent):
        return []
    provision = consent.get("provision")
    if not isinstance(provision, dict):
        return []
    consent_id = str(consent.get("id", ""))
    return [
        ConsentGrant(consent_id, frozenset(_covered_labels(permit, now)), _frozen(_covered_classes(permit, now)))
        for permit in _permits_for(provision, organization, now, inherited="deny")
    ]


def consent_grant(consent: dict[str, Any], organization: str, patient_id: str, now: datetime) -> ConsentGrant | None:
    """Everything ``consent`` shares with ``organization`` of the child taken together, if anything (what a
    person reading the Consent is told; access decisions use ``consent_grants``)."""
    return best_grant(consent_grants(consent, organization, patient_id, now))


def _frozen(classes: set[str] | None) -> frozenset[str] | None:
    return None if classes is None else frozenset(classes)


def best_grant(grants: Iterable[ConsentGrant | None]) -> ConsentGrant | None:
    """Several consents may name an organization; together they cover the union of their labels."""
    found = [grant for grant in grants if grant is not None]
    if not found:
        return None
    labels = frozenset().union(*(grant.labels for grant in found))
    kinds = [grant.classes for grant in found]
    classes = None if any(kind is None for kind in kinds) else frozenset().union(*(k for k in kinds if k is not None))
    return ConsentGrant(",".join(sorted(grant.consent_id for grant in found)), labels, classes)


def _is_privacy_consent(consent: dict[str, Any]) -> bool:
    categories = [coding for concept in _list(consent.get("category")) for coding in _codings(concept)]
    scope = _codings(consent.get("scope"))
    return any(c.get("system") == ACT_CODE and c.get("code") == "IDSCL" for c in categories) or any(
        c.get("system") == CONSENT_SCOPE and c.get("code") == "patient-privacy" for c in scope
    )


def _permits_for(
    provision: dict[str, Any], organization: str, now: datetime, inherited: str
) -> Iterator[dict[str, Any]]:
    """Permit provisions naming the organization, reachable through periods that cover ``now``."""
    if not _period_covers(provision.get("period"), now):
        return
    kind = provision.get("type", inherited)
    actors = [actor.get("reference") for actor in _list(provision.get("actor")) if isinstance(actor, dict)]
    if kind == "permit" and any(_names(reference, organization) for reference in actors):
        yield provision
        return
    for nested in _list(provision.get("provision")):
        if isinstance(nested, dict):
            yield from _permits_for(nested, organization, now, kind)


def _covered_labels(permit: dict[str, Any], now: datetime) -> set[str]:
    labels = {c["code"] for c in _list(permit.get("securityLabel")) if _is_act_code(c)}
    for nested in _list(permit.get("provision")):
        if not isinstance(nested, dict) or not _period_covers(nested.get("period"), now):
            continue
        nested_labels = {c["code"] for c in _list(nested.get("securityLabel")) if _is_act_code(c)}
        if nested.get("type", "permit") == "deny":
            labels -= nested_labels
        else:
            labels |= nested_labels
    return labels


def _covered_classes(permit: dict[str, Any], now: datetime) -> set[str] | None:
    """The information classes a permit provision shares (None: every class)."""
    listed = _list(permit.get("class"))
    if not listed:
        classes: set[str] | None = None
    else:
        classes = {c["code"] for c in listed if _is_shared_information(c)}
    for nested in _list(permit.get("provision")):
        if not isinstance(nested, dict) or not _period_covers(nested.get("period"), now):
            continue
        nested_classes = {c["code"] for c in _list(nested.get("class")) if _is_shared_information(c)}
        if nested.get("type", "permit") == "deny":
            if classes is not None:
                classes -= nested_classes
            elif nested_classes:
                classes = set(CONSENTABLE_CLASSES) - nested_classes
        elif classes is not None:
            classes |= nested_classes
    return classes


def _is_shared_information(coding: Any) -> bool:
    return (
        isinstance(coding, dict) and coding.get("system") == SHARED_INFORMATION and isinstance(coding.get("code"), str)
    )


def _is_act_code(coding: Any) -> bool:
    return isinstance(coding, dict) and coding.get("system") == ACT_CODE and isinstance(coding.get("code"), str)


def _period_covers(period: Any, now: datetime) -> bool:
    if not isinstance(period, dict):
        return True
    start, end = _moment(period.get("start"), end=False), _moment(period.get("end"), end=True)
    if (period.get("start") is not None and start is None) or (period.get("end") is not None and end is None):
        return False  # an unreadable bound never widens access
    return (start is None or start <= now) and (end is None or now <= end)


def _moment(value: Any, *, end: bool) -> datetime | None:
    """A FHIR dateTime as an aware datetime; a bare date covers its whole day."""
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day.replace(hour=23, minute=59, second=59) if end else day
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _names(reference: Any, target: str) -> bool:
    if isinstance(reference, dict):
        reference = reference.get("reference")
    return isinstance(reference, str) and (reference == target or reference.endswith(f"/{target}"))


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [coding for coding in _list(concept.get("coding")) if isinstance(coding, dict)]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = ["CONSENT_SCOPE", "ConsentGrant", "best_grant", "consent_grant", "consent_grants"]
