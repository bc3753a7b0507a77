"""Building Bundles from stored versions (history now; search and transaction responses reuse it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fhirbridge.formats import json as fhir_json
from fhirbridge.storage.clock import instant
from fhirbridge.storage.contract import HistoryPage, StoredVersion

_METHOD_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


def new_bundle(bundle_type: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(datetime.now(UTC))},
        "type": bundle_type,
    }


def history_entry(base_url: str, version: StoredVersion) -> dict[str, Any]:
    url = f"{version.resource_type}/{version.id}"
    entry: dict[str, Any] = {"fullUrl": f"{base_url}/{url}"}
    if version.content is not None:
        entry["resource"] = fhir_json.loads_stored(version.content)
    status = _METHOD_STATUS.get(version.method, "200 OK")
    if version.method == "PUT" and version.version_id == 1:
        status = "201 Created"
    entry["request"] = {"method": version.method, "url": version.resource_type if version.method == "POST" else url}
    entry["response"] = {
        "status": status,
        "etag": version.etag,
        "lastModified": instant(version.last_updated),
    }
    return entry


def page_links(
    base_url: str, path: str, params: dict[str, str], *, offset: int, count: int, total: int
) -> list[dict[str, str]]:
    """``self``, ``next`` and ``previous`` links of an offset-paged result."""

    def link(relation: str, page_offset: int) -> dict[str, str]:
        query = {**params, "_count": str(count)}
        if page_offset:
            query["_offset"] = str(page_offset)
        return {"relation": relation, "url": f"{base_url}/{path}?{urlencode(query)}".rstrip("?")}

    links = [link("self", offset)]
    if offset + count < total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(offset - count, 0)))
    return links


def history_bundle(
    base_url: str, path: str, page: HistoryPage, params: dict[str, str], *, offset: int, count: int
) -> dict[str, Any]:
    bundle = new_bundle("history")
    bundle["total"] = page.total
    bundle["link"] = page_links(
        base_url, path, {**params, "_till": str(page.till_seq)}, offset=offset, count=count, total=page.total
    )
    bundle["entry"] = [history_entry(base_url, version) for version in page.versions]
    return bundle


__all__ = ["history_bundle", "history_entry", "new_bundle", "page_links"]
