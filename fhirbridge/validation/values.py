"""What the validator reads inside a value: pattern matching, bounds, simple element paths, slices."""

from __future__ import annotations

from typing import Any

from fhirbridge.validation.definitions import Definitions, ElementNode


def matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern semantics: every property of the pattern appears in the value (arrays: each
    pattern entry is matched by some value entry)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches_pattern(value[key], expected) for key, expected in pattern.items()
        )
    if isinstance(pattern, list):
        values = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(v, p) for v in values) for p in pattern)
    return bool(value == pattern)


def outside_bounds(value: Any, node: ElementNode) -> str | None:
    """minValue/maxValue; dates compare as ISO strings of the same precision, numbers as numbers."""
    for bound, above in ((node.min_value, False), (node.max_value, True)):
        if bound is None or (
            type(bound) is not type(value) and not (isinstance(bound, int | float) and isinstance(value, int | float))
        ):
            continue
        if isinstance(value, str) and len(value) != len(bound):
            continue
        if (value > bound) if above else (value < bound):
            word = "greater than permitted maximum" if above else "less than permitted minimum"
            return f"value is {word} value of {bound}"
    return None


def values_at(value: Any, path: str) -> list[Any]:
    current = [value]
    if path in ("$this", ""):
        return current
    for step in path.split("."):
        if step.startswith("resolve()") or "(" in step:
            return []
        step_values: list[Any] = []
        for entry in current:
            if isinstance(entry, dict) and step in entry:
                found = entry[step]
                step_values.extend(found if isinstance(found, list) else [found])
        current = step_values
    return current


def descend(node: ElementNode, path: str, definitions: Definitions) -> ElementNode | None:
    current: ElementNode | None = node
    for step in path.split("."):
        if current is None or "(" in step:
            return None
        nxt = current.children.get(step)
        if nxt is None and current.types:
            base = definitions.base_type(current.types[0].code)
            nxt = base.root.children.get(step) if base else None
        current = nxt
    return current


def extension_url(slice_node: ElementNode) -> str | None:
    for type_ref in slice_node.types:
        if type_ref.profiles:
            return type_ref.profiles[0].split("|", 1)[0]
    url_node = slice_node.children.get("url")
    if url_node is not None and url_node.fixed is not None:
        return str(url_node.fixed[1])
    return None


def find_element(root: ElementNode, element_id: str) -> ElementNode | None:
    if root.id == element_id:
        return root
    if not element_id.startswith(root.id):
        return None
    for child in root.children.values():
        found = find_element(child, element_id)
        if found is not None:
            return found
    return None


def shortened(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


__all__ = [
    "descend",
    "extension_url",
    "find_element",
    "matches_pattern",
    "outside_bounds",
    "shortened",
    "values_at",
]
