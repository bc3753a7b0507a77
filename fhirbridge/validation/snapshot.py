"""Compact snapshots of StructureDefinitions, and snapshot generation from a differential.

A compact element keeps only what validation reads (cardinality, types, fixed and pattern values,
bindings, constraints, slicing); the documentation text of the official definitions is dropped so the
package stays small. ``generate_snapshot`` applies a differential over its base the way the FHIR
snapshot rules do for the cases profiles here use: changed properties replace the base ones,
constraints add up, a slice starts as a copy of the sliced element, and an element below a datatype
that the base never expanded (``CarePlan.text.status``) pulls in that datatype's own elements.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Element = dict[str, Any]
Resolver = Callable[[str], list[Element] | None]

CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"

# ele-1 ("a value or children") sits on every element of every definition; the validator checks it
# natively instead of carrying thousands of copies of the same FHIRPath expression.
NATIVE_CONSTRAINTS = frozenset({"ele-1"})

_KEPT_KEYS = frozenset({"id", "path", "sliceName", "min", "max", "contentReference", "maxLength", "slicing"})
_VALUE_PREFIXES = ("fixed", "pattern", "minValue", "maxValue")


def compact_element(element: Element) -> Element:
    """Only the parts of an ElementDefinition that validation needs."""
    compact: Element = {}
    for key, value in element.items():
        if key in _KEPT_KEYS or (key.startswith(_VALUE_PREFIXES) and not key.startswith("_")):
            compact[key] = copy.deepcopy(value)
        elif key == "type":
            compact["type"] = [_compact_type(entry) for entry in value]
        elif key == "binding" and "valueSet" in value:
            compact["binding"] = {"strength": value["strength"], "valueSet": value["valueSet"]}
        elif key == "constraint":
            kept = [
                {k: c[k] for k in ("key", "severity", "human", "expression") if k in c}
                for c in value
                if c.get("key") not in NATIVE_CONSTRAINTS and c.get("expression")
            ]
            if kept:
                compact["constraint"] = kept
    if "id" not in compact:
        compact["id"] = element_id(element)
    return compact


def _compact_type(entry: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {k: entry[k] for k in ("code", "profile", "targetProfile") if k in entry}
    code = kept.get("code", "")
    # Primitive ``value`` elements carry FHIRPath system types as extension-encoded codes.
    if code.startswith("http://hl7.org/fhirpath/System."):
        kept["code"] = code.rsplit(".", 1)[1].lower()
    return kept


def element_id(element: Element) -> str:
    """The element id; differentials written without ids get one from path and slice name."""
    if "id" in element:
        return str(element["id"])
    path = str(element["path"])
    slice_name = element.get("sliceName")
    return f"{path}:{slice_name}" if slice_name else path


def parent_id(element_id_: str) -> str:
    return element_id_.rsplit(".", 1)[0]


def generate_snapshot(differential: list[Element], base: list[Element], resolve_type: Resolver) -> list[Element]:
    """Apply ``differential`` over the ``base`` snapshot (both compact or full ElementDefinitions).

    ``resolve_type(url)`` gives the compact snapshot of a datatype or profile, used when the
    differential constrains an element below one the base left unexpanded.
    """
    base_root = base[0]["path"]
    snapshot: dict[str, Element] = {}
    # Elements as the base defines them: a new slice starts from the base element, not from the
    # element as this differential already constrained it (US Core sets Practitioner.identifier to
    # 1..* and adds an optional NPI slice).
    pristine: dict[str, Element] = {}
    for element in base:
        snapshot[element["id"]] = copy.deepcopy(element)
        pristine[element["id"]] = element
    for raw in differential:
        diff = compact_element(raw)
        diff_id = _rebase_id(diff["id"], base_root)
        _ensure(snapshot, pristine, diff_id, resolve_type)
        target = snapshot[diff_id]
        _merge(target, diff)
        target["id"] = diff_id
        target["path"] = _path_of(diff_id)
    return list(snapshot.values())


def _rebase_id(diff_id: str, base_root: str) -> str:
    """Differentials of constraint profiles name elements after the base type (``Extension.url``)."""
    head, _, rest = diff_id.partition(".")
    if head != base_root and head.split(":", 1)[0] != base_root:
        return base_root + ("." + rest if rest else "")
    return diff_id


def _path_of(element_id_: str) -> str:
    return ".".join(segment.split(":", 1)[0] for segment in element_id_.split("."))


def _ensure(snapshot: dict[str, Element], pristine: dict[str, Element], wanted: str, resolve_type: Resolver) -> None:
    if wanted in snapshot:
        return
    if "." not in wanted:
        raise KeyError(f"no root element {wanted}")
    parent, _, last = wanted.rpartition(".")
    name, _, slice_name = last.partition(":")
    if slice_name:
        sliced = f"{parent}.{name}"
        _ensure(snapshot, pristine, sliced, resolve_type)
        _add_slice(snapshot, pristine, sliced, wanted, slice_name)
        return
    _ensure(snapshot, pristine, parent, resolve_type)
    choice = _choice_element(snapshot, parent, name)
    if choice is not None:
        # ``valueQuantity`` in a differential constrains the choice ``value[x]`` to one type.
        element = copy.deepcopy(snapshot[choice])
        element["type"] = [t for t in element.get("type", []) if name.endswith(_type_suffix(t["code"]))]
        element["id"] = wanted
        snapshot[wanted] = element
        return
    if not _has_children(snapshot, parent):
        _expand(snapshot, pristine, parent, resolve_type)
    if wanted not in snapshot:
        raise KeyError(f"unknown element {wanted}")


def _type_suffix(code: str) -> str:
    return code[:1].upper() + code[1:]


def _choice_element(snapshot: dict[str, Element], parent: str, name: str) -> str | None:
    for candidate_id, element in snapshot.items():
        if not candidate_id.startswith(parent + ".") or not candidate_id.endswith("[x]"):
            continue
        stem = candidate_id[len(parent) + 1 : -3]
        if "." in stem or ":" in stem or not name.startswith(stem) or name == stem:
            continue
        if any(name == stem + _type_suffix(t["code"]) for t in element.get("type", [])):
            return candidate_id
    return None


def _has_children(snapshot: dict[str, Element], element_id_: str) -> bool:
    prefix = element_id_ + "."
    return any(key.startswith(prefix) for key in snapshot)


def _expand(
    snapshot: dict[str, Element], pristine: dict[str, Element], element_id_: str, resolve_type: Resolver
) -> None:
    """Bring the elements of ``element_id_``'s type (or its content reference) below it."""
    element = snapshot[element_id_]
    reference = element.get("contentReference")
    if reference:
        source = reference.split("#", 1)[1]
        children = [e for e in snapshot.values() if e["id"].startswith(source + ".")]
        _graft(snapshot, pristine, element_id_, source, children)
        return
    types = element.get("type", [])
    if len(types) != 1:
        raise KeyError(f"cannot expand {element_id_}: {len(types)} types")
    profiles = types[0].get("profile") or [CORE_PREFIX + types[0]["code"]]
    type_snapshot = resolve_type(profiles[0]) or resolve_type(CORE_PREFIX + types[0]["code"])
    if not type_snapshot:
        raise KeyError(f"cannot expand {element_id_}: unknown type {profiles[0]}")
    root = type_snapshot[0]["id"]
    _graft(
        snapshot,
        pristine,
        element_id_,
        root,
        [e for e in type_snapshot[1:] if e["id"].startswith(root + ".")],
    )


