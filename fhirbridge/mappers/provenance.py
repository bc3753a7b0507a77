"""Who changed the record (Provenance, US Core): one per write, naming every resource written."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fhirbridge.mappers._context import Links
from fhirbridge.mappers._fhir import US_CORE, Resource, codeable, instant_text, narrative

__all__ = ["provenance_for"]

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
PROVENANCE_NAMESPACE = uuid.UUID("0f7c9f3e-2b8d-5c61-a4e7-3d9b2f6a8c15")


def provenance_for(resources: list[Resource], links: Links, *, author_id: str, recorded: datetime) -> Resource:
    """A Provenance naming ``author_id`` (a team member, family member or the child) as the author of a
    write of ``resources``; staff act on behalf of their organization, as US Core asks."""
    author = links.ref(author_id)
    if author is None:
        raise ValueError(f"the author {author_id!r} is not in the record")
    targets = [{"reference": f"{r['resourceType']}/{r['id']}"} for r in resources]
    agent: dict[str, Any] = {"type": codeable(PARTICIPANT_TYPE, "author", "Author"), "who": author}
    organization = _organization_of(author_id, links)
    if organization is not None:
        agent["onBehalfOf"] = organization
    when = instant_text(recorded)
    identity = uuid.uuid5(PROVENANCE_NAMESPACE, f"{links.child_id}|{author_id}|{when}")
    return {
        "resourceType": "Provenance",
        "id": str(identity),
        "meta": {"profile": [f"{US_CORE}/us-core-provenance"]},
        "text": narrative(
            f"Changed by {links.display(author_id)} at {when}",
            [("Resources", [target["reference"] for target in targets])],
        ),
        "target": targets,
        "recorded": when,
        "agent": [agent],
    }


def _organization_of(member_id: str, links: Links) -> dict[str, Any] | None:
    for team in links.record.care_teams:
        for member in team.members:
            if member.id == member_id and member.organization_id:
                return links.ref(member.organization_id)
    return None
