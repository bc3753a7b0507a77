"""Search under access control: confined callers search only their child's compartment, every entry
(matches and includes) is checked, and nothing a caller may not see shows through counts or chains.

- A caller confined to one child (a ``patient`` context) searches that child's compartment in SQL, so
  paging and totals count only the child's resources.
- A caller that sees data through a Consent (payer, school) gets each entry checked against the
  consent; totals are left out, as they would count what it may not see, and chained and ``_has``
  parameters are refused, as they would test what it may not see.
"""

from __future__ import annotations

from dataclasses import replace

from fhirbridge.errors import Forbidden
from fhirbridge.formats import json as fhir_json
from fhirbridge.search import SearchResult
from fhirbridge.security.access import Access


def is_chained(name: str) -> bool:
    """``_has:...`` and chains such as ``subject:Patient.name`` or ``patient.identifier``."""
    return name.startswith("_has") or "." in name


def search_params_for(
    access: Access,
    resource_type: str | None,
    params: list[tuple[str, str]],
    compartment: tuple[str, str] | None,
) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """The parameters and compartment a caller's search runs with; refuses what it may not ask."""
    if access.unrestricted:
        return params, compartment
    if resource_type is None:
        raise Forbidden("Searching across all resource types is open only to unrestricted callers")
    constraint = access.compartment_constraint(resource_type)  # Forbidden when it may not search the type
    principal = access.principal
    if principal is not None and principal.consent_required:
        for name, _ in params:
            if is_chained(name):
                raise Forbidden(
                    f"Chained and _has searches ({name}) are not open to callers whose access rests on consent",
                    expression=name,
                )
    if constraint is None:
        return params, compartment
    if compartment is not None and compartment != ("Patient", constraint.patient_id):
        raise Forbidden("The access token is confined to another patient's compartment")
    if resource_type == "Patient":
        return [*params, ("_id", constraint.patient_id)], compartment
    return params, ("Patient", constraint.patient_id)


def filter_result(access: Access, result: SearchResult) -> SearchResult:
    """Drop every entry the caller may not read; without a compartment in SQL, drop the total too."""
    if not access.filters_results:
        return result
    entries = [entry for entry in result.entries if access.visible(fhir_json.loads_stored(entry.content))]
    principal = access.principal
    total = result.total if principal is not None and not principal.consent_required else None
    if len(entries) != len(result.entries):
        total = None
    return replace(result, entries=entries, total=total)


__all__ = ["filter_result", "is_chained", "search_params_for"]
