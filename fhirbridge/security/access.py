"""The access decision: may this caller do this to this resource?

``Access`` is what one request may do: the token's SMART scopes and claims (``Principal``) and what
the store says about the caller (``policy.Relations``: the children it treats, what Consents share
with it), loaded once per request and, for write checks, inside the write's own transaction. The
decision itself is ``fhirbridge.security.policy``; this module asks it. It knows nothing of HTTP: the
server makes one ``Access`` per request at its edge (the security middleware) and passes it explicitly
to every read and write of the engine, the search service and the operations: none of them has a
default, so code that touches data without an Access does not type-check. System work (audit, demo
data, subscription bookkeeping) passes ``SYSTEM_ACCESS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from fhirbridge.compartment import SHARED_REFERENCE_TYPES, in_patient_compartment_types
from fhirbridge.errors import Forbidden, NotFound
from fhirbridge.security import policy
from fhirbridge.security.policy import NO_RELATIONS, PERMISSION_NAMES, Relations, RowFilter
from fhirbridge.security.principal import Actor, Principal
from fhirbridge.security.provenance import Attribution
from fhirbridge.security.scopes import granting_contexts

Resource = dict[str, Any]


class RelationStore(Protocol):
    """Where an ``Access`` learns the caller's relations: the children it treats, what it is shared."""

    def relations(self, principal: Principal, now: datetime, conn: Connection | None = None) -> Relations: ...


@dataclass(frozen=True)
class AuditedEntity:
    """Something one request touched besides what its URL names (each entry of a Bundle)."""

    reference: str
    interaction: str
    status: int


@dataclass
class Access:
    """What one request may do. ``principal`` None means unrestricted (system work, or auth disabled)."""

    principal: Principal | None
    store: RelationStore | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _relations: Relations | None = field(default=None, repr=False)
    # What the request touched that its URL does not say, for its AuditEvent (filled by the bundle
    # processor); not kept for the server's own work, which no request's AuditEvent covers.
    audited: list[AuditedEntity] = field(default_factory=list, repr=False)
    # The children whose data the request read or wrote, for its AuditEvent (a privacy officer's "who
    # looked at this child's record").
    children: set[str] = field(default_factory=set, repr=False)
    keeps_audit: bool = True
    # System work (no principal) whose writes are attributed all the same (an import): by whom, from what.
    attribution: Attribution | None = None

    def note(self, entities: list[AuditedEntity]) -> None:
        if self.keeps_audit:
            self.audited.extend(entities)

    def note_children(self, children: Iterable[str]) -> None:
        if self.keeps_audit:
            self.children.update(children)

    @property
    def unrestricted(self) -> bool:
        return self.principal is None

    @property
    def actor(self) -> Actor | None:
        """Whom the caller acts as, for business rules such as who may move a referral."""
        return actor_of(self.principal)

    @property
    def filters_results(self) -> bool:
        """Whether lists (history, search) must be filtered resource by resource."""
        return self.principal is not None

    def relations(self, conn: Connection | None = None) -> Relations:
        """The caller's relations; inside a write transaction (``conn``) as that transaction sees them."""
        if self.principal is None or self.store is None:
            return NO_RELATIONS
        if conn is not None:
            return self.store.relations(self.principal, self.now, conn)
        if self._relations is None:
            self._relations = self.store.relations(self.principal, self.now)
        return self._relations

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

    def denial(
        self,
        resource: Resource,
        permission: str,
        conn: Connection | None = None,
        children: Iterable[str] | None = None,
    ) -> str | None:
        """Why this caller may not ``permission`` this resource, or None when it may."""
        principal = self.principal
        if principal is None:
            return None
        resource_type = str(resource.get("resourceType", ""))
        if not self.can(resource_type, permission):
            return f"The access token does not allow {PERMISSION_NAMES[permission]} of {resource_type}"
        return policy.denial(principal, self.relations(conn), resource, permission, children)

    def visible(self, resource: Resource, permission: str = "r") -> bool:
        return self.denial(resource, permission) is None

    def check(self, resource: Resource, permission: str, conn: Connection | None = None) -> None:
        """Refuse a write (``c``, ``u``, ``d``) the caller may not make."""
        reason = self.denial(resource, permission, conn)
        if reason is not None:
            raise Forbidden(reason, code="forbidden")

    def check_read(self, resource: Resource, reference: str, conn: Connection | None = None) -> None:
        """Refuse a read: a resource the caller may not see is answered as if it did not exist.

        Only a type the token's scopes do not grant is a 403 (that says nothing about any child)."""
        resource_type = str(resource.get("resourceType", ""))
        self.require(resource_type, "r")
        if self.denial(resource, "r", conn) is not None:
            raise not_found(reference)

    def row_filter(self, conn: Connection | None = None) -> RowFilter | None:
        """The SQL twin of ``visible``: what a row must meet to be seen (None: everything)."""
        if self.principal is None:
            return None
        return policy.row_filter(self.principal, self.relations(conn))

    def _patient_scope_reaches(self, resource_type: str, permission: str) -> bool:
        if in_patient_compartment_types(resource_type):
            return True
        # Shared directory data (practitioners, organizations, questionnaires) is read-only under patient/.
        return resource_type in SHARED_REFERENCE_TYPES and permission in ("r", "s")


def not_found(reference: str) -> NotFound:
    """The answer for a resource that is absent, and for one the caller may not see: the same."""
    return NotFound(f"{reference} is not known", code="not-found")


SYSTEM_ACCESS = Access(principal=None, keeps_audit=False)


def actor_of(principal: Principal | None) -> Actor | None:
    if principal is None:
        return None
    return Actor(policy.caller_references(principal))


__all__ = ["SYSTEM_ACCESS", "Access", "AuditedEntity", "RelationStore", "actor_of", "not_found"]
