"""Reading a child's whole Patient compartment in a few indexed queries.

Membership comes from the search index: a resource belongs to ``Patient/id``'s compartment when one of
its compartment parameters references the patient. The parameters are those access control confines a
child's token to (R4 CompartmentDefinition, with Task and Device added), so what ``$everything`` returns
and what a child's token may read are one definition. Resources the compartment
points at (practitioners, organizations, medications, ...) come along, as ``$everything`` requires.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.compartment import compartment_params
from fhirbridge.formats import json as fhir_json
from fhirbridge.references import reference_holders
from fhirbridge.search.tables import search_reference
from fhirbridge.security.access import optional_access
from fhirbridge.storage import schema
from fhirbridge.storage.clock import from_micros, to_micros
from fhirbridge.storage.contract import Resource, StoredVersion


def in_plan_compartment(resource_type: str, param: str) -> bool:
    return param in compartment_params().get(resource_type, {})


def _versions(rows: Iterable[sa.Row[tuple[object, ...]]]) -> list[StoredVersion]:
    return [
        StoredVersion(
            row.resource_type, row.id, row.version_id, from_micros(row.last_updated), False, bytes(row.content)
        )
        for row in rows
    ]


def compartment_members(
    conn: Connection,
    patient_id: str,
    *,
    types: set[str] | None = None,
    since: datetime | None = None,
    with_referenced: bool = True,
) -> list[StoredVersion]:
    """The patient, every current resource of its compartment, and the resources they reference."""
    r, ref = schema.resources, search_reference
    links = conn.execute(
        sa.select(ref.c.resource_pk, ref.c.resource_type, ref.c.param).where(
            ref.c.target_type == "Patient", ref.c.target_id == patient_id
        )
    ).all()
    member_pks = {row.resource_pk for row in links if in_plan_compartment(row.resource_type, row.param)}
    conditions: list[sa.ColumnElement[bool]] = [r.c.deleted.is_(False)]
    if since is not None:
        conditions.append(r.c.last_updated >= to_micros(since))
    query = sa.select(r).where(
        sa.or_(r.c.pk.in_(member_pks), sa.and_(r.c.resource_type == "Patient", r.c.id == patient_id)), *conditions
    )
    members = _versions(conn.execute(query.order_by(r.c.resource_type, r.c.pk)))
    if with_referenced:
        members += _referenced(conn, members, conditions)
    if types:
        members = [member for member in members if member.resource_type in types]
    access = optional_access()
    if access is not None and access.filters_results:
        # Only what the caller may read: a child's record can hold parts a consent does not cover.
        members = [m for m in members if m.content is not None and access.visible(fhir_json.loads_stored(m.content))]
    return members


def _referenced(
    conn: Connection, members: list[StoredVersion], conditions: list[sa.ColumnElement[bool]]
) -> list[StoredVersion]:
    have = {(m.resource_type, m.id) for m in members}
    wanted: set[tuple[str, str]] = set()
    for member in members:
        assert member.content is not None
        for holder in reference_holders(fhir_json.loads_stored(member.content)):
            parts = str(holder["reference"]).split("/")
            if len(parts) == 2 and (parts[0], parts[1]) not in have and parts[0][:1].isupper():
                wanted.add((parts[0], parts[1]))
    if not wanted:
        return []
    r = schema.resources
    pairs = sa.tuple_(r.c.resource_type, r.c.id).in_(sorted(wanted))
    return _versions(conn.execute(sa.select(r).where(pairs, *conditions).order_by(r.c.resource_type, r.c.pk)))


def resources_of(versions: list[StoredVersion]) -> list[Resource]:
    return [fhir_json.loads_stored(v.content) for v in versions if v.content is not None]


__all__ = ["compartment_members", "in_plan_compartment", "resources_of"]
