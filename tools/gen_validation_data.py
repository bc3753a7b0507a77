"""Generate the conformance data the validator reads at run time.

Sources (all under the shared FHIR folder, see its SOURCES.md):
- ``definitions/hl7.fhir.r4.core-4.0.1.tgz``: every StructureDefinition (snapshots), ValueSet, CodeSystem;
- ``definitions/r4-required-bindings.json``: the expanded required bindings of the core resources;
- ``us-core-7.0.0/``: US Core profiles and extensions (differentials), value sets, code systems;
- ``profiles/`` of this repository: fhirbridge's own profiles, value sets and code systems.

Output: ``fhirbridge/validation/data/definitions.json.gz`` with compact snapshots of all
StructureDefinitions (``fhirbridge.validation.snapshot``) and the codes of each value set that some
carried binding names and that can be expanded without a terminology server.

Usage: python tools/gen_validation_data.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhirbridge.validation.snapshot import CORE_PREFIX, compact_element, generate_snapshot  # noqa: E402

OUTPUT = ROOT / "fhirbridge" / "validation" / "data" / "definitions.json.gz"

Resource = dict[str, Any]


def core_package(shared: Path) -> Iterator[Resource]:
    with tarfile.open(shared / "fhir" / "definitions" / "hl7.fhir.r4.core-4.0.1.tgz") as package:
        for member in package.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if not name.endswith(".json") or name.split("-", 1)[0] not in (
                "StructureDefinition",
                "ValueSet",
                "CodeSystem",
            ):
                continue
            handle = package.extractfile(member)
            if handle is not None:
                yield json.load(handle)


def folder(path: Path) -> Iterator[Resource]:
    for file in sorted(path.rglob("*.json")):
        yield json.loads(file.read_text())


def strip_version(url: str) -> str:
    return url.split("|", 1)[0]


class Builder:
    """Collects definitions, then resolves snapshots and value sets."""

    def __init__(self) -> None:
        self.raw: dict[str, Resource] = {}
        self.snapshots: dict[str, list[dict[str, Any]]] = {}
        self.value_sets: dict[str, Resource] = {}
        self.code_systems: dict[str, Resource] = {}
        self.required_codes: dict[str, list[tuple[str, str]]] = {}

    def add(self, resources: Iterable[Resource]) -> None:
        for resource in resources:
            kind = resource.get("resourceType")
            if kind == "StructureDefinition":
                self.raw[resource["url"]] = resource
            elif kind == "ValueSet":
                self.value_sets[resource["url"]] = resource
            elif kind == "CodeSystem":
                self.code_systems[resource["url"]] = resource

    def add_required_bindings(self, path: Path) -> None:
        for bindings in json.loads(path.read_text())["bindings"].values():
            for binding in bindings:
                codes = [(c["system"], c["code"]) for c in binding["codes"]]
                self.required_codes[strip_version(binding["valueSet"])] = codes

    def snapshot(self, url: str) -> list[dict[str, Any]] | None:
        url = strip_version(url)
        if url in self.snapshots:
            return self.snapshots[url]
        definition = self.raw.get(url)
        if definition is None:
            return None
        if "snapshot" in definition:
            elements = [compact_element(e) for e in definition["snapshot"]["element"]]
        else:
            base = self.snapshot(definition["baseDefinition"])
            if base is None:
                # US Core QuestionnaireResponse derives from the SDC profile, which is not among the
                # sources: its own rules then apply over the core resource, without SDC's.
                print(f"note: {url}: base {definition['baseDefinition']} unknown, using the core type")
                base = self.snapshot(CORE_PREFIX + definition["type"])
            if base is None:
                raise KeyError(f"{url}: unknown base {definition['baseDefinition']}")
            elements = generate_snapshot(definition["differential"]["element"], base, self.snapshot)
        self.snapshots[url] = elements
        return elements

    def structure_definitions(self) -> dict[str, Resource]:
        out: dict[str, Resource] = {}
        for url, definition in sorted(self.raw.items()):
            elements = self.snapshot(url)
            if definition.get("kind") == "logical" or elements is None:
                continue
            entry: Resource = {
                "name": definition.get("name"),
                "type": definition["type"],
                "kind": definition["kind"],
                "derivation": definition.get("derivation", "specialization"),
                "abstract": definition.get("abstract", False),
                "elements": elements,
            }
            if "baseDefinition" in definition:
                entry["baseDefinition"] = definition["baseDefinition"]
            if "context" in definition:
                entry["context"] = definition["context"]
            out[url] = entry
        return out

    def expand(self, url: str, seen: frozenset[str] = frozenset()) -> dict[str, list[str]] | None:
        """The codes of a value set by system, or None when it needs a terminology server."""
        url = strip_version(url)
        if url in seen:
            return None
        value_set = self.value_sets.get(url)
        if value_set is None:
            codes = self.required_codes.get(url)
            return _by_system(codes) if codes else None
        compose = value_set.get("compose")
        if not compose:
            return None
        included: dict[str, set[str]] = {}
        for include in compose.get("include", []):
            part = self._include(include, seen | {url})
            if part is None:
                return None
            for system, codes in part.items():
                included.setdefault(system, set()).update(codes)
        for exclude in compose.get("exclude", []):
            part = self._include(exclude, seen | {url})
            for system, codes in (part or {}).items():
                included.get(system, set()).difference_update(codes)
        return {system: sorted(codes) for system, codes in sorted(included.items())}

    def _include(self, include: Resource, seen: frozenset[str]) -> dict[str, set[str]] | None:
        result: dict[str, set[str]] | None = None
        system = include.get("system")
        if system:
            codes = self._system_codes(system, include)
            if codes is None:
                return None
            result = {system: codes}
        for nested in include.get("valueSet", []):
            part = self.expand(nested, seen)
            if part is None:
                return None
            as_sets = {s: set(c) for s, c in part.items()}
            result = as_sets if result is None else _intersect(result, as_sets)
        return result

    def _system_codes(self, system: str, include: Resource) -> set[str] | None:
        if "concept" in include and "filter" not in include:
            return {c["code"] for c in include["concept"]}
        code_system = self.code_systems.get(system)
        if code_system is None or code_system.get("content") != "complete":
            return None
        concepts = list(_flatten(code_system.get("concept", [])))
        filters = include.get("filter", [])
        if not filters:
            return {code for code, _ in concepts}
        codes: set[str] | None = None
        for rule in filters:
            selected = _filter(code_system, rule)
            if selected is None:
                return None
            codes = selected if codes is None else codes & selected
        return codes


def _by_system(codes: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, set[str]] = {}
    for system, code in codes:
        grouped.setdefault(system, set()).add(code)
    return {system: sorted(values) for system, values in grouped.items()}


def _intersect(left: dict[str, set[str]], right: dict[str, set[str]]) -> dict[str, set[str]]:
    return {s: left[s] & right[s] for s in left if s in right}


def _flatten(concepts: list[Resource], ancestors: tuple[str, ...] = ()) -> Iterator[tuple[str, tuple[str, ...]]]:
    for concept in concepts:
        yield concept["code"], ancestors
        yield from _flatten(concept.get("concept", []), (*ancestors, concept["code"]))


def _filter(code_system: Resource, rule: Resource) -> set[str] | None:
    concepts = list(_flatten(code_system.get("concept", [])))
    if rule.get("property") == "concept" and rule.get("op") in ("is-a", "descendent-of"):
        root = rule["value"]
        below = {code for code, ancestors in concepts if root in ancestors}
        return below | {root} if rule["op"] == "is-a" else below
    return None


def bound_value_sets(definitions: dict[str, Resource]) -> set[str]:
    urls: set[str] = set()
    for definition in definitions.values():
        for element in definition["elements"]:
            binding = element.get("binding")
            if binding and binding["strength"] in ("required", "extensible"):
                urls.add(strip_version(binding["valueSet"]))
    return urls


def build(shared: Path) -> Resource:
    builder = Builder()
    builder.add(core_package(shared))
    builder.add_required_bindings(shared / "fhir" / "definitions" / "r4-required-bindings.json")
    builder.add(folder(shared / "fhir" / "us-core-7.0.0"))
    builder.add(folder(ROOT / "profiles"))
    definitions = builder.structure_definitions()
    value_sets = {}
    for url in sorted(bound_value_sets(definitions)):
        codes = builder.expand(url)
        if codes is not None and any(codes.values()):
            value_sets[url] = codes
    return {
        "source": "generated by tools/gen_validation_data.py from hl7.fhir.r4.core 4.0.1, US Core 7.0.0 and profiles/",
        "structureDefinitions": definitions,
        "valueSets": value_sets,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default_shared = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", ROOT / ".." / "shared"))
    parser.add_argument("--shared", type=Path, default=default_shared)
    args = parser.parse_args()
    data = build(args.shared)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    # mtime=0 keeps the file byte-identical between runs on unchanged inputs.
    OUTPUT.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(
        f"{OUTPUT.relative_to(ROOT)}: {len(data['structureDefinitions'])} StructureDefinitions, "
        f"{len(data['valueSets'])} value sets, {OUTPUT.stat().st_size // 1024} KiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