def _graft(
    snapshot: dict[str, Element],
    pristine: dict[str, Element],
    target: str,
    source_root: str,
    elements: list[Element],
) -> None:
    for element in elements:
        grafted = copy.deepcopy(element)
        grafted["id"] = target + grafted["id"][len(source_root) :]
        grafted["path"] = _path_of(grafted["id"])
        if grafted["id"] not in snapshot:
            snapshot[grafted["id"]] = grafted
            pristine[grafted["id"]] = copy.deepcopy(grafted)


def _add_slice(
    snapshot: dict[str, Element], pristine: dict[str, Element], sliced: str, slice_id: str, slice_name: str
) -> None:
    base = pristine.get(sliced, snapshot[sliced])
    element = {k: copy.deepcopy(v) for k, v in base.items() if k not in ("slicing", "sliceName")}
    element["id"] = slice_id
    element["sliceName"] = slice_name.rsplit("/", 1)[-1]
    snapshot[slice_id] = element
    prefix = sliced + "."
    children = [e for e in list(snapshot.values()) if e["id"].startswith(prefix)]
    _graft(snapshot, pristine, slice_id, sliced, children)


def _merge(target: Element, diff: Element) -> None:
    for key, value in diff.items():
        if key == "constraint":
            known = {c["key"] for c in target.get("constraint", [])}
            target.setdefault("constraint", []).extend(c for c in value if c["key"] not in known)
        elif key != "id":
            target[key] = copy.deepcopy(value)


__all__ = [
    "CORE_PREFIX",
    "NATIVE_CONSTRAINTS",
    "compact_element",
    "element_id",
    "generate_snapshot",
    "parent_id",
]
