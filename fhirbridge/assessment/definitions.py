"""The published instruments, code systems, value sets and stratification rules.

They are authored in ``profiles/questionnaires/`` (see ``tools/gen_assessment_data.py``) and packed into
``data/definitions.json`` so the package needs nothing outside itself at run time.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

Resource = dict[str, Any]

BASE = "http://fhirbridge.org/fhir"
ASSESSMENT_URL = f"{BASE}/Questionnaire/pediatric-care-coordination-needs-assessment"
SCREENING_URL = f"{BASE}/Questionnaire/pediatric-care-coordination-screening"
# The youth's readiness to move to adult care (tools/transition_readiness.py); its answers are not a
# needs assessment of the record, they inform the transition plan.
TRANSITION_READINESS_URL = f"{BASE}/Questionnaire/transition-readiness"
TRANSITION_READINESS_CODE_SYSTEM = f"{BASE}/CodeSystem/transition-readiness"
ASSESSMENT_CODE_SYSTEM = f"{BASE}/CodeSystem/care-coordination-assessment"
COMPLEXITY_CODE_SYSTEM = f"{BASE}/CodeSystem/complexity-level"
COMPLEXITY_PROFILE = f"{BASE}/StructureDefinition/fhirbridge-complexity-riskassessment"
DOMAIN_EXTENSION = f"{BASE}/StructureDefinition/assessment-domain"


@cache
def _package() -> dict[str, Any]:
    text = resources.files("fhirbridge.assessment").joinpath("data/definitions.json").read_text("utf-8")
    package: dict[str, Any] = json.loads(text)
    return package


@cache
def _by_url() -> dict[str, Resource]:
    return {resource["url"]: resource for resource in _package()["resources"]}


def definition(url: str) -> Resource | None:
    """A copy of the published Questionnaire, CodeSystem or ValueSet with this canonical URL."""
    found = _by_url().get(url.split("|", 1)[0])
    return copy.deepcopy(found) if found is not None else None


def assessment_questionnaire() -> Resource:
    """The comprehensive pediatric care-coordination needs assessment."""
    return _required(ASSESSMENT_URL)


def screening_questionnaire() -> Resource:
    """The short screening form that decides whether the full assessment is needed."""
    return _required(SCREENING_URL)


def transition_readiness_questionnaire() -> Resource:
    """The youth's transition-readiness questionnaire (pediatric to adult care)."""
    return _required(TRANSITION_READINESS_URL)


def published_questionnaires() -> list[Resource]:
    """Every Questionnaire the package publishes."""
    return [copy.deepcopy(r) for r in _package()["resources"] if r["resourceType"] == "Questionnaire"]


def default_rules() -> dict[str, Any]:
    """The published stratification rules (scoring, levels with review intervals, identified needs)."""
    return copy.deepcopy(_package()["rules"])


@cache
def value_set_codes() -> dict[str, frozenset[tuple[str, str]]]:
    """``(system, code)`` pairs of every published ValueSet, by URL (they are all enumerated)."""
    codes: dict[str, frozenset[tuple[str, str]]] = {}
    for resource in _package()["resources"]:
        if resource["resourceType"] != "ValueSet":
            continue
        pairs = {
            (include["system"], concept["code"])
            for include in resource.get("compose", {}).get("include", [])
            for concept in include.get("concept", [])
        }
        codes[resource["url"]] = frozenset(pairs)
    return codes


def display_of(system: str, code: str) -> str | None:
    """The display of one of our codes, for codings built from the rules file."""
    code_system = _by_url().get(system)
    if code_system is None:
        return None
    for concept in code_system.get("concept", []):
        if concept["code"] == code:
            return str(concept["display"])
    return None


def _required(url: str) -> Resource:
    found = definition(url)
    if found is None:  # pragma: no cover - the packed data is generated with both instruments
        raise LookupError(f"{url} is missing from the packed assessment definitions")
    return found


__all__ = [
    "ASSESSMENT_CODE_SYSTEM",
    "ASSESSMENT_URL",
    "BASE",
    "COMPLEXITY_CODE_SYSTEM",
    "COMPLEXITY_PROFILE",
    "DOMAIN_EXTENSION",
    "SCREENING_URL",
    "TRANSITION_READINESS_CODE_SYSTEM",
    "TRANSITION_READINESS_URL",
    "assessment_questionnaire",
    "default_rules",
    "definition",
    "display_of",
    "published_questionnaires",
    "screening_questionnaire",
    "transition_readiness_questionnaire",
    "value_set_codes",
]
