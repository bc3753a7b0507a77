"""The CapabilityStatement, generated from what this server really does."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fhirbridge import FHIR_VERSION, __version__
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.search import supported_parameters
from fhirbridge.storage.clock import instant

TYPE_INTERACTIONS = ("search-type",)
INSTANCE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create")
SYSTEM_INTERACTIONS = ("history-system", "transaction", "batch", "search-system")


HL7 = "http://hl7.org/fhir"
OWN = "http://fhirbridge.org/fhir/OperationDefinition"
BULK_DATA = f"{HL7}/uv/bulkdata"
# (resource type or None for every type, operation name, its definition)
OPERATIONS: tuple[tuple[str | None, str, str], ...] = (
    ("Patient", "everything", f"{HL7}/OperationDefinition/Patient-everything"),
    ("Patient", "summary", f"{HL7}/uv/ips/OperationDefinition/summary"),
    ("Patient", "transfer-summary", f"{OWN}/Patient-transfer-summary"),
    ("Composition", "document", f"{HL7}/OperationDefinition/Composition-document"),
    (None, "validate", f"{HL7}/OperationDefinition/Resource-validate"),
    ("Questionnaire", "populate", f"{HL7}/uv/sdc/OperationDefinition/Questionnaire-populate"),
    ("QuestionnaireResponse", "extract", f"{HL7}/uv/sdc/OperationDefinition/QuestionnaireResponse-extract"),
    ("QuestionnaireResponse", "assess", f"{OWN}/QuestionnaireResponse-assess"),
    ("CarePlan", "overdue-reviews", f"{OWN}/CarePlan-overdue-reviews"),
    ("Task", "open-referrals", f"{OWN}/Task-open-referrals"),
    ("Task", "unanswered-referrals", f"{OWN}/Task-unanswered-referrals"),
    ("Group", "worklist", f"{OWN}/Group-worklist"),
    ("Patient", "coordination-time", f"{OWN}/Patient-coordination-time"),
    ("Practitioner", "coordination-time", f"{OWN}/Practitioner-coordination-time"),
    ("ValueSet", "expand", f"{HL7}/OperationDefinition/ValueSet-expand"),
    ("ValueSet", "validate-code", f"{HL7}/OperationDefinition/ValueSet-validate-code"),
    ("CodeSystem", "validate-code", f"{HL7}/OperationDefinition/CodeSystem-validate-code"),
    ("CodeSystem", "lookup", f"{HL7}/OperationDefinition/CodeSystem-lookup"),
    # Bulk Data Access 2.0 (fhirbridge/bulk, docs/bulk-export.md); the system-level one is in SYSTEM_OPERATIONS.
    ("Patient", "export", f"{BULK_DATA}/OperationDefinition/patient-export"),
    ("Group", "export", f"{BULK_DATA}/OperationDefinition/group-export"),
)
SYSTEM_OPERATIONS = ({"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/export"},)
# The conformance statements this one claims: Bulk Data's, for the export operations above.
INSTANTIATES = (f"{BULK_DATA}/CapabilityStatement/bulk-data",)


def _operations(resource_type: str) -> list[dict[str, str]]:
    return [
        {"name": name, "definition": definition}
        for on, name, definition in OPERATIONS
        if on is None or on == resource_type
    ]


@lru_cache(maxsize=1)
def _includes() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per type: the ``_include`` values it accepts and the ``_revinclude`` values that reach it."""
    includes: dict[str, list[str]] = {}
    revincludes: dict[str, list[str]] = {}
    for resource_type in sorted(resource_types()):
        for param in supported_parameters(resource_type):
            if param.type != "reference":
                continue
            value = f"{resource_type}:{param.code}"
            includes.setdefault(resource_type, []).append(value)
            for target in param.target:
                revincludes.setdefault(target, []).append(value)
    return includes, revincludes


def _without_empty_lists(entry: dict[str, Any]) -> dict[str, Any]:
    # FHIR JSON has no empty arrays: a type with no reference parameters lists no includes at all.
    return {key: value for key, value in entry.items() if value != []}


def capability_statement(base_url: str, *, security: dict[str, Any] | None = None) -> dict[str, Any]:
    resources = [
        _without_empty_lists(
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
                "searchInclude": _includes()[0].get(resource_type, []),
                "searchRevInclude": _includes()[1].get(resource_type, []),
                "searchParam": [param.to_capability() for param in supported_parameters(resource_type)],
                "operation": _operations(resource_type),
            }
        )
        for resource_type in sorted(resource_types())
    ]
    rest: dict[str, Any] = {"mode": "server"}
    if security is not None:
        rest["security"] = security
    rest["resource"] = resources
    rest["interaction"] = [{"code": code} for code in SYSTEM_INTERACTIONS]
    rest["operation"] = list(SYSTEM_OPERATIONS)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(datetime.now(UTC)),
        "publisher": "fhirbridge",
        "kind": "instance",
        "instantiates": list(INSTANTIATES),
        "software": {"name": "fhirbridge", "version": __version__},
        "implementation": {"description": "fhirbridge shared care-plan exchange", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "application/fhir+xml"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [rest],
    }


__all__ = ["capability_statement"]
