"""Provenance for every write: which version, who wrote it, for which organization, when."""

from __future__ import annotations

from collections.abc import Iterable
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
    provenance: dict[str, Any] = {"resourceType": "Provenance"}
    if children:
        provenance["extension"] = [
            {"url": PROVENANCE_PATIENT, "valueReference": {"reference": f"Patient/{child}"}}
            for child in sorted(children)
        ]
    return {
        **provenance,
        "target": [{"reference": f"{version.resource_type}/{version.id}/_history/{version.version_id}"}],
        "recorded": instant(version.last_updated),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": operation}]},
        "agent": [author, transmitter],
    }


__all__ = ["CLIENT_SYSTEM", "agent_reference", "client_reference", "provenance_for"]
