"""Generate the FHIR R4 type metadata that the XML format needs.

Reads the StructureDefinitions of the official ``hl7.fhir.r4.core`` 4.0.1 package and writes
``fhirbridge/formats/data/fhir_types.json.gz``: for every resource, data type and inline (backbone)
element, its elements in definition order, each with its JSON name, its type, whether it repeats, how
XML carries it (child element, XML attribute or embedded XHTML) and whether it is required (min 1, for
the structure check on write). Choice elements (``value[x]``) are expanded into one entry per allowed
type (``valueString``, ``valueQuantity``, ...), all at the position of the choice.
``contentReference`` elements point at the inline type they reuse.

Usage, from the repository root::

    python tools/gen_fhir_types.py [path/to/hl7.fhir.r4.core-4.0.1.tgz]
"""

from __future__ import annotations

import gzip
import json
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACKAGE = REPO_ROOT / ".." / "shared" / "fhir" / "definitions" / "hl7.fhir.r4.core-4.0.1.tgz"
OUTPUT = REPO_ROOT / "fhirbridge" / "formats" / "data" / "fhir_types.json.gz"

FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
# How each FHIRPath system type of a primitive's value is written in JSON.
JSON_KIND_OF_SYSTEM_TYPE = {"Boolean": "boolean", "Integer": "integer", "Decimal": "decimal"}
# Abstract bases: never the root of a document, never expanded as element types.
ABSTRACT_RESOURCES = {"Resource", "DomainResource"}

# Element "how" flags in the generated table.
CHILD, ATTRIBUTE, XHTML = 0, 1, 2


def base_definitions(package: Path) -> Iterator[dict[str, Any]]:
    """The StructureDefinitions that define a type (not profiles of one)."""
    with tarfile.open(package) as archive:
        for member in archive.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if not (name.startswith("StructureDefinition-") and name.endswith(".json")):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            definition = json.load(handle)
            # Resource and Element are the roots (no derivation); the rest specialise them.
            if definition.get("derivation", "specialization") == "specialization" and definition.get("kind") in (
                "resource",
                "complex-type",
                "primitive-type",
            ):
                yield definition


def type_code(element_type: dict[str, Any]) -> str:
    code: str = element_type["code"]
    if not code.startswith(SYSTEM_PREFIX):
        return code
    for extension in element_type.get("extension", ()):
        if extension.get("url") == FHIR_TYPE_EXTENSION:
            return str(extension["valueUrl"])
    return code.removeprefix(SYSTEM_PREFIX).lower()


def primitive_json_kind(definition: dict[str, Any]) -> str:
    for element in definition["snapshot"]["element"]:
        if element["path"].endswith(".value"):
            system_type = element["type"][0]["code"].removeprefix(SYSTEM_PREFIX)
            return JSON_KIND_OF_SYSTEM_TYPE.get(system_type, "string")
    return "string"


def element_tables(definition: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """One table per type this definition declares: the type itself and each inline element type."""
    elements = [e for e in definition["snapshot"]["element"] if "sliceName" not in e]
    paths_with_children = {e["path"].rsplit(".", 1)[0] for e in elements if "." in e["path"]}
    tables: dict[str, list[list[Any]]] = {}
    for element in elements:
        path: str = element["path"]
        if "." not in path:
            tables.setdefault(path, [])
            continue
        parent, name = path.rsplit(".", 1)
        repeats = 0 if element.get("max") in ("0", "1") else 1
        required = 1 if element.get("min", 0) >= 1 else 0
        representation = element.get("representation", ())
        how = ATTRIBUTE if "xmlAttr" in representation else CHILD
        table = tables.setdefault(parent, [])
        # The choices of one ``[x]`` share its position: XML orders them as the one element they are.
        position = len({row[4] for row in table})
        if "contentReference" in element:
            table.append([name, element["contentReference"].lstrip("#"), repeats, how, position, required])
        elif path in paths_with_children:
            table.append([name, path, repeats, how, position, required])
        elif name.endswith("[x]"):
            stem = name[:-3]
            for element_type in element["type"]:
                code = type_code(element_type)
                table.append([stem + code[0].upper() + code[1:], code, repeats, how, position, required])
        else:
            code = type_code(element["type"][0])
            table.append([name, code, repeats, XHTML if code == "xhtml" else how, position, required])
    return tables


def build(package: Path) -> dict[str, Any]:
    primitives: dict[str, str] = {}
    primitive_bases: dict[str, str] = {}
    resources: list[str] = []
    types: dict[str, list[list[Any]]] = {}
    for definition in base_definitions(package):
        name = definition["type"]
        if definition["kind"] == "primitive-type":
            primitives[name] = primitive_json_kind(definition)
            primitive_bases[name] = definition.get("baseDefinition", "").rsplit("/", 1)[-1]
            continue
        if definition["kind"] == "resource" and name not in ABSTRACT_RESOURCES:
            resources.append(name)
        types.update(element_tables(definition))
    # R4 declares the value of positiveInt and unsignedInt as System.String, yet the JSON format writes
    # them as numbers like their base, integer: a primitive without a kind of its own takes its base's.
    for name, base in primitive_bases.items():
        if primitives[name] == "string" and primitives.get(base, "string") != "string":
            primitives[name] = primitives[base]
    return {
        "fhirVersion": "4.0.1",
        "primitives": dict(sorted(primitives.items())),
        "resources": sorted(resources),
        "types": dict(sorted(types.items())),
    }


def main(argv: list[str]) -> int:
    package = Path(argv[1]) if len(argv) > 1 else DEFAULT_PACKAGE
    metadata = build(package)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(metadata, separators=(",", ":"), sort_keys=False).encode()
    # mtime=0 keeps the file byte-identical across runs, so regenerating shows no spurious diff.
    OUTPUT.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))
    print(f"{OUTPUT.relative_to(REPO_ROOT)}: {len(metadata['types'])} types, {len(text)} bytes of JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
