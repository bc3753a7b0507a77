"""The CapabilityStatement, generated from what this server really does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhirbridge import FHIR_VERSION, __version__
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.search import supported_parameters
from fhirbridge.storage.clock import instant

TYPE_INTERACTIONS = ("search-type",)
INSTANCE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create")
SYSTEM_INTERACTIONS = ("history-system", "transaction", "batch", "search-system")


def capability_statement(base_url: str, *, security: dict[str, Any] | None = None) -> dict[str, Any]:
    resources = [
        {
            "type": resource_type,
            "interaction": [{"code": code} for code in INSTANCE_INTERACTIONS + TYPE_INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "searchInclude": ["*"],
            "searchRevInclude": ["*"],
            "searchParam": [param.to_capability() for param in supported_parameters(resource_type)],
        }
        for resource_type in sorted(resource_types())
    ]
    rest: dict[str, Any] = {"mode": "server"}
    if security is not None:
        rest["security"] = security
    rest["resource"] = resources
    rest["interaction"] = [{"code": code} for code in SYSTEM_INTERACTIONS]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(datetime.now(UTC)),
        "publisher": "fhirbridge",
        "kind": "instance",
        "software": {"name": "fhirbridge", "version": __version__},
        "implementation": {"description": "fhirbridge shared care-plan exchange", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "application/fhir+xml"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [rest],
    }


__all__ = ["capability_statement"]
