"""The checks the FHIR engine makes with the caller's ``Access`` at each step of an interaction.

The engine (``fhirbridge.engine.interactions``) takes an ``Access`` in every read and write and calls
these: reads answer a resource the caller may not see as absent, writes are checked on the resource as
it is and as it will be (scopes, the policy, who may change which element) inside the write's own
transaction, and every write by an authenticated caller stores its Provenance in that transaction.
Nothing here reads data except through the transaction or reader it is handed.
"""

from __future__ import annotations

from collections.abc import Callable

from fhirbridge.compartment import compartment_patients
from fhirbridge.errors import MethodNotAllowed
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import Access, not_found
from fhirbridge.security.policy import ReadDecision, caller_references
from fhirbridge.security.provenance import attributed_provenance, provenance_for
from fhirbridge.security.scopes import granting_contexts
from fhirbridge.security.write_rules import WriteCaller, check_write
from fhirbridge.storage.clock import time_ordered_id
from fhirbridge.storage.contract import Resource, StoredVersion, WriteTransaction

# (type, id) -> the resource's current version, or its last one before it was deleted.
LatestContent = Callable[[str, str], StoredVersion | None]


def content_of(version: StoredVersion) -> Resource:
    assert version.content is not None
    resource: Resource = fhir_json.loads_stored(version.content)
    return resource


# -- reads ----------------------------------------------------------------------------------------------


# Read decisions kept per relations snapshot (policy.Relations.read_decisions), at the most.
MAX_READ_DECISIONS = 50_000


def check_read_version(access: Access, version: StoredVersion) -> None:
    """A version the caller may not see is answered as absent (its type's scope: 403).

    The decision is kept with the caller's relations: a version never changes and the relations are
    replaced when the store does, so the next read of the same version by the same caller is a look-up
    instead of parsing it and running the policy (most of what security cost a read)."""
    principal = access.principal
    # The unrestricted caller may read anything: no need to parse what it is about to be sent.
    if principal is None:
        return
    reference = f"{version.resource_type}/{version.id}"
    access.require(version.resource_type, "r")
    relations = access.relations()
    key = (
        principal.fhir_user,
        principal.organization,
        principal.patient,
        principal.treating,
        principal.scopes,
        version.resource_type,
        version.id,
        version.version_id,
    )
    decision = relations.read_decisions.get(key)
    if decision is None:
        content = content_of(version)
        children = frozenset(compartment_patients(content))
        decision = ReadDecision(access.denial(content, "r", children=children) is None, children)
        if len(relations.read_decisions) >= MAX_READ_DECISIONS:
            relations.read_decisions.clear()
        relations.read_decisions[key] = decision
    if not decision.visible:
        raise not_found(reference)
    access.note_children(decision.children)


def require_visible_resource(access: Access, resource_type: str, id: str, latest: LatestContent) -> None:
    """The resource as it stands (or stood before its deletion) decides whether any version of it, or
    the fact that it was deleted, may be shown: a resource labelled sensitive later hides its past."""
    if access.unrestricted:
        return
    version = latest(resource_type, id)
    if version is None or not access.visible(content_of(version)):
        raise not_found(f"{resource_type}/{id}")


def visible_versions(
    access: Access, versions: list[StoredVersion], permission: str, latest: LatestContent
) -> list[StoredVersion]:
    """The versions the caller may see: a version shows only when it and its resource as it stands now
    (or stood before its deletion) are visible."""
    resource_visible: dict[tuple[str, str], bool] = {}

    def shown(version: StoredVersion) -> bool:
        key = (version.resource_type, version.id)
        if key not in resource_visible:
            now = latest(*key)
            resource_visible[key] = now is not None and access.visible(content_of(now), permission)
        return resource_visible[key] and (version.content is None or access.visible(content_of(version), permission))

    return [version for version in versions if shown(version)]


# -- writes ---------------------------------------------------------------------------------------------


