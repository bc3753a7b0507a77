"""One walk over a resource for the checks every write makes, compiled from the R4 definitions.

The structure check (``formats.structure``) knows each element's shape but not what the definitions
say about its content. This walk finds the rest: a code outside the value set of a required binding
(judged by ``terminology.binding_issues``, as ``$validate`` judges it), every Reference with the
resource types its element allows, and every narrative div. It visits only what can hold one of
those: for each type, the package's definitions (``definitions.package_definitions``) say which
elements carry a required binding to a value set the package can expand, which are References or
XHTML, and which datatypes, backbone elements or nested resources may hold more; the rest is skipped.

Only ``code``, ``Coding`` and ``CodeableConcept`` elements are checked against their bindings, and a
binding to a value set the package does not carry (one that needs a terminology server: MIME types,
currencies, UCUM units) is accepted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhirbridge.errors import Issue
from fhirbridge.validation.definitions import Definitions, ElementNode, TypeRef, package_definitions
from fhirbridge.validation.terminology import binding_issues
from fhirbridge.validation.values import find_element

CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept"})
RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})


@dataclass(frozen=True, slots=True)
class ReferenceSite:
    """A Reference found in a resource."""

    path: str  # FHIRPath of the Reference, e.g. ``Task.for``
    reference: str  # its ``reference``
    targets: frozenset[str]  # the resource types the element allows; empty: any
    # Resolved on this server: not inside a resource a Bundle or Parameters carries, whose references
    # resolve against their own entries.
    on_server: bool


@dataclass
class Scan:
    code_issues: list[Issue] = field(default_factory=list)
    references: list[ReferenceSite] = field(default_factory=list)
    narratives: list[tuple[str, str]] = field(default_factory=list)  # (path of the div, the XHTML)


@dataclass(frozen=True, slots=True)
class _Step:
    """What one JSON property of a type holds, as far as the walk is concerned."""

    type_code: str
    binding: tuple[str, str] | None = None  # a required binding to a value set the package carries
    targets: frozenset[str] | None = None  # a Reference: the resource types allowed (empty: any)
    narrative: bool = False
    resource: bool = False  # a resource inside this one
    contained: bool = False  # ... and one of its contained resources
    children: str | None = None  # the plan of its elements, when some may matter


Plan = dict[str, _Step]  # by JSON property name


def scan_resource(resource: dict[str, Any]) -> Scan:
    """The bound codes that fail, the references and the narratives of ``resource`` and of the
    resources inside it (contained, Bundle entries). A type the R4 definitions do not know (one R4B
    added) is not looked into."""
    scan = Scan()
    resource_type = resource.get("resourceType")
    plans = _plans()
    if isinstance(resource_type, str) and plans.known(resource_type):
        _walk(resource, plans.plan(resource_type), resource_type, True, scan, plans)
    return scan


def _walk(node: dict[str, Any], plan: Plan, path: str, on_server: bool, scan: Scan, plans: _Plans) -> None:
    for key, value in node.items():
        step = plan.get(key)
        if step is None:
            continue
        if type(value) is list:
            for index, item in enumerate(value):
                if item is not None:
                    _visit(item, step, f"{path}.{key}[{index}]", on_server, scan, plans)
        else:
            _visit(value, step, f"{path}.{key}", on_server, scan, plans)


def _visit(value: Any, step: _Step, path: str, on_server: bool, scan: Scan, plans: _Plans) -> None:
    if step.binding is not None and isinstance(value, str if step.type_code == "code" else dict):
        scan.code_issues.extend(binding_issues(value, step.type_code, step.binding, path, path, plans.definitions))
    if type(value) is not dict:
        if step.narrative and isinstance(value, str):
            scan.narratives.append((path, value))
        return
    if step.targets is not None and isinstance(value.get("reference"), str):
        scan.references.append(ReferenceSite(path, value["reference"], step.targets, on_server))
    if step.resource:
        resource_type = value.get("resourceType")
        if isinstance(resource_type, str) and plans.known(resource_type):
            _walk(value, plans.plan(resource_type), path, on_server and step.contained, scan, plans)
    elif step.children is not None:
        _walk(value, plans.plan(step.children), path, on_server, scan, plans)


class _Plans:
    """The plan of each type or backbone element, compiled on first use.

    A plan names the element of each child it must descend into by a key (a type name such as
    ``Identifier``, or a backbone element's path such as ``CarePlan.activity``), so the recursive types
    (an Identifier's assigner is a Reference, which has an identifier) need no recursion to compile.
    """

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self._plans: dict[str, Plan] = {}
        self._compiling: set[str] = set()
        self._lock = threading.RLock()

    def known(self, resource_type: str) -> bool:
        definition = self.definitions.base_type(resource_type)
        return definition is not None and definition.kind == "resource"

    def plan(self, key: str) -> Plan:
        found = self._plans.get(key)
        if found is None:
            with self._lock:
                found = self._plans.get(key)
                if found is None:
                    self._compiling.add(key)
                    try:
                        found = self._compile(key)
                    finally:
                        self._compiling.discard(key)
                    self._plans[key] = found
        return found

    def _relevant(self, key: str) -> bool:
        # A plan being compiled (a recursive type) is kept: it is only skipped when known to be empty.
        return key in self._compiling or bool(self.plan(key))

    def _element(self, key: str) -> ElementNode | None:
        definition = self.definitions.base_type(key.split(".", 1)[0])
        if definition is None:
            return None
        return definition.root if "." not in key else find_element(definition.root, key)

    def _compile(self, key: str) -> Plan:
        node = self._element(key)
        plan: Plan = {}
        if node is None:
            return plan
        for name, child in node.children.items():
            if child.is_choice:
                stem = name[:-3]
                for type_ref in child.types:
                    step = self._step(child, type_ref)
                    if step is not None:
                        plan[stem + type_ref.code[:1].upper() + type_ref.code[1:]] = step
            elif child.types or child.content_reference:
                step = self._step(child, child.types[0] if child.types else TypeRef("BackboneElement"))
                if step is not None:
                    plan[name] = step
        return plan

    def _step(self, element: ElementNode, type_ref: TypeRef) -> _Step | None:
        code = type_ref.code
        binding = element.binding
        if not (
            binding is not None
            and binding[0] == "required"
            and code in CODED_TYPES
            and binding[1] in self.definitions.value_sets
        ):
            binding = None
        targets = self._targets(type_ref) if code == "Reference" else None
        children = self._children(element, code)
        if children is not None and not self._relevant(children):
            children = None
        step = _Step(
            type_code=code,
            binding=binding,
            targets=targets,
            narrative=code == "xhtml",
            resource=code in RESOURCE_TYPES,
            contained=element.name == "contained",
            children=children,
        )
        if binding is None and targets is None and not step.narrative and not step.resource and children is None:
            return None
        return step

    def _targets(self, type_ref: TypeRef) -> frozenset[str]:
        allowed = {self.definitions.type_of(p) or p.rsplit("/", 1)[-1] for p in type_ref.target_profiles}
        return frozenset() if not allowed or "Resource" in allowed else frozenset(allowed)

    def _children(self, element: ElementNode, code: str) -> str | None:
        """The key of the plan an element's value is walked with, if it has elements of its own."""
        if element.children:
            return element.id  # a backbone element, defined inline
        if element.content_reference:
            return element.content_reference.split("#", 1)[1]  # Questionnaire.item.item
        definition = self.definitions.base_type(code)
        if definition is None or definition.kind != "complex-type":
            return None  # a primitive, or a resource (walked with its own type's plan)
        return code


@cache
def _plans() -> _Plans:
    return _Plans(package_definitions())


def prepare() -> None:
    """Load the definitions now (about 75 ms, once per process) rather than on the first write."""
    _plans()


__all__ = ["ReferenceSite", "Scan", "prepare", "scan_resource"]
