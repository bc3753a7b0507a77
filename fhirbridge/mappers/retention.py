"""Keeping a partner's data: what the record does not cover is retained and written back unchanged.

On import each resource is compared with what the record would write for it ("as read"). Every
top-level element that differs is retained with both versions. On export, an element whose freshly
written value still equals "as read" (the record did not change what it describes) is replaced by the
partner's original; where the record did change it, the record's value wins, merged element by element
with the partner's original where the shapes line up.
"""

from __future__ import annotations

import copy
import json
from difflib import SequenceMatcher
from typing import Any

from fhirbridge.mappers._fhir import Resource

__all__ = ["SERVER_META", "differences", "merge", "retain", "without_server_meta"]

SERVER_META = ("versionId", "lastUpdated", "source")
"""``meta`` elements a server sets on every write; they say nothing about the record."""

_ABSENT = object()


def without_server_meta(resource: Resource) -> Resource:
    meta = resource.get("meta")
    if not isinstance(meta, dict) or not any(key in meta for key in SERVER_META):
        return resource
    trimmed = {key: value for key, value in meta.items() if key not in SERVER_META}
    result = {key: value for key, value in resource.items() if key != "meta"}
    if trimmed:
        result["meta"] = trimmed
    return result


def retain(original: Resource, as_read: Resource) -> dict[str, Any]:
    """The elements of ``original`` that ``as_read`` does not reproduce, with both versions."""
    original = without_server_meta(original)
    kept: dict[str, Any] = {}
    for key in sorted(set(original) | set(as_read)):
        if _same(original.get(key, _ABSENT), as_read.get(key, _ABSENT)):
            continue
        entry: dict[str, Any] = {}
        if key in original:
            entry["original"] = copy.deepcopy(original[key])
        if key in as_read:
            entry["as_read"] = copy.deepcopy(as_read[key])
        kept[key] = entry
    return kept


def merge(written: Resource, kept: dict[str, Any] | None) -> Resource:
    """The resource to send: the record's elements, with retained partner elements put back."""
    if not kept:
        return written
    result = dict(written)
    for key, entry in kept.items():
        value = _merge_value(entry.get("original", _ABSENT), entry.get("as_read", _ABSENT), result.get(key, _ABSENT))
        if value is _ABSENT:
            result.pop(key, None)
        else:
            result[key] = copy.deepcopy(value)
    return _ordered(result)


def _merge_value(original: Any, as_read: Any, current: Any) -> Any:
    if _same(current, as_read):
        return original
    if isinstance(original, dict) and isinstance(as_read, dict) and isinstance(current, dict):
        merged = {}
        for key in list(current) + [k for k in original if k not in current]:
            value = _merge_value(original.get(key, _ABSENT), as_read.get(key, _ABSENT), current.get(key, _ABSENT))
            if value is not _ABSENT:
                merged[key] = value
        return merged
    if isinstance(original, list) and isinstance(as_read, list) and isinstance(current, list):
        return _merge_list(original, as_read, current)
    return current


def _merge_list(original: list[Any], as_read: list[Any], current: list[Any]) -> list[Any]:
    """Merge item by item, keeping the partner's items the record never held (an activity pointing at a
    MedicationRequest, say) where they stood, and dropping those the record held and has removed."""
    from_read = _align(as_read, original)  # as_read index -> original index
    from_current = _align(current, as_read)  # current index -> as_read index
    held = set(from_read.values())
    result: list[Any] = []
    placed: set[int] = set()

    def keep_partner_items_before(limit: int) -> None:
        for index in range(limit):
            if index not in held and index not in placed:
                placed.add(index)
                result.append(original[index])

    for index, item in enumerate(current):
        read_index = from_current.get(index)
        original_index = from_read.get(read_index) if read_index is not None else None
        if read_index is None or original_index is None:
            result.append(item)
            continue
        keep_partner_items_before(original_index)
        placed.add(original_index)
        result.append(_merge_value(original[original_index], as_read[read_index], item))
    keep_partner_items_before(len(original))
    return result


def _align(left: list[Any], right: list[Any]) -> dict[int, int]:
    """Which item of ``right`` each item of ``left`` stands for: equal items (ignoring displays and
    texts) in order, then, between them, the most similar item that keeps the order."""
    left_keys, right_keys = [_loose(item) for item in left], [_loose(item) for item in right]
    matcher = SequenceMatcher(a=left_keys, b=right_keys, autojunk=False)
    pairs: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs.update({i1 + offset: j1 + offset for offset in range(i2 - i1)})
        elif tag == "replace":
            start = j1
            for i in range(i1, i2):
                scored = [(_likeness(left[i], right[j], left_keys[i], right_keys[j]), j) for j in range(start, j2)]
                best = max(scored, default=((0.0, 0.0), -1), key=lambda pair: pair[0])
                if best[0][0] > 0:
                    pairs[i] = best[1]
                    start = best[1] + 1
    return pairs


def _likeness(left: Any, right: Any, left_key: str, right_key: str) -> tuple[float, float]:
    """How alike two list items are: the share of element names they have in common, then their text."""
    if isinstance(left, dict) and isinstance(right, dict):
        names = set(left) | set(right)
        shared = len(set(left) & set(right)) / len(names) if names else 1.0
    else:
        shared = 1.0 if type(left) is type(right) else 0.0
    return shared, SequenceMatcher(a=left_key, b=right_key).ratio()


def _loose(value: Any) -> str:
    def strip(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: strip(v) for k, v in item.items() if k not in ("display", "text")}
        if isinstance(item, list):
            return [strip(v) for v in item]
        return item

    return _canonical(strip(value))


def _same(left: Any, right: Any) -> bool:
    return left is right or (left is not _ABSENT and right is not _ABSENT and _canonical(left) == _canonical(right))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _ordered(resource: Resource) -> Resource:
    head = [key for key in ("resourceType", "id", "meta") if key in resource]
    return {**{key: resource[key] for key in head}, **{k: v for k, v in resource.items() if k not in head}}


def differences(original: Any, as_read: Any, path: str) -> list[tuple[str, bool]]:
    """Paths of the partner's elements that the record does not reproduce exactly, each with whether
    the record holds some of it (True) or nothing at all (False)."""
    if _same(original, as_read) or original is _ABSENT:
        return []
    if as_read is _ABSENT:
        return [(path, False)]
    if isinstance(original, dict) and isinstance(as_read, dict):
        found: list[tuple[str, bool]] = []
        for key in original:
            found.extend(differences(original[key], as_read.get(key, _ABSENT), f"{path}.{key}"))
        return found
    if isinstance(original, list) and isinstance(as_read, list) and len(original) == len(as_read):
        found = []
        for index, (left, right) in enumerate(zip(original, as_read, strict=True)):
            found.extend(differences(left, right, f"{path}[{index}]"))
        return found
    return [(path, True)]


ABSENT = _ABSENT