def refuse_audit_writes(resource_type: str) -> None:
    """The audit trail is the server's alone, whoever asks (authentication on or off)."""
    if resource_type == "AuditEvent":
        raise MethodNotAllowed("AuditEvents are written by the server only: the audit trail cannot be changed")


def check_creating(access: Access, tx: WriteTransaction, resource_type: str, resource: Resource) -> None:
    refuse_audit_writes(resource_type)
    access.check(resource, "c", tx.connection())
    check_elements(access, tx, resource_type, None, resource)


def check_replacing(access: Access, tx: WriteTransaction, resource_type: str, id: str, resource: Resource) -> None:
    """An update (or update-as-create) of ``resource_type/id`` to ``resource``."""
    refuse_audit_writes(resource_type)
    current = tx.current(resource_type, id)
    if current is None or current.content is None:
        check_creating(access, tx, resource_type, resource)
        return
    previous = content_of(current)
    check_writable(access, tx, previous, "u")
    access.check(resource, "u", tx.connection())
    check_elements(access, tx, resource_type, previous, resource)


def check_patched(
    access: Access, tx: WriteTransaction, resource_type: str, previous: Resource | None, patched: Resource
) -> None:
    """A patch must not move the resource where the caller could not have written it, nor change an
    element the caller may not (raised inside the write, so it rolls back)."""
    refuse_audit_writes(resource_type)
    access.check(patched, "u", tx.connection())
    check_elements(access, tx, resource_type, previous, patched)


def check_deleting(access: Access, tx: WriteTransaction, resource_type: str, id: str) -> None:
    refuse_audit_writes(resource_type)
    access.require(resource_type, "d")
    current = tx.current(resource_type, id)
    if current is not None and current.content is not None:
        previous = content_of(current)
        check_writable(access, tx, previous, "d")
        check_elements(access, tx, resource_type, previous, None)


def check_writable(access: Access, tx: WriteTransaction, current: Resource, permission: str) -> None:
    """A write to a resource the caller may not even see is answered as if it did not exist."""
    resource_type = str(current.get("resourceType"))
    access.require(resource_type, permission)  # the token's scopes: a 403 that says nothing of any child
    if access.can(resource_type, "r") and access.denial(current, "r", tx.connection()) is not None:
        raise not_found(f"{resource_type}/{current.get('id')}")
    access.check(current, permission, tx.connection())


def check_elements(
    access: Access, tx: WriteTransaction, resource_type: str, current: Resource | None, new: Resource | None
) -> None:
    """Who may change which element (``write_rules``): the care team anything, others only theirs."""
    principal = access.principal
    if principal is None:
        return
    relations = access.relations(tx.connection())
    children = compartment_patients(current or {}) | compartment_patients(new or {})
    confined = not granting_contexts(principal.scopes, resource_type, "u" if current else "c") - {"patient"}
    treating = not confined and (relations.treats_every_child or (bool(children) and children <= relations.treated))
    caller = WriteCaller(caller_references(principal), principal.patient if confined else None, treating)
    check_write(caller, resource_type, current, new)


def attribute(
    tx: WriteTransaction,
    access: Access,
    version: StoredVersion | None,
    *,
    created: bool = False,
    before: Resource | None = None,
) -> None:
    """Store the Provenance of ``version`` in the write's own transaction, naming the children the
    resource belongs to (as written, or as it was before a deletion: ``before``)."""
    if version is None or (access.principal is None and access.attribution is None):
        return
    content = content_of(version) if version.content is not None else before or {}
    children = compartment_patients(content)
    access.note_children(children)
    if access.principal is not None:
        provenance = provenance_for(version, access.principal, created=created, children=children)
    else:
        assert access.attribution is not None
        provenance = attributed_provenance(version, access.attribution, created=created, children=children)
    tx.put("Provenance", time_ordered_id(), provenance, method="POST", fresh=True)


__all__ = [
    "LatestContent",
    "attribute",
    "check_creating",
    "check_deleting",
    "check_elements",
    "check_patched",
    "check_read_version",
    "check_replacing",
    "check_writable",
    "content_of",
    "require_visible_resource",
    "visible_versions",
]
