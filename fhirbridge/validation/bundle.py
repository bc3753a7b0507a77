"""Rules on Bundles that the reference validator applies beyond the Bundle invariants.

They come from the R4 Bundle page ("fullUrl", "Resource URL & Uniqueness rules"): the identity of an
entry is an absolute URL, a RESTful one ends with the entry's type and id, and each link relation
appears once.
"""

from __future__ import annotations

import re
from typing import Any

from fhirbridge.errors import Issue

_RESTFUL = re.compile(r"^(https?://.+/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})(/_history/[^/]+)?$")
_REQUESTS = frozenset({"transaction", "batch", "transaction-response", "batch-response"})


def bundle_issues(bundle: dict[str, Any], path: str) -> list[Issue]:
    issues: list[Issue] = []
    relations: dict[str, int] = {}
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and isinstance(link.get("relation"), str):
            relations[link["relation"]] = relations.get(link["relation"], 0) + 1
    for relation, count in relations.items():
        if count > 1:
            issues.append(_error(f"{path}.link", f"The link relationship type '{relation}' can only occur once"))
    entries = bundle.get("entry") or []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        where = f"{path}.entry[{index}]"
        full_url = entry.get("fullUrl")
        resource = entry.get("resource")
        if full_url is None:
            if isinstance(resource, dict) and bundle.get("type") not in _REQUESTS:
                issues.append(
                    _error(
                        where,
                        "Except for transactions and batches, each entry in a Bundle must have a "
                        "fullUrl which is the identity of the resource in the entry",
                    )
                )
            continue
        if not isinstance(full_url, str):
            continue
        if ":" not in full_url:
            issues.append(_error(f"{where}.fullUrl", f"The fullUrl must be an absolute URL (not '{full_url}')"))
            continue
        restful = _RESTFUL.match(full_url)
        identity = (restful.group(2), restful.group(3)) if restful and restful.group(1) else None
        if identity and isinstance(resource, dict) and (resource.get("resourceType"), resource.get("id")) != identity:
            issues.append(
                _error(
                    f"{where}.fullUrl",
                    f"The fullUrl '{full_url}' looks like a RESTful server URL, so "
                    "it must end with the correct type and id",
                )
            )
    return issues


def bundle_targets(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries' resources by the references that reach them: fullUrl, and type/id (of a RESTful
    fullUrl, or of the resource) when only one entry has it."""
    if bundle.get("resourceType") != "Bundle":
        return {}
    targets: dict[str, dict[str, Any]] = {}
    by_identity: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            targets[full_url] = resource
            restful = _RESTFUL.match(full_url)
            if restful:
                by_identity.setdefault(f"{restful.group(2)}/{restful.group(3)}", []).append(resource)
                continue
        if isinstance(resource.get("id"), str):
            by_identity.setdefault(f"{resource.get('resourceType')}/{resource['id']}", []).append(resource)
    for identity, resources in by_identity.items():
        if len(resources) == 1:
            targets.setdefault(identity, resources[0])
    return targets


def _error(path: str, message: str) -> Issue:
    return Issue(message, "invalid", "error", (path,))


__all__ = ["bundle_issues", "bundle_targets"]
