"""Validation of a FHIR R4 resource against the base specification and profiles.

The walk follows the element tree of each StructureDefinition over the JSON instance: cardinality,
JSON primitive forms, fixed and pattern values, slicing, types and reference targets, code bindings,
FHIRPath invariants; extensions are checked against their own definitions and nested resources
(contained, Bundle entries) against their type and their ``meta.profile``. The R4B models add the
structural check (unknown elements, wrong shapes). Issues name the element by a FHIRPath such as
``Patient.name[0].family``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhirbridge.errors import Issue, Unprocessable
from fhirbridge.validation import invariants
from fhirbridge.validation.bundle import bundle_issues, bundle_targets
from fhirbridge.validation.definitions import (
    Definitions,
    ElementNode,
    StructureDefinition,
    package_definitions,
)
from fhirbridge.validation.narrative import narrative_problems
from fhirbridge.validation.primitives import PRIMITIVE_TYPES, primitive_problem
from fhirbridge.validation.structure import structure_issues
from fhirbridge.validation.terminology import binding_issues
from fhirbridge.validation.values import (
    descend,
    extension_url,
    find_element,
    matches_pattern,
    outside_bounds,
    shortened,
    values_at,
)

RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})
CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


@dataclass
class Item:
    """One occurrence of an element in the instance; primitives keep their ``_name`` companion."""

    value: Any
    path: str
    type_code: str
    extension: Any = None


@dataclass
class _Walk:
    resource: dict[str, Any]
    root_resource: dict[str, Any]
    issues: list[Issue] = field(default_factory=list)
    structure_paths: frozenset[str] = frozenset()
    # The (type, element path) whose children are being walked: where an extension is used.
    host: tuple[str, str] = ("", "")
    # Resources a reference can resolve to inside the Bundle being validated, by fullUrl and type/id.
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (resource, profile) -> conforms; shared by trial walks so circular references end.
    conformance: dict[tuple[int, str], bool] = field(default_factory=dict)

    def trial(self, resource: dict[str, Any], root_resource: dict[str, Any]) -> _Walk:
        return _Walk(resource, root_resource, targets=self.targets, conformance=self.conformance)

    def add(self, severity: str, code: str, path: str, message: str) -> None:
        self.issues.append(Issue(diagnostics=message, code=code, severity=severity, expression=(path,)))


class Validator:
    """Validates resources with a set of definitions (the package's, plus any registered)."""

    def __init__(self, definitions: Definitions | None = None) -> None:
        self.definitions = definitions or package_definitions()
        # ``valueDateTime`` names the type dateTime; complex types keep their own capitalised name.
        self._type_suffixes = {code[:1].upper() + code[1:]: code for code in PRIMITIVE_TYPES}

    def validate(self, resource: Any, profiles: Sequence[str] = ()) -> list[Issue]:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return [Issue("The content is not a FHIR resource: no resourceType", "structure", "fatal")]
        resource_type = resource["resourceType"]
        if self.definitions.base_type(resource_type) is None:
            return [Issue(f"Unknown resource type '{resource_type}'", "structure", "fatal", (resource_type,))]
        found = structure_issues(resource)
        walk = _Walk(
            resource,
            resource,
            structure_paths=frozenset(p for i in found for p in i.expression),
            targets=bundle_targets(resource),
        )
        walk.issues.extend(found)
        self._resource(resource, resource_type, walk, profiles, explicit=True)
        return _unique(walk.issues)

    # -- resources -------------------------------------------------------------------------------

    def _resource(
        self,
        resource: dict[str, Any],
        path: str,
        walk: _Walk,
        extra: Sequence[str] = (),
        explicit: bool = False,
    ) -> None:
        resource_type = resource.get("resourceType")
        base = self.definitions.base_type(resource_type) if isinstance(resource_type, str) else None
        if base is None:
            walk.add("error", "structure", path, f"Unknown resource type '{resource_type}'")
            return
        outer = walk.resource
        walk.resource = resource
        try:
            self._against(resource, base, path, walk)
            if resource_type == "Bundle":
                walk.issues.extend(bundle_issues(resource, path))
            declared = resource.get("meta", {}).get("profile", []) if isinstance(resource.get("meta"), dict) else []
            for url, is_explicit in [
                *((u, False) for u in declared if isinstance(u, str)),
                *((u, explicit) for u in extra),
            ]:
                self._profile(resource, url, path, walk, is_explicit)
        finally:
            walk.resource = outer

    def _profile(self, resource: dict[str, Any], url: str, path: str, walk: _Walk, explicit: bool) -> None:
        profile = self.definitions.get(url)
        if profile is None:
            severity = "error" if explicit else "warning"
            walk.add(
                severity,
                "not-found",
                path,
                f"Profile reference '{url}' has not been checked because it is unknown",
            )
            return
        if profile.type != resource.get("resourceType"):
            walk.add(
                "error",
                "invalid",
                path,
                f"The profile {url} is for {profile.type}, not {resource.get('resourceType')}",
            )
            return
        if profile.url != CORE_PREFIX + profile.type:
            self._against(resource, profile, path, walk)

    def _against(self, resource: dict[str, Any], definition: StructureDefinition, path: str, walk: _Walk) -> None:
        root = definition.root
        item = Item(resource, path, definition.type)
        self._constraints(item, root, definition.type, walk)
        self._children_in(resource, root.children, path, definition, walk, (definition.type, definition.type))

    def _children_in(
        self,
        value: dict[str, Any],
        children: dict[str, ElementNode],
        path: str,
        tree: StructureDefinition,
        walk: _Walk,
        host: tuple[str, str],
    ) -> None:
        outer = walk.host
        walk.host = host
        try:
            self._children(value, children, path, tree, walk)
        finally:
            walk.host = outer

    # -- elements --------------------------------------------------------------------------------

    def _children(
        self,
        value: dict[str, Any],
        children: dict[str, ElementNode],
        path: str,
        tree: StructureDefinition,
        walk: _Walk,
    ) -> None:
        for name, child in children.items():
            items = self._collect(value, child, name, path, walk)
            self._cardinality(child, len(items), path, name, walk)
            if child.slices:
                self._sliced(items, child, tree, walk)
            else:
                for item in items:
                    self._item(item, child, tree, walk)

    def _collect(self, value: dict[str, Any], child: ElementNode, name: str, path: str, walk: _Walk) -> list[Item]:
        for key in (name, "_" + name) if not child.is_choice else ():
            if key in value and (value[key] is None or value[key] == []):
                walk.add(
                    "error",
                    "structure",
                    f"{path}.{key}",
                    f"The property {key} must be a value or an array of values, not null or empty",
                )
        if child.is_choice:
            stem = name[:-3]
            items: list[Item] = []
            for key in value:
                if key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper():
                    suffix = key[len(stem) :]
                    type_code = self._type_suffixes.get(suffix, suffix)
                    if self.definitions.base_type(type_code) is None:
                        continue  # a sibling element that happens to share the stem, not a type
                    if type_code not in child.type_codes and "*" not in child.type_codes:
                        walk.add(
                            "error",
                            "structure",
                            f"{path}.{key}",
                            f"The type '{type_code}' is not allowed for {child.path} here",
                        )
                        continue
                    items.extend(self._occurrences(value, key, f"{path}.{key}", type_code))
            return items
        type_code = child.types[0].code if child.types else ""
        return self._occurrences(value, name, f"{path}.{name}", type_code)

    @staticmethod
    def _occurrences(value: dict[str, Any], key: str, path: str, type_code: str) -> list[Item]:
        content = value.get(key)
        companion = value.get("_" + key)
        if isinstance(content, list) or isinstance(companion, list):
            contents = content if isinstance(content, list) else []
            companions = companion if isinstance(companion, list) else []
            count = max(len(contents), len(companions))
            return [
                Item(
                    contents[i] if i < len(contents) else None,
                    f"{path}[{i}]",
                    type_code,
                    companions[i] if i < len(companions) else None,
                )
                for i in range(count)
                if (i < len(contents) and contents[i] is not None)
                or (i < len(companions) and companions[i] is not None)
            ]
        if content is None and companion is None:
            return []
        return [Item(content, path, type_code, companion)]

    def _cardinality(self, node: ElementNode, count: int, path: str, name: str, walk: _Walk) -> None:
        label = node.path if not node.slice_name else f"{node.path}:{node.slice_name}"
        if count < node.min:
            walk.add(
                "error",
                "required",
                path if path else label,
                f"{label}: minimum required = {node.min}, but only found {count}",
            )
        if node.max is not None and count > node.max:
            walk.add(
                "error",
                "structure",
                f"{path}.{name}" if not node.slice_name else path,
                f"{label}: max allowed = {node.max}, but found {count}",
            )

    def _item(self, item: Item, node: ElementNode, tree: StructureDefinition, walk: _Walk) -> None:
        code = item.type_code
        if code in RESOURCE_TYPES:
            if isinstance(item.value, dict):
                # The element's own invariants see the container as %resource; the nested resource's
                # invariants see itself.
                self._constraints(item, node, str(item.value.get("resourceType", code)), walk)
                self._resource(item.value, item.path, walk, [p for t in node.types for p in t.profiles])
            return
        if code in PRIMITIVE_TYPES or code == "" or code[:1].islower():
            self._primitive(item, node, tree, walk)
            return
        value = item.value
        if not isinstance(value, dict):
            if item.path not in walk.structure_paths:
                walk.add("error", "structure", item.path, f"The value of {node.path} must be an object ({code})")
            return
        if not any(k != "id" for k in value):
            walk.add(
                "error",
                "invariant",
                item.path,
                "Constraint failed: ele-1: 'All FHIR elements must have a @value or children'",
            )
        self._fixed_and_pattern(item, node, walk)
        if node.binding:
            walk.issues.extend(binding_issues(value, code, node.binding, node.path, item.path, self.definitions))
        if code == "Reference":
            self._reference_target(item, node, walk)
        if code == "Coding":
            self._coding_system(item, walk)
        type_tree = self._type_tree(node, code)
        choices = self._profile_choices(node, code)
        if len(choices) > 1:
            # Several allowed profiles: the value must conform to one of them.
            if not any(self._conforms_as_type(item, choice, walk) for choice in choices):
                walk.add(
                    "error",
                    "structure",
                    item.path,
                    "Unable to find a match for the specified profile among choices: "
                    + ", ".join(choice.url for choice in choices),
                )
            type_tree = self.definitions.base_type(code)
        # fhirpathpy resolves choice elements (``value``) from the type name, or the path of a backbone.
        self._constraints(item, node, node.path if code in ("BackboneElement", "Element") else code, walk)
        if type_tree is not None and type_tree is not tree:
            self._constraints(item, type_tree.root, type_tree.type, walk)
        if code == "Extension":
            self._extension(item, node, tree, walk)
            return
        children, children_tree = self._children_of(node, tree, type_tree)
        self._children_in(value, children, item.path, children_tree, walk, (code, node.path))

    def _children_of(
        self, node: ElementNode, tree: StructureDefinition, type_tree: StructureDefinition | None
    ) -> tuple[dict[str, ElementNode], StructureDefinition]:
        if node.children:
            return node.children, tree
        if node.content_reference:
            target = find_element(tree.root, node.content_reference.split("#", 1)[1])
            if target is not None:
                return target.children, tree
        if type_tree is not None:
            return type_tree.root.children, type_tree
        return {}, tree

    def _profile_choices(self, node: ElementNode, code: str) -> list[StructureDefinition]:
        if code == "Extension":
            return []
        found = (self.definitions.get(p) for t in node.types if t.code == code for p in t.profiles)
        return [definition for definition in found if definition is not None]

    def _conforms_as_type(self, item: Item, definition: StructureDefinition, walk: _Walk) -> bool:
        trial = walk.trial(walk.resource, walk.root_resource)
        self._constraints(item, definition.root, definition.type, trial)
        self._children_in(
            item.value,
            definition.root.children,
            item.path,
            definition,
            trial,
            (item.type_code, definition.type),
        )
        return not any(i.severity in ("error", "fatal") for i in trial.issues)

    def _type_tree(self, node: ElementNode, code: str) -> StructureDefinition | None:
        for type_ref in node.types:
            if type_ref.code == code:
                for profile in type_ref.profiles:
                    definition = self.definitions.get(profile)
                    if definition is not None and code != "Extension":
                        return definition
        return self.definitions.base_type(code)

    def _primitive(self, item: Item, node: ElementNode, tree: StructureDefinition, walk: _Walk) -> None:
        code = item.type_code
        if node.name == "id" and node.path.count(".") == 1 and tree.kind == "resource":
            code = "id"
        elif node.path.endswith("Extension.url") or node.path == "Extension.url":
            code = "uri"
        if item.value is not None and item.path not in walk.structure_paths:
            problem = primitive_problem(code, item.value)
            if problem:
                walk.add("error", "value", item.path, problem)
                return
            bound = outside_bounds(item.value, node)
            if bound:
                walk.add("error", "value", item.path, bound)
            if node.max_length is not None and isinstance(item.value, str) and len(item.value) > node.max_length:
                walk.add(
                    "error",
                    "value",
                    item.path,
                    f"value is longer than permitted maximum length of {node.max_length}",
                )
        if item.value is None and not (isinstance(item.extension, dict) and item.extension.get("extension")):
            walk.add(
                "error",
                "invariant",
                item.path,
                "Constraint failed: ele-1: 'All FHIR elements must have a @value or children'",
            )
        if item.value is not None:
            if node.constraints:
                self._constraints(item, node, code, walk)
            self._fixed_and_pattern(item, node, walk)
            if node.binding and code in ("code", "string", "uri"):
                walk.issues.extend(
                    binding_issues(item.value, "code", node.binding, node.path, item.path, self.definitions)
                )
            if code == "xhtml" and isinstance(item.value, str):
                for key, message in narrative_problems(item.value):
                    walk.add("error", "invariant", item.path, f"Constraint failed: {key}: '{message}'")
        if isinstance(item.extension, dict):
            element_tree = self.definitions.base_type("Element")
            if element_tree is not None:
                self._children_in(
                    item.extension,
                    element_tree.root.children,
                    item.path,
                    element_tree,
                    walk,
                    (code, node.path),
                )

    # -- value rules -----------------------------------------------------------------------------

    def _fixed_and_pattern(self, item: Item, node: ElementNode, walk: _Walk) -> None:
        if node.fixed is not None and item.value != node.fixed[1]:
            walk.add(
                "error",
                "value",
                item.path,
                f"Value is '{shortened(item.value)}' but must be '{shortened(node.fixed[1])}'",
            )
        if node.pattern is not None and not matches_pattern(item.value, node.pattern[1]):
            walk.add(
                "error",
                "value",
                item.path,
                f"The value does not match the pattern {shortened(node.pattern[1])} required by {node.path}",
            )

    def _coding_system(self, item: Item, walk: _Walk) -> None:
        system = item.value.get("system")
        if not isinstance(system, str):
            return
        if ":" not in system:
            walk.add(
                "error",
                "invalid",
                f"{item.path}.system",
                "Coding.system must be an absolute reference, not a local reference",
            )
        elif system.startswith("http://hl7.org/fhir/ValueSet/"):
            walk.add(
                "error",
                "invalid",
                f"{item.path}.system",
                f"The Coding references a value set, not a code system ('{system}')",
            )

    def _reference_target(self, item: Item, node: ElementNode, walk: _Walk) -> None:
        reference = item.value.get("reference")
        if not isinstance(reference, str) or reference.startswith("#"):
            return
        target = walk.targets.get(reference)
        if target is not None:
            self._resolved_target(item, node, reference, target, walk)
        if reference.startswith("urn:"):
            return
        parts = reference.split("/_history/", 1)[0].rstrip("/").split("/")
        if len(parts) < 2:
            return
        target_type = parts[-2]
        if self.definitions.base_type(target_type) is None:
            if "://" in reference:
                return  # an absolute URL need not follow the RESTful [type]/[id] pattern
            walk.add("error", "structure", item.path, f"The reference '{reference}' names no known resource type")
            return
        allowed = {
            self.definitions.type_of(p) or p.rsplit("/", 1)[-1]
            for t in node.types
            if t.code == "Reference"
            for p in t.target_profiles
        }
        if allowed and not allowed & {target_type, "Resource"}:
            walk.add(
                "error",
                "structure",
                item.path,
                f"Invalid Resource target type. Found {target_type}, but expected one of "
                f"({', '.join(sorted(allowed))})",
            )

    def _resolved_target(
        self, item: Item, node: ElementNode, reference: str, target: dict[str, Any], walk: _Walk
    ) -> None:
        """A reference resolved inside the Bundle: the right type, and one of the target profiles."""
        actual = target.get("resourceType")
        stated = reference.split("/_history/", 1)[0].rstrip("/").split("/")
        if len(stated) >= 2 and self.definitions.base_type(stated[-2]) is not None and stated[-2] != actual:
            walk.add(
                "error",
                "structure",
                item.path,
                f"Matching reference for reference {reference} has resourceType {actual}",
            )
            return
        profiles = [
            p
            for t in node.types
            if t.code == "Reference"
            for p in t.target_profiles
            if self.definitions.type_of(p) == actual and p.split("|", 1)[0] != CORE_PREFIX + str(actual)
        ]
        if profiles and not any(self._conforms(target, p, walk) for p in profiles):
            walk.add(
                "error",
                "structure",
                item.path,
                f"Unable to find a profile match for {reference} among choices: {', '.join(profiles)}",
            )

    def _constraints(self, item: Item, node: ElementNode, type_path: str, walk: _Walk) -> None:
        for constraint in node.constraints:
            if constraint.key in ("txt-1", "txt-2"):
                continue  # checked natively on the div, where the narrative rules can name the problem
            verdict = invariants.holds(constraint.expression, item.value, type_path, walk.resource, walk.root_resource)
            if verdict is False:
                severity = "error" if constraint.severity == "error" else "warning"
                walk.add(
                    severity,
                    "invariant",
                    item.path,
                    f"Constraint failed: {constraint.key}: '{constraint.human}'",
                )

    # -- slicing and extensions ------------------------------------------------------------------

    def _sliced(self, items: list[Item], node: ElementNode, tree: StructureDefinition, walk: _Walk) -> None:
        counts = dict.fromkeys(node.slices, 0)
        for item in items:
            matched = next((name for name, s in node.slices.items() if self._in_slice(item, node, s, walk)), None)
            if matched is not None:
                counts[matched] += 1
                self._item(item, node.slices[matched], tree, walk)
            elif node.slicing is not None and node.slicing.rules == "closed":
                walk.add(
                    "error",
                    "structure",
                    item.path,
                    f"This element does not match any known slice defined in the profile {tree.url}",
                )
            else:
                self._item(item, node, tree, walk)
        for name, slice_node in node.slices.items():
            base_path = items[0].path.rsplit("[", 1)[0] if items else node.path
            label = f"{node.path}:{name}"
            if counts[name] < slice_node.min:
                walk.add(
                    "error",
                    "structure",
                    base_path,
                    f"Slice '{label}': a matching slice is required, but not found (from {tree.url})",
                )
            if slice_node.max is not None and counts[name] > slice_node.max:
                walk.add(
                    "error",
                    "structure",
                    base_path,
                    f"{label}: max allowed = {slice_node.max}, but found {counts[name]} (from {tree.url})",
                )

    def _in_slice(self, item: Item, sliced: ElementNode, slice_node: ElementNode, walk: _Walk) -> bool:
        discriminators = sliced.slicing.discriminators if sliced.slicing else (("value", "url"),)
        if not discriminators:
            return False
        return all(self._discriminates(item, slice_node, kind, path, walk) for kind, path in discriminators)

    def _discriminates_without_value(self, item: Item, target: ElementNode, path: str) -> bool:
        """A slice with no fixed or pattern value is told apart by a required binding (a value in its
        value set), by forbidding the element (absent), or not at all."""
        values = values_at(item.value, path)
        if target.max == 0:
            return not values
        if target.binding and target.binding[0] == "required" and target.types:
            if target.binding[1] not in self.definitions.value_sets:
                return False
            code = target.types[0].code
            return bool(values) and all(
                not binding_issues(v, code, target.binding, target.path, item.path, self.definitions) for v in values
            )
        return True

    def _discriminates(self, item: Item, slice_node: ElementNode, kind: str, path: str, walk: _Walk) -> bool:
        if kind in ("value", "pattern"):
            if path == "url" and item.type_code == "Extension":
                expected_url = extension_url(slice_node)
                return (
                    expected_url is not None and isinstance(item.value, dict) and item.value.get("url") == expected_url
                )
            target = slice_node if path == "$this" else descend(slice_node, path, self.definitions)
            if target is None:
                return False
            rule = target.fixed or target.pattern
            if rule is None:
                return self._discriminates_without_value(item, target, path)
            values = values_at(item.value, path)
            if kind == "value" and target.fixed is not None:
                return any(v == rule[1] for v in values)
            return any(matches_pattern(v, rule[1]) for v in values)
        if kind == "type":
            if path == "$this":
                return item.type_code in slice_node.type_codes
            target = descend(slice_node, path, self.definitions)
            found = values_at(item.value, path)
            return target is not None and any(
                isinstance(v, dict) and v.get("resourceType") in target.type_codes for v in found
            )
        if kind == "exists":
            target = descend(slice_node, path, self.definitions)
            wanted = target is not None and target.min > 0
            return bool(values_at(item.value, path)) == wanted
        if kind == "profile":
            target = slice_node if path == "$this" else descend(slice_node, path, self.definitions)
            if target is None:
                return False
            profiles = [p for t in target.types for p in t.profiles or t.target_profiles]
            values = values_at(item.value, path)
            return any(self._conforms(v, p, walk) for v in values if isinstance(v, dict) for p in profiles)
        return False

    def _conforms(self, resource: dict[str, Any], profile: str, walk: _Walk) -> bool:
        definition = self.definitions.get(profile)
        if definition is None or definition.type != resource.get("resourceType"):
            return False
        key = (id(resource), profile)
        if key not in walk.conformance:
            walk.conformance[key] = True  # assumed while in progress, so a reference cycle ends
            trial = walk.trial(resource, resource)
            self._against(resource, definition, str(resource.get("resourceType")), trial)
            walk.conformance[key] = not any(i.severity in ("error", "fatal") for i in trial.issues)
        return walk.conformance[key]

    def _extension(self, item: Item, node: ElementNode, tree: StructureDefinition, walk: _Walk) -> None:
        value = item.value
        url = value.get("url")
        profiles = [p for t in node.types if t.code == "Extension" for p in t.profiles]
        definition = self.definitions.get(profiles[0]) if profiles else None
        if definition is None and node.children.get("url") is not None and node.children["url"].fixed:
            # A sub-extension of a complex extension: its elements are in the enclosing tree.
            self._children(value, node.children, item.path, tree, walk)
            return
        if definition is None and isinstance(url, str):
            if "://" not in url and not url.startswith("urn:"):
                walk.add("error", "invalid", item.path, "Extension.url must be an absolute URL")
                return
            definition = self.definitions.get(url)
            if definition is None:
                walk.add(
                    "error",
                    "structure",
                    item.path,
                    f"The extension {url} could not be found so is not allowed here",
                )
                return
        if definition is None:
            base = self.definitions.base_type("Extension")
            if base is not None:  # no url: the cardinality of Extension.url reports it
                self._children(value, base.root.children, item.path, base, walk)
            return
        if not self._used_in_context(definition, walk):
            walk.add(
                "error",
                "structure",
                item.path,
                f"The extension {definition.url} is not allowed to be used at this point "
                f"(this element is {walk.host[0]} at {walk.host[1]})",
            )
        self._children_in(value, definition.root.children, item.path, definition, walk, ("Extension", "Extension"))

    def _used_in_context(self, definition: StructureDefinition, walk: _Walk) -> bool:
        host_type, host_path = walk.host
        if not definition.context or not host_type:
            return True
        host_definition = self.definitions.base_type(host_type)
        is_resource = host_definition is not None and host_definition.kind == "resource"
        for context in definition.context:
            kind, expression = context.get("type"), str(context.get("expression", ""))
            if kind != "element":
                return True  # fhirpath and extension contexts are not checked
            if expression in (host_type, host_path, "Element", "Base"):
                return True
            # ``Address.line`` also names the line of an address inside a profile (``Patient.address.line``),
            # whose path no longer starts with the datatype.
            head, _, tail = expression.partition(".")
            if tail and host_path.endswith("." + tail) and self.definitions.base_type(head) is not None:
                return True
            if expression in ("Resource", "DomainResource") and is_resource:
                return True
            if expression.startswith("http") or "#" in expression:
                return True
        return False


def _unique(issues: Iterable[Issue]) -> list[Issue]:
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    out: list[Issue] = []
    for issue in issues:
        key = (issue.severity, issue.diagnostics, issue.expression)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def validate_resource(resource: dict[str, Any], *, profiles: Sequence[str] = ()) -> list[Issue]:
    """Issues (error, warning, information) found in ``resource`` against the base FHIR R4
    definitions, its ``meta.profile`` profiles and ``profiles``; no error means it conforms."""
    return _default_validator().validate(resource, profiles)


def require_valid(resource: dict[str, Any], *, profiles: Sequence[str] = ()) -> list[Issue]:
    """For a write that must conform: the warnings and information of a valid resource, or
    ``Unprocessable`` (422) carrying every issue when some is an error."""
    issues = validate_resource(resource, profiles=profiles)
    if any(issue.severity in ("error", "fatal") for issue in issues):
        raise Unprocessable("The resource does not conform", issues=issues)
    return issues


@cache
def _default_validator() -> Validator:
    return Validator()


__all__ = ["Item", "Validator", "matches_pattern", "require_valid", "validate_resource"]
