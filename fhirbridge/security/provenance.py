"""Provenance for every write: which version, who wrote it, for which organization, when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhirbridge.compartment import PROVENANCE_PATIENT
from fhirbridge.security.principal import Principal
from fhirbridge.storage.clock import instant
from fhirbridge.storage.contract import StoredVersion

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
CLIENT_SYSTEM = "urn:fhirbridge:oauth-client"
ACTIVITY = {"POST": "CREATE", "PUT": "UPDATE", "PATCH": "UPDATE", "DELETE": "DELETE"}


def client_reference(principal: Principal) -> dict[str, Any]:
    """The OAuth client, as a logical reference (a client is not a resource on this server)."""
    return {"identifier": {"system": CLIENT_SYSTEM, "value": principal.client_id}, "display": principal.client_id}


def agent_reference(principal: Principal) -> dict[str, Any]:
    """The user behind the token when the token names one, else the client."""
    if principal.fhir_user:
        return {"reference": principal.fhir_user}
    return client_reference(principal)


def provenance_for(
    version: StoredVersion, principal: Principal, *, created: bool = False, children: Iterable[str] = ()
) -> dict[str, Any]:
    """A Provenance targeting exactly the version just written, naming the children it is about."""
    operation = "CREATE" if created else ACTIVITY.get(version.method, "UPDATE")
    author: dict[str, Any] = {
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]},
        "who": agent_reference(principal),
    }
    if principal.organization and principal.organization != principal.fhir_user:
        author["onBehalfOf"] = {"reference": principal.organization}
    transmitter = {
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "transmitter"}]},
        "who": client_reference(principal),
    }
    return _provenance(version, operation, [author, transmitter], children)


@dataclass(frozen=True)
class Attribution:
    """Whom the server's own work is attributed to when it is to be (an import): who ran it, with which
    tool, from which sources (URIs, e.g. ``file:///data/export/Goal.ndjson``)."""

    operator: str
    tool: str
    sources: tuple[str, ...] = ()


OPERATOR_SYSTEM = "urn:fhirbridge:operator"
SERVER_SYSTEM = "urn:fhirbridge:server"


def attributed_provenance(
    version: StoredVersion, attribution: Attribution, *, created: bool = False, children: Iterable[str] = ()
) -> dict[str, Any]:
    """The Provenance of a version written by system work that is attributed: its operator the author (a
    ``Type/id`` reference, else a logical one), the tool the assembler, each source an entity."""
    operation = "CREATE" if created else ACTIVITY.get(version.method, "UPDATE")
    operator: dict[str, Any] = (
        {"reference": attribution.operator}
        if "/" in attribution.operator
        else {"identifier": {"system": OPERATOR_SYSTEM, "value": attribution.operator}, "display": attribution.operator}
    )
    tool = {"identifier": {"system": SERVER_SYSTEM, "value": attribution.tool}, "display": attribution.tool}
    agents: list[dict[str, Any]] = [
        {"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]}, "who": operator},
        {"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "assembler"}]}, "who": tool},
    ]
    provenance = _provenance(version, operation, agents, children)
    if attribution.sources:
        provenance["entity"] = [
            {"role": "source", "what": {"identifier": {"system": "urn:ietf:rfc:3986", "value": source}}}
            for source in attribution.sources
        ]
    return provenance


# The server itself, as the author of what it writes because of another write.
SERVER_AGENT = {"identifier": {"system": "urn:fhirbridge:server", "value": "fhirbridge"}, "display": "fhirbridge"}


def server_provenance(version: StoredVersion, *, cause: StoredVersion, children: Iterable[str]) -> dict[str, Any]:
    """The Provenance of a version the server wrote itself because of another write (``cause``)."""
    author = {"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]}, "who": SERVER_AGENT}
    provenance = _provenance(version, "UPDATE", [author], children)
    provenance["entity"] = [{"role": "source", "what": {"reference": _version_reference(cause)}}]
    return provenance


def _provenance(
    version: StoredVersion, operation: str, agents: list[dict[str, Any]], children: Iterable[str]
) -> dict[str, Any]:
    """A Provenance targeting exactly ``version``, naming the children it is about (which puts it in their
    compartment: it is shared as their record is)."""
    provenance: dict[str, Any] = {"resourceType": "Provenance"}
    if children:
        provenance["extension"] = [
            {"url": PROVENANCE_PATIENT, "valueReference": {"reference": f"Patient/{child}"}}
            for child in sorted(children)
        ]
    return {
        **provenance,
        "target": [{"reference": _version_reference(version)}],
        "recorded": instant(version.last_updated),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": operation}]},
        "agent": agents,
    }


def _version_reference(version: StoredVersion) -> str:
    return f"{version.resource_type}/{version.id}/_history/{version.version_id}"


__all__ = [
    "CLIENT_SYSTEM",
    "OPERATOR_SYSTEM",
    "SERVER_AGENT",
    "Attribution",
    "agent_reference",
    "attributed_provenance",
    "client_reference",
    "provenance_for",
    "server_provenance",
]
