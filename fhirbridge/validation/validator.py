"""Validation of a FHIR R4 resource against the base specification and profiles.

The walk follows the element tree of each StructureDefinition over the JSON instance: cardinality,
JSON primitive forms, fixed and pattern values, slicing, types and reference targets, code bindings,
FHIRPath invariants; extensions are checked against their own definitions and nested resources
(contained, Bundle entries) against their type and their ``meta.profile``. The R4B models add the
structural check (unknown elements, wrong shapes). Issues name the element by a FHIRPath such as
``Patient.name[0].family``.

This module holds the walk; the rules it checks at an element besides its cardinality and type (fixed and
pattern values, reference targets, invariants, slicing, extensions) are in ``element_rules``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from fhirbridge.errors import Issue, Unprocessable
from fhirbridge.validation.bundle import bundle_issues, bundle_targets
from fhirbridge.validation.definitions import Definitions, ElementNode, StructureDefinition, package_definitions
from fhirbridge.validation.element_rules import CORE_PREFIX, ElementRules, Item, Walk
from fhirbridge.validation.narrative import narrative_problems
from fhirbridge.validation.primitives import PRIMITIVE_TYPES, primitive_problem
from fhirbridge.validation.structure import structure_issues
from fhirbridge.validation.terminology import binding_issues
from fhirbridge.validation.values import find_element, matches_pattern, outside_bounds

RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})


class Validator(ElementRules):
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
        walk = Walk(
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
        walk: Walk,
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

    def _profile(self, resource: dict[str, Any], url: str, path: str, walk: Walk, explicit: bool) -> None:
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

    def _against(self, resource: dict[str, Any], definition: StructureDefinition, path: str, walk: Walk) -> None:
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
        walk: Walk,
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
        walk: Walk,
    ) -> None:
        for name, child in children.items():
            items = self._collect(value, child, name, path, walk)
            self._cardinality(child, len(items), path, name, walk)
            if child.slices:
                self._sliced(items, child, tree, walk)
            else:
                for item in items:
                    self._item(item, child, tree, walk)

    def _collect(self, value: dict[str, Any], child: ElementNode, name: str, path: str, walk: Walk) -> list[Item]:
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

    def _cardinality(self, node: ElementNode, count: int, path: str, name: str, walk: Walk) -> None:
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

    def _item(self, item: Item, node: ElementNode, tree: StructureDefinition, walk: Walk) -> None:
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

    def _conforms_as_type(self, item: Item, definition: StructureDefinition, walk: Walk) -> bool:
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

    def _primitive(self, item: Item, node: ElementNode, tree: StructureDefinition, walk: Walk) -> None:
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
