"""Finding and rewriting the references inside a resource, when it moves from one server to another.

Pure functions over resource dicts. A reference is local to the source server when it is relative
(``Goal/7``, ``Goal/7/_history/2``) or an absolute URL under the source's base; contained (``#x``),
``urn:`` and other servers' references mean the same on any server and are left alone.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from fhirbridge.references import reference_holders

# [type]/[id] with an optional /_history/[version]; FHIR ids are [A-Za-z0-9\-\.]{1,64}.
_LOCAL = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")

ResourceKey = tuple[str, str]


def local_key(reference: str, source_base: str) -> ResourceKey | None:
    """``(type, id)`` of a reference to a resource on the source server, else ``None``."""
    base = source_base.rstrip("/") + "/"
    if reference.startswith(base):
        reference = reference[len(base) :]
    match = _LOCAL.match(reference)
    if match is None:
        return None
    return match["type"], match["id"]


def local_keys(resource: Any, source_base: str) -> set[ResourceKey]:
    keys = set()
    for ref in reference_holders(resource):
        key = local_key(ref["reference"], source_base)
        if key is not None:
            keys.add(key)
    return keys


def rewrite_references(
    resource: dict[str, Any], target_of: Callable[[ResourceKey], str | None], source_base: str
) -> tuple[dict[str, Any], set[str]]:
    """A copy of ``resource`` whose source-local references point at the target.

    ``target_of`` gives the target's ``Type/id`` for a copied resource, or ``None`` for one that is not
    copied; those become absolute URLs on the source so they keep naming the same resource (a relative
    reference would silently name whatever the target holds at that id). Returns the copy and the
    absolute URLs it was left pointing at.
    """
    rewritten = copy.deepcopy(resource)
    external: set[str] = set()
    for ref in reference_holders(rewritten):
        key = local_key(ref["reference"], source_base)
        if key is None:
            continue
        target = target_of(key)
        if target is None:
            ref["reference"] = f"{source_base.rstrip('/')}/{key[0]}/{key[1]}"
            external.add(ref["reference"])
        else:
            ref["reference"] = target
    return rewritten, external


__all__ = ["ResourceKey", "local_key", "local_keys", "rewrite_references"]
