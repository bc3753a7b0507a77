"""Reading records through the search index, each read with its caller's row filter in the query: a
child's whole Patient compartment, and the current resources of one type.

Membership comes from the search index: a resource belongs to ``Patient/id``'s compartment when one of
its compartment parameters references the patient. The parameters are those access control confines a
child's token to (R4 CompartmentDefinition, with Task and Device added), so what ``$everything`` returns
and what a child's token may read are one definition. Resources the compartment
points at (practitioners, organizations, medications, ...) come along, as ``$everything`` requires.

The row filter is made on the connection the read runs on (``Viewer.row_filter(conn)``), after the
index is asked which resources belong: only what the caller may see is ever read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.compartment import compartment_params
from fhirbridge.formats import json as fhir_json
from fhirbridge.references import reference_holders
from fhirbridge.search.criteria import RowFilter, Viewer
from fhirbridge.search.tables import search_reference, search_token
from fhirbridge.storage import schema
from fhirbridge.storage.clock import from_micros, to_micros
from fhirbridge.storage.contract import Resource, StoredVersion


@dataclass(frozen=True)
class IndexedCode:
    """A code as the search index holds it under one token parameter; ``system`` None: in any system."""

    param: str
    code: str
    system: str | None = None


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
    access: Viewer,
    types: Collection[str] | None = None,
    since: datetime | None = None,
    with_referenced: bool = True,
) -> list[StoredVersion]:
    """The patient, every current resource of its compartment, and the resources they reference, of
    those ``access`` lets the caller see (decided in the query: nothing else is ever read)."""
    r, ref = schema.resources, search_reference
    links = conn.execute(
        sa.select(ref.c.resource_pk, ref.c.resource_type, ref.c.param).where(
            ref.c.target_type == "Patient", ref.c.target_id == patient_id
        )
    ).all()
    members_by_type: dict[str, set[int]] = {}
    for row in links:
        if in_plan_compartment(row.resource_type, row.param):
            members_by_type.setdefault(row.resource_type, set()).add(row.resource_pk)
    conditions: list[sa.ColumnElement[bool]] = [r.c.deleted.is_(False)]
    if since is not None:
        conditions.append(r.c.last_updated >= to_micros(since))
    visible = access.row_filter(conn)
    wanted = [
        sa.and_(r.c.resource_type == rtype, r.c.pk.in_(sorted(pks)), *_filtered(visible, rtype))
        for rtype, pks in members_by_type.items()
    ]
    wanted.append(sa.and_(r.c.resource_type == "Patient", r.c.id == patient_id, *_filtered(visible, "Patient")))
    query = sa.select(r).where(sa.or_(*wanted), *conditions)
    members = _versions(conn.execute(query.order_by(r.c.resource_type, r.c.pk)))
    if with_referenced:
        members += _referenced(conn, members, conditions, visible)
    if types:
        members = [member for member in members if member.resource_type in types]
    return members


def current_resources(
    conn: Connection,
    resource_type: str,
    *,
    access: Viewer,
    ids: Collection[str] | None = None,
    code: IndexedCode | None = None,
) -> list[Resource]:
    """Every current resource of a type that ``access`` lets the caller see, in the order they were
    created; ``ids``: only those; ``code``: only those the index holds that code for."""
    r, token = schema.resources, search_token
    conditions: list[Any] = [r.c.resource_type == resource_type, r.c.deleted.is_(False)]
    if code is not None:
        coded = sa.select(token.c.resource_pk).where(
            token.c.resource_type == resource_type,
            token.c.param == code.param,
            *([] if code.system is None else [token.c.system == code.system]),
            token.c.code == code.code,
        )
        conditions.append(r.c.pk.in_(coded))
    if ids is not None:
        conditions.append(r.c.id.in_(sorted(ids)))
    conditions += _filtered(access.row_filter(conn), resource_type)
    query = sa.select(r.c.content).where(*conditions).order_by(r.c.pk)
    return [fhir_json.loads_stored(bytes(content)) for content in conn.execute(query).scalars()]


def _filtered(visible: RowFilter | None, resource_type: str) -> list[Any]:
    return [] if visible is None else [visible(resource_type, schema.resources)]


def _referenced(
    conn: Connection,
    members: list[StoredVersion],
    conditions: list[sa.ColumnElement[bool]],
    visible: RowFilter | None,
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
    by_type: dict[str, list[str]] = {}
    for rtype, id in sorted(wanted):
        by_type.setdefault(rtype, []).append(id)
    alternatives = [
        sa.and_(r.c.resource_type == rtype, r.c.id.in_(ids), *_filtered(visible, rtype))
        for rtype, ids in by_type.items()
    ]
    query = sa.select(r).where(sa.or_(*alternatives), *conditions)
    return _versions(conn.execute(query.order_by(r.c.resource_type, r.c.pk)))


__all__ = ["IndexedCode", "compartment_members", "current_resources", "in_plan_compartment"]
