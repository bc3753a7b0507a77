"""Render a ``SearchResult`` as a FHIR ``searchset`` Bundle with self, next and previous links.

Stored resources are embedded as they are (``orjson.Fragment``), never parsed and re-serialised.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import orjson

from fhirbridge.errors import Issue, operation_outcome
from fhirbridge.formats import json as fhir_json
from fhirbridge.search.engine import SearchResult
from fhirbridge.search.request import CURSOR_PARAM


def search_url(base_url: str, path: str, params: list[tuple[str, str]]) -> str:
    url = f"{base_url.rstrip('/')}/{path.lstrip('/')}" if path else base_url.rstrip("/")
    return f"{url}?{urlencode(params)}" if params else url


def links(result: SearchResult, *, base_url: str, path: str) -> dict[str, str]:
    """``self`` (only the applied parameters), and ``next``/``previous`` when there are such pages."""
    found = {"self": search_url(base_url, path, result.applied)}
    if result.next_cursor:
        found["next"] = search_url(base_url, path, [*result.applied, (CURSOR_PARAM, result.next_cursor)])
    if result.previous_cursor:
        previous = [*result.applied, (CURSOR_PARAM, result.previous_cursor)]
        found["previous"] = search_url(base_url, path, previous)
    return found


def _bundle(result: SearchResult, base_url: str, path: str, embed: Any) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "searchset"}
    if result.total is not None:
        bundle["total"] = result.total
    found = links(result, base_url=base_url, path=path)
    bundle["link"] = [{"relation": relation, "url": url} for relation, url in found.items()]
    entries = [
        {
            "fullUrl": f"{base_url.rstrip('/')}/{e.resource_type}/{e.id}",
            "resource": embed(e.content),
            "search": {"mode": e.mode},
        }
        for e in result.entries
    ]
    if result.ignored:
        issues = [
            Issue(
                f"Search parameter '{name}' is not supported here and was ignored",
                code="not-supported",
                severity="warning",
                expression=(name,),
            )
            for name in result.ignored
        ]
        entries.append({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def searchset_bytes(result: SearchResult, *, base_url: str, path: str) -> bytes:
    """The Bundle as FHIR JSON, with the stored resources embedded verbatim."""
    return orjson.dumps(_bundle(result, base_url, path, orjson.Fragment))


def searchset_dict(result: SearchResult, *, base_url: str, path: str) -> dict[str, Any]:
    """The Bundle as a dict (exact decimals), for renderers that need a tree such as XML."""
    bundle: dict[str, Any] = _bundle(result, base_url, path, fhir_json.loads)
    return bundle


__all__ = ["links", "search_url", "searchset_bytes", "searchset_dict"]
