"""A whole record to FHIR (a transaction Bundle) and back.

Writing goes through the part table (``parts.record_to_resources``: the list of resources). Reading
gathers the resources given (``_incoming``) and hands them to one ``Assembly`` (``_assembly``), which
keeps what the record does not reproduce (``_retained``). Reading is tolerant: every resource finds a
place in the record or is kept as it came, and the import report lists, element by element, what the
record does not cover and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fhirbridge.domain.record import Record
from fhirbridge.mappers._assembly import Assembly, ImportResult, StatusMove, StatusMoves
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import Resource, reference_parts
from fhirbridge.mappers._incoming import about_another_patient, choose_child, collect, resource_key
from fhirbridge.mappers.parts import record_to_resources
from fhirbridge.mappers.provenance import provenance_for
from fhirbridge.references import reference_holders

__all__ = [
    "ImportResult",
    "StatusMove",
    "StatusMoves",
    "record_from_resources",
    "record_to_bundle",
    "references_outside",
]

BUNDLE_NAMESPACE = uuid.UUID("5b0b2c1e-6f43-5a8e-9d1c-7e2f4b8a1c30")
IGNORED_TYPES = ("Provenance", "AuditEvent", "Bundle", "OperationOutcome", "Subscription")


def record_to_bundle(record: Record, *, author_id: str | None = None, recorded: datetime | None = None) -> Resource:
    """A transaction Bundle: each resource PUT under its stable id, so sending it twice updates it.

    With ``author_id`` (who made the change: a team member, a family member or the child) and
    ``recorded`` (when), the Bundle also creates a Provenance naming every resource written.
    """
    resources = record_to_resources(record)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid5(BUNDLE_NAMESPACE, resource_key(resource))}",
            "resource": resource,
            "request": {"method": "PUT", "url": resource_key(resource)},
        }
        for resource in resources
    ]
    if author_id is not None:
        if recorded is None:
            raise ValueError("a Provenance needs the time of the change (recorded)")
        made = provenance_for(resources, Links(record), author_id=author_id, recorded=recorded)
        entries.append(
            {
                "fullUrl": f"urn:uuid:{made['id']}",
                "resource": made,
                "request": {"method": "POST", "url": "Provenance"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def record_from_resources(
    resources: Resource | Iterable[Resource], *, status_moves: StatusMoves | None = None
) -> ImportResult:
    """Assemble a record from a Bundle or a list of resources (as the store hands them over).

    A referral whose tracking Task was moved to another status over FHIR (by an agency, say), without
    a ``status-change`` entry for the move, gains the move in its history: when and by whom, as
    ``status_moves`` tells, else at the Task's ``lastModified`` or ``meta.lastUpdated``, by nobody
    named. The record read is then one its own rules accept, and can be written back.
    """
    reader = Reader()
    collected = collect(resources, reader)
    child_key = choose_child(collected)
    by_type: dict[str, list[Resource]] = {}
    others: list[Resource] = []
    for resource in collected:
        if resource["resourceType"] in IGNORED_TYPES:
            reader.current = resource_key(resource)
            reader.note(
                "",
                f"a {resource['resourceType']} is history or transport, not part of the record; not kept in it",
            )
        elif about_another_patient(resource, child_key):
            reader.current = resource_key(resource)
            reader.note("", "about another patient than the record's child; kept as it came")
            others.append(resource)
        else:
            by_type.setdefault(resource["resourceType"], []).append(resource)
    return Assembly(reader, by_type, others, child_key, status_moves).run()


def references_outside(resources: Resource | Iterable[Resource]) -> set[str]:
    """``Type/id`` of the resources referred to but not among ``resources``: what a store should fetch
    too before assembling a record (the Organizations and Practitioners a child's resources name)."""
    reader = Reader()
    collected = collect(resources, reader)
    present = {resource_key(resource) for resource in collected}
    wanted: set[str] = set()
    for resource in collected:
        for value in reference_holders(resource):
            parts = reference_parts(value)
            if parts and not value["reference"].startswith(("#", "urn:")):
                wanted.add(f"{parts[0]}/{parts[1]}")
    return wanted - present
