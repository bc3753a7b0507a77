"""Search under access control: the caller's row filter is part of the SQL of every search.

Matches, totals, paging links, ``_include``/``_revinclude`` and the targets of chained and ``_has``
parameters are all computed over the rows the policy lets the caller see (``Access.row_filter``), so
nothing it may not see shows through a count, a link or the existence of a match. A caller confined to
one child (a ``patient`` context) also searches that child's compartment, which lets the index drive
the query.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from fhirbridge.compartment import compartment_patients, compartment_search_constraint
from fhirbridge.errors import Forbidden
from fhirbridge.formats import json as fhir_json
from fhirbridge.search import SearchResult
from fhirbridge.security.access import Access
from fhirbridge.security.scopes import granting_contexts

log = logging.getLogger("fhirbridge.security")


def search_params_for(
    access: Access,
    resource_type: str | None,
    params: list[tuple[str, str]],
    compartment: tuple[str, str] | None,
) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """The parameters and compartment a caller's search runs with; refuses what it may not ask."""
    principal = access.principal
    if principal is None:
        return params, compartment
    if resource_type is None:
        raise Forbidden("Searching across all resource types is open only to unrestricted callers")
    access.require(resource_type, "s")
    if granting_contexts(principal.scopes, resource_type, "s") - {"patient"}:
        return params, compartment
    assert principal.patient is not None  # require() grants patient/ scopes only with a patient
    try:
        constraint = compartment_search_constraint(resource_type, principal.patient)
    except LookupError:
        raise Forbidden(f"{resource_type} is outside the compartment of the patient in the access token") from None
    if constraint is None:
        return params, compartment
    if compartment is not None and compartment != ("Patient", constraint.patient_id):
        # Another child's compartment holds nothing this caller may see: an empty search, not an error
        # that would tell the child exists.
        return [*params, ("_id", "")], compartment
    if resource_type == "Patient":
        return [*params, ("_id", constraint.patient_id)], compartment
    return params, ("Patient", constraint.patient_id)


def checked_result(access: Access, result: SearchResult) -> SearchResult:
    """Defence in depth: the Python policy re-checks what the SQL filter let through.

    They are two statements of one policy (tests/security/test_differential.py proves they agree); if
    they ever disagree, the entry is withheld, the total dropped, and the disagreement logged."""
    if not access.filters_results:
        return result
    contents = [fhir_json.loads_stored(entry.content) for entry in result.entries]
    entries = [entry for entry, content in zip(result.entries, contents, strict=True) if access.visible(content)]
    for content in contents:
        access.note_children(compartment_patients(content))
    if len(entries) == len(result.entries):
        return result
    log.error("the search filter let through %d entries the access policy refuses", len(result.entries) - len(entries))
    return replace(result, entries=entries, total=None, next_cursor=None, previous_cursor=None)


__all__ = ["checked_result", "search_params_for"]
