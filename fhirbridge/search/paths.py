"""Evaluate the FHIRPath expressions of search parameters against stored JSON.

Nearly every expression in the definitions is a plain path with a few well-known filters
(``.where(resolve() is Patient)``, ``as Quantity``, ``.where(system='email')``, ``.extension('url')``).
Running those through fhirpathpy costs tens of microseconds each, and a resource has twenty or more
parameters, so they are compiled here into small Python closures; anything else falls back to a
compiled fhirpathpy expression. Both are compiled once and cached.

A result item is ``(value, type_name)``: ``type_name`` is the FHIR type when the JSON key told it (a
choice element such as ``valueQuantity``), otherwise None.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any

import fhir.resources.R4B as r4b_models
import fhirpathpy
from fhirpathpy.models import models as fhirpath_models
from pydantic import BaseModel

Item = tuple[Any, str | None]
Evaluator = Callable[[dict[str, Any]], list[Item]]

r4_model = fhirpath_models["r4"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = re.compile(
    rf"""\s*(?:
        \.where\(resolve\(\)\s+is\s+(?P<resolve>{_IDENT})\)
      | \.where\(hasExtension\('(?P<has_extension>[^']*)'\)\)
      | \.where\((?P<field>{_IDENT})\s*=\s*'(?P<literal>[^']*)'\)
      | \.extension\('(?P<extension>[^']*)'\)
      | \.(?:as|ofType)\((?P<cast>{_IDENT})\)
      | \s+as\s+(?P<as>{_IDENT})
      | \.(?P<child>{_IDENT})
    )""",
    re.VERBOSE,
)
# The data types a choice element (``value[x]``) can take in R4, as they appear in JSON keys.
_CHOICE_TYPES = frozenset(
    [
        "Base64Binary",
        "Boolean",
        "Canonical",
        "Code",
        "Date",
        "DateTime",
        "Decimal",
        "Id",
        "Instant",
        "Integer",
        "Markdown",
        "Oid",
        "PositiveInt",
        "String",
        "Time",
        "UnsignedInt",
        "Uri",
        "Url",
        "Uuid",
        "Address",
        "Age",
        "Annotation",
        "Attachment",
        "CodeableConcept",
        "Coding",
        "ContactPoint",
        "Count",
        "Distance",
        "Duration",
        "HumanName",
        "Identifier",
        "Money",
        "Period",
        "Quantity",
        "Range",
        "Ratio",
        "Reference",
        "SampledData",
        "Signature",
        "Timing",
        "ContactDetail",
        "Contributor",
        "DataRequirement",
        "Expression",
        "ParameterDefinition",
        "RelatedArtifact",
        "TriggerDefinition",
        "UsageContext",
        "Dosage",
        "Meta",
    ]
)


def split_union(expression: str) -> list[str]:
    """Top-level ``|`` branches (not those inside brackets or string literals)."""
    parts: list[str] = []
    depth, quoted = 0, False
    current: list[str] = []
    for char in expression:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "|" and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


Step = tuple[str, str, str]


def parse_simple(branch: str) -> tuple[str, list[Step]] | None:
    """Parse ``Type.a.b.where(...)`` (optionally wrapped in brackets); None if it is anything else."""
    text = branch.strip()
    # ``(Observation.value as Quantity).text``: brackets only group a cast, so they can be dropped.
    text = text.replace("(", " ( ", 1) if text.startswith("(") else text
    text = re.sub(r"^\s*\(\s*", "", text)
    text = re.sub(r"\s+as\s+(" + _IDENT + r")\s*\)", r" as \1", text)
    match = re.match(_IDENT, text)
    if match is None:
        return None
    root = match.group(0)
    position = match.end()
    steps: list[Step] = []
    while position < len(text):
        step = _STEP.match(text, position)
        if step is None or step.end() == position:
            return None
        if step["resolve"]:
            steps.append(("resolve", step["resolve"], ""))
        elif step["has_extension"] is not None:
            steps.append(("has_extension", step["has_extension"], ""))
        elif step["field"]:
            steps.append(("where", step["field"], step["literal"]))
        elif step["extension"] is not None:
            steps.append(("extension", step["extension"], ""))
        elif step["cast"] or step["as"]:
            steps.append(("cast", step["cast"] or step["as"], ""))
        else:
            steps.append(("child", step["child"], ""))
        position = step.end()
    return root, steps


def _children(node: Any, name: str) -> Iterable[Item]:
    if not isinstance(node, dict):
        return ()
    if name in node:
        return _flatten(node[name], None)
    if name not in choice_elements():
        return ()
    # A choice element (``value[x]``) is stored under ``value`` + its type name.
    for key in node.keys() & _choice_keys(name):
        return _flatten(node[key], key[len(name) :])
    return ()


@cache
def choice_elements() -> frozenset[str]:
    """The names of every choice element (``value[x]``, ``onset[x]``...) in the R4 resources and data types.

    Only these can be stored as the name plus a type, so a missing element of any other name is known
    to be absent without looking through the keys (most elements a search parameter asks for are).
    """
    names: set[str] = set()
    for module_info in pkgutil.iter_modules(r4b_models.__path__):
        module = importlib.import_module(f"{r4b_models.__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
                for field in value.model_fields.values():
                    extra = field.json_schema_extra
                    choice = extra.get("one_of_many") if isinstance(extra, dict) else None
                    if isinstance(choice, str):
                        names.add(choice)
    return frozenset(names)


@cache
def _choice_keys(name: str) -> frozenset[str]:
    """Every key a choice element ``name[x]`` can be stored under."""
    return frozenset(name + type_name for type_name in _CHOICE_TYPES)


def _flatten(value: Any, type_name: str | None) -> list[Item]:
    if isinstance(value, list):
        return [(v, type_name) for v in value if v is not None]
    return [(value, type_name)]


def _reference_type(node: Any) -> str | None:
    if not isinstance(node, dict):
        return None
    reference = node.get("reference")
    if isinstance(reference, str) and "/" in reference:
        parts = reference.split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        return parts[-2] if len(parts) >= 2 else None
    declared = node.get("type")
    return declared if isinstance(declared, str) else None


def _same_type(tag: str | None, wanted: str) -> bool:
    return tag is None or tag.lower() == wanted.lower()


def _apply(items: list[Item], step: Step) -> list[Item]:
    kind, name, literal = step
    if kind == "child":
        return [child for node, _ in items for child in _children(node, name)]
    if kind == "cast":
        return [(node, tag or name) for node, tag in items if _same_type(tag, name)]
    if kind == "resolve":
        return [(node, tag) for node, tag in items if _reference_type(node) == name]
    if kind == "has_extension":
        return [
            (node, tag)
            for node, tag in items
            if isinstance(node, dict)
            and any(isinstance(e, dict) and e.get("url") == name for e in node.get("extension", []))
        ]
    if kind == "where":
        return [(node, tag) for node, tag in items if isinstance(node, dict) and node.get(name) == literal]
    # extension('url')
    return [
        (ext, None)
        for node, _ in items
        if isinstance(node, dict)
        for ext in node.get("extension", [])
        if isinstance(ext, dict) and ext.get("url") == name
    ]


def _compile_simple(root: str, steps: list[Step]) -> Evaluator:
    any_type = root in ("Resource", "DomainResource")
    # Most of a type's parameters name an element the resource at hand does not have; the keys its
    # first step can be stored under tell that without a walk.
    lead = steps[0][1] if steps and steps[0][0] == "child" else None
    lead_keys = _choice_keys(lead) | {lead} if lead is not None and lead in choice_elements() else None

    def evaluate(resource: dict[str, Any]) -> list[Item]:
        if resource.get("resourceType") != root and not any_type:
            return []
        if lead is not None and lead not in resource and (lead_keys is None or lead_keys.isdisjoint(resource)):
            return []
        items: list[Item] = [(resource, None)]
        for step in steps:
            items = _apply(items, step)
            if not items:
                break
        return items

    return evaluate


def _compile_fhirpath(branch: str) -> Evaluator:
    compiled = fhirpathpy.compile(branch, model=r4_model)

    def evaluate(resource: dict[str, Any]) -> list[Item]:
        try:
            found = compiled(resource, {})
        except Exception:  # an expression fhirpathpy cannot run indexes nothing rather than failing the write
            return []
        return [(value, None) for value in found if value is not None]

    return evaluate


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Evaluator:
    """One evaluator for a whole (union) expression; compiled once per expression."""
    evaluators: list[Evaluator] = []
    for branch in split_union(expression):
        parsed = parse_simple(branch)
        evaluators.append(_compile_simple(*parsed) if parsed else _compile_fhirpath(branch))
    if len(evaluators) == 1:
        return evaluators[0]

    def evaluate(resource: dict[str, Any]) -> list[Item]:
        return [item for evaluator in evaluators for item in evaluator(resource)]

    return evaluate


@lru_cache(maxsize=512)
def compile_relative(expression: str) -> Callable[[Any], list[Item]]:
    """An evaluator of a path relative to an element (the components of a composite parameter)."""
    branches = []
    for branch in split_union(expression):
        parsed = parse_simple(f"Self.{branch.strip()}")
        if parsed is None:
            raise ValueError(f"unsupported component expression: {branch}")
        branches.append(parsed[1])

    def evaluate(node: Any) -> list[Item]:
        found: list[Item] = []
        for steps in branches:
            items: list[Item] = [(node, None)]
            for step in steps:
                items = _apply(items, step)
            found.extend(items)
        return found

    return evaluate


def uses_fhirpathpy(expression: str) -> bool:
    return any(parse_simple(branch) is None for branch in split_union(expression))


__all__ = [
    "Evaluator",
    "Item",
    "compile_expression",
    "compile_relative",
    "parse_simple",
    "split_union",
    "uses_fhirpathpy",
]
