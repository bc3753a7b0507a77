"""References inside FHIR resources: finding every one, and pointing them somewhere else.

Shared by the transaction engine (``urn:uuid`` fullUrls), the mappers (aliases of a partner's ids), the
sync client and the conformance check (ids on another server); ``RELATIVE_REFERENCE`` by the write
path's reference check and the bulk import's grouping of lines that refer to one another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# A relative reference to a resource on this server: ``Type/id`` or ``Type/id/_history/version`` (groups:
# type, id, version or None), matched whole (``fullmatch``).
RELATIVE_REFERENCE = re.compile(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?")


def reference_holders(value: Any) -> Iterator[dict[str, Any]]:
    """Every Reference (a dict whose ``reference`` is a string) anywhere inside ``value``."""
    # Iterative, so a deeply nested resource cannot exhaust the stack.
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                yield node
            stack.extend(child for child in node.values() if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            stack.extend(child for child in node if isinstance(child, (dict, list)))


def replace_references(value: Any, targets: Mapping[str, str]) -> None:
    """Point every reference found in ``targets`` at its new value, in place."""
    for holder in reference_holders(value):
        new = targets.get(holder["reference"])
        if new is not None:
            holder["reference"] = new


__all__ = ["RELATIVE_REFERENCE", "reference_holders", "replace_references"]
