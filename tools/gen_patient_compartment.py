"""Generate ``fhirbridge/patient_compartment.json`` from the R4 core package.

For every resource type in the R4 Patient CompartmentDefinition, each of its compartment parameters is
mapped to the element paths (relative to the resource) whose references link a resource to the patient,
taken from the FHIRPath expression of the search parameter of that name. Run from the repository root:

    python tools/gen_patient_compartment.py [path/to/shared]
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT = REPO_ROOT / "fhirbridge" / "patient_compartment.json"
# ``.where(resolve() is Patient)`` and ``.as(Reference)`` narrow the value; the path is what is left.
_NARROWING = re.compile(r"\.(where|as)\([^()]*(\([^()]*\)[^()]*)*\)")


def element_paths(resource_type: str, expression: str) -> list[str]:
    paths = []
    for part in expression.split("|"):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            part = part[1:-1]
        if not part.startswith(f"{resource_type}."):
            continue
        path = _NARROWING.sub("", part)[len(resource_type) + 1 :]
        if not re.fullmatch(r"[A-Za-z]+(\.[A-Za-z]+)*", path):
            raise ValueError(f"cannot reduce {part!r} to an element path")
        paths.append(path)
    return sorted(set(paths))


def main(shared: Path) -> None:
    definitions = shared / "fhir" / "definitions"
    with tarfile.open(definitions / "hl7.fhir.r4.core-4.0.1.tgz") as package:
        member = package.extractfile("package/CompartmentDefinition-patient.json")
        assert member is not None
        compartment = json.load(member)
    search_parameters = json.loads((definitions / "r4-search-parameters.json").read_text())
    expressions: dict[tuple[str, str], str] = {}
    for entry in search_parameters["entry"]:
        parameter = entry["resource"]
        for base in parameter.get("base", []):
            if parameter.get("expression"):
                expressions[(base, parameter["code"])] = parameter["expression"]
    table: dict[str, dict[str, list[str]]] = {}
    for resource in compartment["resource"]:
        params = [p for p in resource.get("param", []) if p != "{def}"]
        if not params:
            continue
        resource_type = resource["code"]
        table[resource_type] = {
            param: element_paths(resource_type, expressions[(resource_type, param)]) for param in params
        }
    OUTPUT.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT} ({len(table)} resource types)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT.parent / "shared")
