"""``_summary`` and ``_elements``: cut a stored resource down to the parts a client asked for.

Untouched resources are served as stored; a cut one is parsed with the exact-decimal JSON reader so
what remains is byte-for-byte what the client wrote, and is marked ``SUBSETTED`` as R4 requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.formats import json as fhir_json
from fhirbridge.search.definitions import element_sets

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
ALWAYS = frozenset({"resourceType", "id", "meta"})


@dataclass(frozen=True)
class Shaping:
    summary: str = "false"  # true | false | count | text | data
    elements: tuple[str, ...] = ()

    @property
    def untouched(self) -> bool:
        return self.summary in ("false", "count") and not self.elements


def _matches(key: str, names: frozenset[str]) -> bool:
    if key in names:
        return True
    # A choice element ``value[x]`` is stored as ``valueQuantity`` etc.
    return any(key.startswith(n) and key[len(n) : len(n) + 1].isupper() for n in names)


def _keep(resource: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k in ALWAYS or _matches(k.lstrip("_"), names)}


def shape(content: bytes, resource_type: str, shaping: Shaping) -> bytes:
    if shaping.untouched:
        return content
    resource: dict[str, Any] = fhir_json.loads_stored(content)
    summary, mandatory = element_sets(resource_type)
    if shaping.summary == "true":
        resource = _keep(resource, summary)
    elif shaping.summary == "text":
        resource = _keep(resource, mandatory | {"text"})
    elif shaping.summary == "data":
        resource = {k: v for k, v in resource.items() if k != "text"}
    if shaping.elements:
        resource = _keep(resource, mandatory | frozenset(shaping.elements))
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    resource["meta"] = meta
    return fhir_json.dumps(resource)


__all__ = ["Shaping", "shape"]
