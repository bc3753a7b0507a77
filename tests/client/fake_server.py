"""An in-memory FHIR server behind `responses`: just enough REST for the sync (read, search by patient or
identifier, create, update with If-Match, conditional update), versioned like a real one."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

from fhirbridge.formats import json as fhir_json

Answer = tuple[int, dict[str, str], str]
_UNESCAPE = re.compile(r"\\([\\,$|])")


class FakeFhirServer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.versions: dict[tuple[str, str], list[dict[str, Any] | None]] = {}

    def register(self, mock: responses.RequestsMock) -> None:
        pattern = re.compile(re.escape(self.base_url) + r"(/.*)?$")
        for method in ("GET", "POST", "PUT"):
            mock.add_callback(method, pattern, callback=self._handle)

    def current(self, resource_type: str, id: str) -> dict[str, Any] | None:
        versions = self.versions.get((resource_type, id))
        return versions[-1] if versions else None

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        found = (self.current(t, id) for (t, id) in self.versions if t == resource_type)
        return [resource for resource in found if resource is not None]

    # -- HTTP ------------------------------------------------------------------------------------------

    def _handle(self, request: Any) -> Answer:
        parts = urlsplit(request.url)
        path = [part for part in parts.path[len(urlsplit(self.base_url).path) :].split("/") if part]
        query = dict(parse_qsl(parts.query))
        body = fhir_json.loads(request.body) if request.body else None
        if request.method == "GET" and len(path) == 2:
            return self._read(*path)
        if request.method == "GET" and len(path) == 1:
            return self._search(path[0], query)
        if request.method == "POST" and len(path) == 1:
            return self._store(path[0], str(uuid.uuid4()), body)
        if request.method == "PUT" and len(path) == 2:
            return self._update(path[0], path[1], body, request.headers.get("If-Match"))
        if request.method == "PUT" and len(path) == 1:
            return self._conditional_update(path[0], query, body)
        return _outcome(405, f"{request.method} {parts.path} is not supported")

    def _read(self, resource_type: str, id: str) -> Answer:
        if (resource_type, id) not in self.versions:
            return _outcome(404, f"{resource_type}/{id} is not known")
        current = self.current(resource_type, id)
        return (200, {}, _dump(current)) if current else _outcome(410, "deleted")

    def _search(self, resource_type: str, query: dict[str, str]) -> Answer:
        matches = self._match(resource_type, query)
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(matches)}
        bundle["entry"] = [{"resource": resource, "search": {"mode": "match"}} for resource in matches]
        return 200, {}, _dump(bundle)

    def _match(self, resource_type: str, query: dict[str, str]) -> list[dict[str, Any]]:
        matches = self.of_type(resource_type)
        if "patient" in query:
            matches = [resource for resource in matches if _about_patient(resource, query["patient"])]
        if "identifier" in query:
            system, value = (
                _UNESCAPE.sub(r"\1", part) for part in re.split(r"(?<!\\)\|", query["identifier"], maxsplit=1)
            )
            matches = [resource for resource in matches if _has_identifier(resource, system, value)]
        return matches

    def _update(self, resource_type: str, id: str, body: Any, if_match: str | None) -> Answer:
        current = self.current(resource_type, id)
        if if_match is not None:
            version = current["meta"]["versionId"] if current else None
            if if_match != f'W/"{version}"':
                return _outcome(412, f"If-Match {if_match} but the current version is {version}")
        return self._store(resource_type, id, body)

    def _conditional_update(self, resource_type: str, query: dict[str, str], body: Any) -> Answer:
        matches = self._match(resource_type, query)
        if len(matches) > 1:
            return _outcome(412, "several matches")
        id = matches[0]["id"] if matches else body.get("id") or str(uuid.uuid4())
        if not matches and self.current(resource_type, id) is not None:
            return _outcome(409, f"{resource_type}/{id} exists but does not match")
        return self._store(resource_type, id, body)

    def _store(self, resource_type: str, id: str, body: Any) -> Answer:
        versions = self.versions.setdefault((resource_type, id), [])
        stored = {
            **body,
            "id": id,
            "meta": {
                **(body.get("meta") or {}),
                "versionId": str(len(versions) + 1),
                "lastUpdated": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            },
        }
        versions.append(stored)
        status = 201 if len(versions) == 1 else 200
        headers = {"ETag": f'W/"{len(versions)}"', "Location": f"{self.base_url}/{resource_type}/{id}/_history/1"}
        return status, headers, _dump(stored)


def _about_patient(resource: dict[str, Any], patient: str) -> bool:
    return any((resource.get(name) or {}).get("reference") == patient for name in ("subject", "patient", "for"))


def _has_identifier(resource: dict[str, Any], system: str, value: str) -> bool:
    identifiers = resource.get("identifier") or []
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    return any(i.get("system") == system and i.get("value") == value for i in identifiers)


def _dump(value: Any) -> str:
    return fhir_json.dumps(value).decode()


def _outcome(status: int, text: str) -> Answer:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }
    return status, {}, json.dumps(body)
