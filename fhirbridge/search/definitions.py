"""The search parameters fhirbridge supports, generated from the official definitions.

``data/search-parameters.json`` is written by ``tools/gen_search_params.py`` from the R4 core and US
Core 7.0.0 SearchParameters; ``data/compartments.json`` holds the R4 Patient compartment and
``data/elements.json`` the top-level summary and mandatory elements used by ``_summary``/``_elements``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources as package_files
from typing import Any

from fhirbridge.compartment import EXTENDED_COMPARTMENT

# Answered from the ``resources`` table itself, not from an index table.
RESOURCE_COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
SUPPORTED_TYPES = frozenset({"token", "string", "reference", "date", "number", "quantity", "uri", "composite"})
# A composite is indexed when its first component is a token and its second one of these.
COMPOSITE_SECOND = frozenset({"token", "quantity", "date", "string"})


@dataclass(frozen=True)
class SearchParamInfo:
    """One search parameter of one resource type, as the CapabilityStatement advertises it."""

    code: str
    type: str
    expression: str
    url: str
    target: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    # Composite parameters: (code, type, expression relative to each item of ``expression``).
    components: tuple[tuple[str, str, str], ...] = ()

    def to_capability(self) -> dict[str, Any]:
        """The ``CapabilityStatement.rest.resource.searchParam`` entry."""
        return {"name": self.code, "definition": self.url, "type": self.type}


def _load(name: str) -> Any:
    data = package_files.files("fhirbridge.search").joinpath("data").joinpath(name)
    return json.loads(data.read_text("utf-8"))


@cache
def _all_parameters() -> dict[str, dict[str, SearchParamInfo]]:
    raw = _load("search-parameters.json")
    result: dict[str, dict[str, SearchParamInfo]] = {}
    common = {code: _info(code, entry) for code, entry in raw.pop("Resource").items()}
    for resource_type, params in raw.items():
        own = {code: _info(code, entry) for code, entry in params.items() if _supported(entry)}
        result[resource_type] = {**common, **own}
    result["Resource"] = common
    return result


def _supported(entry: dict[str, Any]) -> bool:
    if entry["type"] != "composite":
        return entry["type"] in SUPPORTED_TYPES
    components = entry.get("component", [])
    return len(components) == 2 and components[0]["type"] == "token" and components[1]["type"] in COMPOSITE_SECOND


def _info(code: str, entry: dict[str, Any]) -> SearchParamInfo:
    return SearchParamInfo(
        code=code,
        type=entry["type"],
        expression=entry["expression"],
        url=entry["url"],
        target=tuple(entry.get("target", ())),
        modifiers=tuple(entry.get("modifier", ())),
        comparators=tuple(entry.get("comparator", ())),
        components=tuple((c["code"], c["type"], c["expression"]) for c in entry.get("component", ())),
    )


def searchable_types() -> list[str]:
    """Resource types with their full set of standard parameters."""
    return sorted(t for t in _all_parameters() if t != "Resource")


def parameters_for(resource_type: str | None) -> dict[str, SearchParamInfo]:
    """Parameters of a type; any other type (or a system-wide search) has the common ones only."""
    table = _all_parameters()
    if resource_type is None:
        return table["Resource"]
    return table.get(resource_type, table["Resource"])


def parameter(resource_type: str | None, code: str) -> SearchParamInfo | None:
    return parameters_for(resource_type).get(code)


def supported_parameters(resource_type: str) -> list[SearchParamInfo]:
    """Exactly the parameters a search on ``resource_type`` accepts, for the CapabilityStatement."""
    return sorted(parameters_for(resource_type).values(), key=lambda p: p.code)


# Types R4 leaves out of the Patient compartment although they carry one child's data (a child's
# referrals and action steps are Tasks): resource type -> {search parameter: element paths}.
EXTENDED_PATIENT_COMPARTMENT = EXTENDED_COMPARTMENT


@cache
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Resource type -> the parameters that put a resource into a Patient's compartment."""
    raw: dict[str, list[str]] = _load("compartments.json")["Patient"]
    table = {t: tuple(p for p in params if p != "{def}") for t, params in raw.items()}
    table.update({t: tuple(params) for t, params in EXTENDED_PATIENT_COMPARTMENT.items()})
    return table


def compartment_params(compartment_type: str, resource_type: str) -> tuple[str, ...]:
    if compartment_type != "Patient":
        return ()
    return patient_compartment().get(resource_type, ())


@cache
def element_sets(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary elements, mandatory elements) at the top level of ``resource_type``."""
    raw = _load("elements.json").get(resource_type)
    if raw is None:
        return frozenset({"id", "meta"}), frozenset()
    return frozenset(raw["summary"]), frozenset(raw["mandatory"])


__all__ = [
    "RESOURCE_COLUMN_PARAMS",
    "SearchParamInfo",
    "compartment_params",
    "element_sets",
    "parameter",
    "parameters_for",
    "patient_compartment",
    "searchable_types",
    "supported_parameters",
]
