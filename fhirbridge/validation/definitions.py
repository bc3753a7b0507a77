"""The conformance knowledge the validator uses: StructureDefinitions as element trees, value sets.

Definitions come from the generated package data (``data/definitions.json.gz``, see
``tools/gen_validation_data.py``); more can be registered at run time (a partner's profile), in which
case a differential-only definition gets its snapshot generated over its base.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from fhirbridge.validation.snapshot import CORE_PREFIX, compact_element, generate_snapshot

DATA_FILE = "definitions.json.gz"


@dataclass(frozen=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constraint:
    key: str
    severity: str
    human: str
    expression: str
    source: str


@dataclass(frozen=True)
class Slicing:
    discriminators: tuple[tuple[str, str], ...]
    rules: str
    ordered: bool


@dataclass
class ElementNode:
    """One element of a snapshot with its children (by name) and its slices (by slice name)."""

    id: str
    path: str
    name: str
    min: int
    max: int | None
    types: tuple[TypeRef, ...]
    fixed: tuple[str, Any] | None = None
    pattern: tuple[str, Any] | None = None
    binding: tuple[str, str] | None = None
    constraints: tuple[Constraint, ...] = ()
    slicing: Slicing | None = None
    slice_name: str | None = None
    content_reference: str | None = None
    max_length: int | None = None
    min_value: Any = None
    max_value: Any = None
    children: dict[str, ElementNode] = field(default_factory=dict)
    slices: dict[str, ElementNode] = field(default_factory=dict)

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    @property
    def type_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)


@dataclass
class StructureDefinition:
    url: str
    name: str
    type: str
    kind: str
    derivation: str
    abstract: bool
    base_definition: str | None
    context: tuple[dict[str, Any], ...]
    elements: list[dict[str, Any]]
    _root: ElementNode | None = None

    @property
    def root(self) -> ElementNode:
        if self._root is None:
            self._root = build_tree(self.elements, self.url)
        return self._root

    @property
    def is_profile(self) -> bool:
        return self.derivation == "constraint"


def build_tree(elements: list[dict[str, Any]], source: str) -> ElementNode:
    nodes: dict[str, ElementNode] = {}
    root: ElementNode | None = None
    for element in elements:
        node = _node(element, source)
        nodes[node.id] = node
        if root is None:
            root = node
            continue
        parent_id, _, last = node.id.rpartition(".")
        name, _, slice_name = last.partition(":")
        if slice_name:
            sliced = nodes.get(f"{parent_id}.{name}")
            if sliced is not None:
                sliced.slices[slice_name] = node
        else:
            parent = nodes.get(parent_id)
            if parent is not None:
                parent.children[name] = node
    if root is None:
        raise ValueError(f"{source}: no elements")
    return root


def _node(element: dict[str, Any], source: str) -> ElementNode:
    element_id = element["id"]
    last = element_id.rsplit(".", 1)[-1]
    name = last.split(":", 1)[0]
    fixed = pattern = None
    min_value = max_value = None
    for key, value in element.items():
        if key.startswith("fixed"):
            fixed = (key[5:], value)
        elif key.startswith("pattern"):
            pattern = (key[7:], value)
        elif key.startswith("minValue"):
            min_value = value
        elif key.startswith("maxValue"):
            max_value = value
    binding = element.get("binding")
    slicing = element.get("slicing")
    maximum = element.get("max", "*")
    return ElementNode(
        id=element_id,
        path=element.get("path", element_id),
        name=name,
        min=int(element.get("min", 0)),
        max=None if maximum == "*" else int(maximum),
        types=tuple(
            TypeRef(t["code"], tuple(t.get("profile", ())), tuple(t.get("targetProfile", ())))
            for t in element.get("type", ())
        ),
        fixed=fixed,
        pattern=pattern,
        binding=(binding["strength"], binding["valueSet"].split("|", 1)[0]) if binding else None,
        constraints=tuple(
            Constraint(c["key"], c.get("severity", "error"), c.get("human", ""), c["expression"], source)
            for c in element.get("constraint", ())
        ),
        slicing=Slicing(
            tuple((d["type"], d["path"]) for d in slicing.get("discriminator", ())),
            slicing.get("rules", "open"),
            bool(slicing.get("ordered", False)),
        )
        if slicing
        else None,
        slice_name=element.get("sliceName"),
        content_reference=element.get("contentReference"),
        max_length=element.get("maxLength"),
        min_value=min_value,
        max_value=max_value,
    )


class Definitions:
    """StructureDefinitions by canonical URL and value-set codes, with the tree of each built once."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._raw: dict[str, dict[str, Any]] = dict(data["structureDefinitions"])
        self._definitions: dict[str, StructureDefinition] = {}
        self.value_sets: dict[str, dict[str, frozenset[str]]] = {
            url: {system: frozenset(codes) for system, codes in by_system.items()}
            for url, by_system in data["valueSets"].items()
        }

    def get(self, url: str) -> StructureDefinition | None:
        url = url.split("|", 1)[0]
        definition = self._definitions.get(url)
        if definition is None:
            raw = self._raw.get(url)
            if raw is None:
                return None
            definition = StructureDefinition(
                url=url,
                name=raw.get("name") or url,
                type=raw["type"],
                kind=raw["kind"],
                derivation=raw.get("derivation", "specialization"),
                abstract=bool(raw.get("abstract", False)),
                base_definition=raw.get("baseDefinition"),
                context=tuple(raw.get("context", ())),
                elements=raw["elements"],
            )
            self._definitions[url] = definition
        return definition

    def base_type(self, type_name: str) -> StructureDefinition | None:
        return self.get(CORE_PREFIX + type_name)

    def snapshot(self, url: str) -> list[dict[str, Any]] | None:
        definition = self.get(url)
        return definition.elements if definition else None

    def type_of(self, url: str) -> str | None:
        definition = self.get(url)
        return definition.type if definition else None

    def derives_from(self, url: str, ancestor: str) -> bool:
        """Whether the profile ``url`` is ``ancestor`` or constrains it, directly or not."""
        seen: set[str] = set()
        current: str | None = url.split("|", 1)[0]
        while current and current not in seen:
            if current == ancestor.split("|", 1)[0]:
                return True
            seen.add(current)
            definition = self.get(current)
            current = definition.base_definition if definition else None
        return False

    def extended(self, resources_: Iterable[Any]) -> Definitions:
        """A copy of these definitions with ``resources_`` registered; this one is left unchanged."""
        clone = Definitions.__new__(Definitions)
        clone._raw = dict(self._raw)
        clone._definitions = dict(self._definitions)
        clone.value_sets = dict(self.value_sets)
        clone.add(resources_)
        return clone

    def add(self, resources_: Iterable[Any]) -> None:
        """Register StructureDefinitions and ValueSets (e.g. a partner's profiles)."""
        resources_ = [r for r in resources_ if isinstance(r, dict)]
        pending = [r for r in resources_ if r.get("resourceType") == "StructureDefinition" and "url" in r]
        for value_set in (r for r in resources_ if r.get("resourceType") == "ValueSet"):
            codes = _enumerated_codes(value_set)
            if codes is not None and "url" in value_set:
                self.value_sets[value_set["url"]] = codes
        by_url = {r["url"]: r for r in pending}
        for url in by_url:
            self._register(url, by_url, set())

    def _register(self, url: str, pending: dict[str, dict[str, Any]], busy: set[str]) -> None:
        definition = pending[url]
        if url in busy or (url in self._raw and self._raw[url].get("_registered")):
            return
        busy.add(url)
        if "snapshot" in definition and definition["snapshot"].get("element"):
            elements = [compact_element(e) for e in definition["snapshot"]["element"]]
        else:
            base_url = str(definition.get("baseDefinition", "")).split("|", 1)[0]
            if base_url in pending:
                self._register(base_url, pending, busy)
            base = self.snapshot(base_url) or self.snapshot(CORE_PREFIX + definition["type"])
            if base is None:
                return
            try:
                elements = generate_snapshot(definition["differential"]["element"], base, self.snapshot)
            except (KeyError, TypeError, ValueError, IndexError):
                # A differential this generator cannot apply leaves the profile unknown, which the
                # validator reports, rather than half-applied.
                return
        self._raw[url] = {
            "name": definition.get("name"),
            "type": definition["type"],
            "kind": definition.get("kind", "resource"),
            "derivation": definition.get("derivation", "constraint"),
            "abstract": definition.get("abstract", False),
            "baseDefinition": definition.get("baseDefinition"),
            "context": definition.get("context", []),
            "elements": elements,
            "_registered": True,
        }
        self._definitions.pop(url, None)


def _enumerated_codes(value_set: dict[str, Any]) -> dict[str, frozenset[str]] | None:
    """Codes of a value set that lists them (expansion or enumerated compose); None otherwise."""
    grouped: dict[str, set[str]] = {}
    expansion = value_set.get("expansion", {}).get("contains")
    if expansion:
        for entry in expansion:
            grouped.setdefault(entry.get("system", ""), set()).add(entry["code"])
    else:
        for include in value_set.get("compose", {}).get("include", []):
            if "concept" not in include or "filter" in include or "valueSet" in include:
                return None
            grouped.setdefault(include.get("system", ""), set()).update(c["code"] for c in include["concept"])
    return {system: frozenset(codes) for system, codes in grouped.items()} if grouped else None


@cache
def package_definitions() -> Definitions:
    """The definitions carried by the package (loaded once per process)."""
    payload = resources.files("fhirbridge.validation").joinpath("data", DATA_FILE).read_bytes()
    return Definitions(json.loads(gzip.decompress(payload)))


__all__ = [
    "Constraint",
    "Definitions",
    "ElementNode",
    "Slicing",
    "StructureDefinition",
    "TypeRef",
    "build_tree",
    "package_definitions",
]
