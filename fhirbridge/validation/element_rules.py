"""The rules the walk of ``validator`` checks at an element besides its cardinality and type: fixed and
pattern values, a coding's system, reference targets (their type, and their profiles when the reference
resolves inside the Bundle) and FHIRPath invariants; which slice of a sliced element an occurrence is, and
how many each slice allows; extensions, against their own definitions and where they may be used. Also
the walk's state: each occurrence (``Item``) and the ``Walk`` that gathers the issues.

``ElementRules`` is a base of ``Validator``, apart from the walk, which owns the descent through the
element tree that these rules re-enter (an occurrence as its slice, a resource against a profile, an
extension's own elements).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhirbridge.errors import Issue
from fhirbridge.validation import invariants
from fhirbridge.validation.definitions import Definitions, ElementNode, StructureDefinition
from fhirbridge.validation.terminology import binding_issues
from fhirbridge.validation.values import descend, extension_url, matches_pattern, shortened, values_at

CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


@dataclass
class Item:
    """One occurrence of an element in the instance; primitives keep their ``_name`` companion."""

    value: Any
    path: str
    type_code: str
    extension: Any = None


@dataclass
class Walk:
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

    def trial(self, resource: dict[str, Any], root_resource: dict[str, Any]) -> Walk:
        return Walk(resource, root_resource, targets=self.targets, conformance=self.conformance)

    def add(self, severity: str, code: str, path: str, message: str) -> None:
        self.issues.append(Issue(diagnostics=message, code=code, severity=severity, expression=(path,)))


class ElementRules:
    """The rules checked at an element, and which slice or extension definition it is checked against."""

    definitions: Definitions

    if TYPE_CHECKING:
        # The walk these rules re-enter, defined by Validator.

        def _item(self, item: Item, node: ElementNode, tree: StructureDefinition, walk: Walk) -> None: ...

        def _against(
            self, resource: dict[str, Any], definition: StructureDefinition, path: str, walk: Walk
        ) -> None: ...

        def _children(
            self,
            value: dict[str, Any],
            children: dict[str, ElementNode],
            path: str,
            tree: StructureDefinition,
            walk: Walk,
        ) -> None: ...

        def _children_in(
            self,
            value: dict[str, Any],
            children: dict[str, ElementNode],
            path: str,
            tree: StructureDefinition,
            walk: Walk,
            host: tuple[str, str],
        ) -> None: ...

    # -- value rules -----------------------------------------------------------------------------

    def _fixed_and_pattern(self, item: Item, node: ElementNode, walk: Walk) -> None:
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

    def _coding_system(self, item: Item, walk: Walk) -> None:
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

    def _reference_target(self, item: Item, node: ElementNode, walk: Walk) -> None:
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
        self, item: Item, node: ElementNode, reference: str, target: dict[str, Any], walk: Walk
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

    def _constraints(self, item: Item, node: ElementNode, type_path: str, walk: Walk) -> None:
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

    def _sliced(self, items: list[Item], node: ElementNode, tree: StructureDefinition, walk: Walk) -> None:
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

    def _in_slice(self, item: Item, sliced: ElementNode, slice_node: ElementNode, walk: Walk) -> bool:
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

    def _discriminates(self, item: Item, slice_node: ElementNode, kind: str, path: str, walk: Walk) -> bool:
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

    def _conforms(self, resource: dict[str, Any], profile: str, walk: Walk) -> bool:
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

    def _extension(self, item: Item, node: ElementNode, tree: StructureDefinition, walk: Walk) -> None:
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

    def _used_in_context(self, definition: StructureDefinition, walk: Walk) -> bool:
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


__all__ = ["CORE_PREFIX", "ElementRules", "Item", "Walk"]
