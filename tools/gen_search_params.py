"""Generate the search parameter data shipped in ``fhirbridge/search/data/``.

Reads the official R4 SearchParameters (``definitions/r4-search-parameters.json``), the US Core 7.0.0
ones (``us-core-7.0.0/searchparameter-*.json``) and, from the R4 core package, the Patient
CompartmentDefinition and the StructureDefinitions (for ``_summary`` and ``_elements``). Writes:

- ``search-parameters.json``: per resource type, per code: type, FHIRPath expression (only the union
  branches of that type), reference targets, modifiers, comparators, composite components.
- ``compartments.json``: the Patient compartment (resource type -> parameter codes).
- ``elements.json``: per resource type, the top-level summary elements and the mandatory ones.

Usage: ``python tools/gen_search_params.py [--shared DIR]`` (default ``../shared`` beside the repo).
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "fhirbridge" / "search" / "data"

# The resource types the project serves with full search, plus those US Core profiles and that
# chained searches commonly reach.
RESOURCE_TYPES = sorted(
    {
        "AllergyIntolerance",
        "AuditEvent",
        "CarePlan",
        "CareTeam",
        "CodeSystem",
        "Composition",
        "Condition",
        "Consent",
        "Coverage",
        "Device",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
        "Endpoint",
        "Goal",
        "Group",
        "HealthcareService",
        "Immunization",
        "List",
        "Location",
        "Medication",
        "MedicationDispense",
        "MedicationRequest",
        "Observation",
        "Organization",
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Procedure",
        "Provenance",
        "Questionnaire",
        "QuestionnaireResponse",
        "RelatedPerson",
        "RiskAssessment",
        "ServiceRequest",
        "Specimen",
        "Subscription",
        "Task",
        "ValueSet",
    }
)

# Parameters on every resource type that are answered from the index (``_id`` and ``_lastUpdated``
# are answered from the resource table itself but are listed here so they are advertised).
COMMON_CODES = ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source")

MODIFIERS = {
    "token": ["missing", "not", "text", "of-type", "in", "not-in", "above", "below"],
    "string": ["missing", "exact", "contains"],
    "reference": ["missing", "type", "identifier"],
    "date": ["missing"],
    "number": ["missing"],
    "quantity": ["missing"],
    "uri": ["missing", "below", "above"],
    "composite": ["missing"],
}
SUPPORTED_TOKEN_MODIFIERS = ["missing", "not", "text", "of-type"]
COMPARATORS = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


def split_union(expression: str) -> list[str]:
    """Top-level ``|`` branches of a FHIRPath expression (ignoring those inside brackets or quotes)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current = ""
    for char in expression:
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        if char == "|" and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def branch_root(branch: str) -> str:
    text = branch.lstrip("(")
    for end, char in enumerate(text):
        if not (char.isalnum() or char == "_"):
            return text[:end]
    return text


def expression_for(expression: str | None, resource_type: str) -> str | None:
    if not expression:
        return None
    branches = [b for b in split_union(expression) if branch_root(b) in (resource_type, "Resource", "DomainResource")]
    return " | ".join(branches) if branches else None


def parameter_entry(sp: dict[str, Any], resource_type: str, by_url: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    kind = sp["type"]
    if kind == "special":
        return None
    expression = expression_for(sp.get("expression"), resource_type)
    if expression is None:
        return None
    entry: dict[str, Any] = {"type": kind, "expression": expression, "url": sp["url"]}
    if sp.get("target"):
        entry["target"] = sorted(sp["target"])
    modifiers = SUPPORTED_TOKEN_MODIFIERS if kind == "token" else MODIFIERS.get(kind, ["missing"])
    if kind == "reference":
        modifiers = ["missing", "type", "identifier"]
    entry["modifier"] = modifiers
    if kind in ("date", "number", "quantity"):
        entry["comparator"] = COMPARATORS
    if kind == "composite":
        components = []
        for component in sp.get("component", []):
            definition = by_url.get(component["definition"])
            if definition is None:
                return None
            components.append(
                {
                    "code": definition["code"],
                    "type": definition["type"],
                    "expression": component["expression"],
                }
            )
        entry["component"] = components
    return entry


def load_parameters(shared: Path) -> dict[str, dict[str, Any]]:
    bundle = json.loads((shared / "fhir/definitions/r4-search-parameters.json").read_text())
    core = [e["resource"] for e in bundle["entry"]]
    us_core = [
        json.loads(p.read_text()) for p in sorted((shared / "fhir/us-core-7.0.0").glob("searchparameter-*.json"))
    ]
    by_url = {sp["url"]: sp for sp in core + us_core}
    result: dict[str, dict[str, Any]] = {}
    for resource_type in [*RESOURCE_TYPES, "Resource"]:
        params: dict[str, Any] = {}
        # Core first; a US Core parameter only adds codes core lacks (its shared codes restate core).
        for sp in core + us_core:
            bases = sp.get("base", [])
            if resource_type not in bases and not (resource_type == "Resource" and "Resource" in bases):
                continue
            if sp["code"] in params:
                continue
            entry = parameter_entry(sp, resource_type, by_url)
            if entry is not None:
                params[sp["code"]] = entry
        result[resource_type] = dict(sorted(params.items()))
    result["Resource"] = {c: e for c, e in result["Resource"].items() if c in COMMON_CODES}
    return result


def read_package(shared: Path) -> dict[str, Any]:
    wanted = {f"package/StructureDefinition-{t}.json" for t in RESOURCE_TYPES}
    wanted.add("package/CompartmentDefinition-patient.json")
    found: dict[str, Any] = {}
    with tarfile.open(shared / "fhir/definitions/hl7.fhir.r4.core-4.0.1.tgz") as archive:
        for member in archive:
            if member.name in wanted:
                handle = archive.extractfile(member)
                assert handle is not None
                found[member.name] = json.loads(handle.read())
    return found


def patient_compartment(package: dict[str, Any]) -> dict[str, list[str]]:
    definition = package["package/CompartmentDefinition-patient.json"]
    return {
        r["code"]: sorted(r["param"]) for r in definition["resource"] if r.get("param") and r["code"] in RESOURCE_TYPES
    }


def top_level_elements(package: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    result: dict[str, dict[str, list[str]]] = {}
    for resource_type in RESOURCE_TYPES:
        sd = package[f"package/StructureDefinition-{resource_type}.json"]
        summary: list[str] = []
        mandatory: list[str] = []
        for element in sd["snapshot"]["element"]:
            path = element["path"].split(".")
            if len(path) != 2:
                continue
            name = path[1]
            if element.get("isSummary"):
                summary.append(name)
            if element.get("min", 0) > 0:
                mandatory.append(name)
        result[resource_type] = {"summary": summary, "mandatory": mandatory}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default_shared = os.environ.get("FHIRBRIDGE_SHARED_DIR", str(REPO / ".." / "shared"))
    parser.add_argument("--shared", type=Path, default=Path(default_shared))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    package = read_package(args.shared)
    outputs = {
        "search-parameters.json": load_parameters(args.shared),
        "compartments.json": {"Patient": patient_compartment(package)},
        "elements.json": top_level_elements(package),
    }
    for name, data in outputs.items():
        (OUT / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {OUT / name} ({(OUT / name).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
