"""The access decision: may this caller do this to this resource?

``Access`` combines the token's SMART scopes, its patient context (a ``patient/`` scope only reaches
the child named in the token), and, for organizations outside the treating team, the child's
Consents and the sensitivity of the resource. It knows nothing of HTTP: the server sets the access of
each request with ``access_scope`` and the guarded engine asks ``current_access()``. Code that runs
with no access set is refused (fail closed); system work (audit, demo data) runs under
``SYSTEM_ACCESS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhirbridge.engine.actor import Actor, current_actor
from fhirbridge.errors import Forbidden
from fhirbridge.security.compartment import (
    SHARED_REFERENCE_TYPES,
    CompartmentConstraint,
    compartment_patients,
    compartment_search_constraint,
    in_patient_compartment_types,
)
from fhirbridge.security.consent import ConsentGrant
from fhirbridge.security.principal import Principal
from fhirbridge.security.scopes import granting_contexts
from fhirbridge.security.sensitivity import sensitivity_labels

Resource = dict[str, Any]
# (child's Patient id, Organization reference) -> the combined grant of the child's Consents, or None.
ConsentLookup = Callable[[str, str, datetime], ConsentGrant | None]

PERMISSION_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


@dataclass
class Access:
    """What one request may do. ``principal`` None means unrestricted (system work, or auth disabled)."""

    principal: Principal | None
    consents: ConsentLookup | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _grants: dict[tuple[str, str], ConsentGrant | None] = field(default_factory=dict, repr=False)

    @property
    def unrestricted(self) -> bool:
        return self.principal is None

    @property
    def filters_results(self) -> bool:
        """Whether lists (history, search) must be filtered resource by resource."""
        # Scopes differ by type, so even a caller confined by scopes alone needs each entry checked.
        return self.principal is not None

    # -- type-level -----------------------------------------------------------------------------------

    def can(self, resource_type: str, permission: str) -> bool:
        principal = self.principal
        if principal is None:
            return True
        contexts = granting_contexts(principal.scopes, resource_type, permission)
        if contexts - {"patient"}:
            return True
        # patient/ scopes grant nothing without a patient in context.
        return (
            "patient" in contexts
            and principal.patient is not None
            and self._patient_scope_reaches(resource_type, permission)
        )

    def require(self, resource_type: str, permission: str) -> None:
        if not self.can(resource_type, permission):
            raise Forbidden(
                f"The access token does not allow {PERMISSION_NAMES[permission]} of {resource_type}",
                code="forbidden",
            )

    # -- resource-level -------------------------------------------------------------------------------

    def denial(self, resource: Resource, permission: str) -> str | None:
        """Why this caller may not ``permission`` this resource, or None when it may."""
        principal = self.principal
        if principal is None:
            return None
        resource_type = str(resource.get("resourceType", ""))
        if not self.can(resource_type, permission):
            return f"The access token does not allow {PERMISSION_NAMES[permission]} of {resource_type}"
        contexts = granting_contexts(principal.scopes, resource_type, permission)
        patients = compartment_patients(resource) if in_patient_compartment_types(resource_type) else frozenset()
        confined = not contexts - {"patient"}
        if confined and in_patient_compartment_types(resource_type) and principal.patient not in patients:
            return f"{resource_type} is outside the compartment of the patient in the access token"
        if principal.consent_required and patients:
            assert principal.organization is not None
            labels = sensitivity_labels(resource)
            for patient in sorted(patients):
                grant = self.grant(patient, principal.organization)
                if grant is None:
                    return f"No active consent shares this patient's data with {principal.organization}"
                if not grant.covers(labels):
                    return f"The patient's consent does not cover {', '.join(sorted(labels - grant.labels))} data"
        return None

    def visible(self, resource: Resource, permission: str = "r") -> bool:
        return self.denial(resource, permission) is None

    def check(self, resource: Resource, permission: str) -> None:
        reason = self.denial(resource, permission)
        if reason is not None:
            raise Forbidden(reason, code="forbidden")

    def grant(self, patient_id: str, organization: str) -> ConsentGrant | None:
        key = (patient_id, organization)
        if key not in self._grants:
            self._grants[key] = self.consents(patient_id, organization, self.now) if self.consents else None
        return self._grants[key]

    # -- search ---------------------------------------------------------------------------------------

    def compartment_constraint(self, resource_type: str) -> CompartmentConstraint | None:
        """What a search of ``resource_type`` must AND in for this caller (None: nothing to add).

        Raises Forbidden when the caller may not search the type at all.
        """
        self.require(resource_type, "s")
        principal = self.principal
        if principal is None or granting_contexts(principal.scopes, resource_type, "s") - {"patient"}:
            return None
        assert principal.patient is not None
        return compartment_search_constraint(resource_type, principal.patient)

    def _patient_scope_reaches(self, resource_type: str, permission: str) -> bool:
        if in_patient_compartment_types(resource_type):
            return True
        # Shared directory data (practitioners, organizations, questionnaires) is read-only under patient/.
        return resource_type in SHARED_REFERENCE_TYPES and permission in ("r", "s")


SYSTEM_ACCESS = Access(principal=None)

_current: ContextVar[Access | None] = ContextVar("fhirbridge_access", default=None)


def optional_access() -> Access | None:
    """The access of the request being served, or None outside any request (no filtering asked for)."""
    return _current.get()


def current_access() -> Access:
    """The access of the request being served; refuses when none was set."""
    access = _current.get()
    if access is None:
        raise Forbidden("No access context is established for this request", code="security")
    return access


@contextmanager
def access_scope(access: Access) -> Iterator[Access]:
    """Establish who is calling for the engine: what they may do, and whom they act as (business rules
    such as who may move a referral ask the latter)."""
    token = _current.set(access)
    actor_token = current_actor.set(actor_of(access.principal))
    try:
        yield access
    finally:
        current_actor.reset(actor_token)
        _current.reset(token)


def actor_of(principal: Principal | None) -> Actor | None:
    if principal is None:
        return None
    return Actor(frozenset(ref for ref in (principal.fhir_user, principal.organization) if ref))


__all__ = ["SYSTEM_ACCESS", "Access", "ConsentLookup", "access_scope", "actor_of", "current_access", "optional_access"]
