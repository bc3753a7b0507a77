"""Transaction and batch Bundles (FHIR R4 3.1.0.11).

A transaction is all-or-nothing: every entry runs inside one database transaction, in the order the
specification sets (DELETE, POST, PUT/PATCH, GET), after every ``urn:uuid`` and conditional reference
has been resolved to the id it will have. One bad entry fails the whole Bundle with an
OperationOutcome naming it (``Bundle.entry[3]...``), and nothing is written. A batch runs each entry
on its own and reports each outcome in its response entry.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from fhirbridge.engine.bundles import new_bundle
from fhirbridge.engine.integrity import expect_writes
from fhirbridge.engine.interactions import FhirEngine, InteractionResult, new_id, resource_of, take_turns
from fhirbridge.engine.resource_types import require_id, require_type
from fhirbridge.engine.searching import parse_criteria
from fhirbridge.engine.stores import Searcher
from fhirbridge.errors import BadRequest, FhirError, Issue, NotFound, PayloadTooLarge, PreconditionFailed
from fhirbridge.formats import json as fhir_json
from fhirbridge.references import reference_holders
from fhirbridge.search import searchset_dict
from fhirbridge.security.access import Access, AuditedEntity
from fhirbridge.security.guard import check_read_version, require_visible_resource
from fhirbridge.storage.clock import instant
from fhirbridge.storage.contract import Resource, WriteTransaction

# The order in which a transaction's entries are processed (R4 3.1.0.11.2).
METHOD_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}
JSON_PATCH = "application/json-patch+json"


@dataclass
class Entry:
    """One request entry of the Bundle, parsed."""

    index: int
    method: str
    resource_type: str
    id: str | None
    criteria: str | None
    full_url: str | None
    resource: Resource | None
    if_match: str | None
    if_none_exist: str | None
    version_id: str | None = None
    # Where the entry's resource will live once written (decided before any write happens).
    target_id: str | None = None
    patch: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}]"

    def copy(self) -> Entry:
        """A copy an attempt may change freely (its JSON parts copied, the rest immutable)."""
        return replace(
            self,
            resource=fhir_json.copy_tree(self.resource),
            patch=fhir_json.copy_tree(self.patch),
            extra=fhir_json.copy_tree(self.extra),
        )


class BundleProcessor:
    def __init__(self, engine: FhirEngine, *, max_entries: int, searcher: Searcher | None = None) -> None:
        self.engine = engine
        self.max_entries = max_entries
        self.searcher = searcher

    def process(
        self, access: Access, bundle: Any, base_url: str, *, return_preference: str = "representation"
    ) -> dict[str, Any]:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise BadRequest("POST to the base URL takes a transaction or batch Bundle", expression="resourceType")
        kind = bundle.get("type")
        if kind not in ("transaction", "batch"):
            raise BadRequest(f"Bundle.type must be transaction or batch, not {kind!r}", expression="Bundle.type")
        raw_entries = bundle.get("entry") or []
        if not isinstance(raw_entries, list):
            raise BadRequest("Bundle.entry must be an array", expression="Bundle.entry")
        if len(raw_entries) > self.max_entries:
            raise PayloadTooLarge(
                f"The Bundle has {len(raw_entries)} entries; this server takes at most {self.max_entries}",
                expression="Bundle.entry",
            )
        try:
            _refuse_duplicate_full_urls(raw_entries)
            if kind == "batch":
                response = self._batch(access, raw_entries, base_url, return_preference)
            else:
                response = self._transaction(access, raw_entries, base_url, return_preference)
        except FhirError as error:
            # A refused transaction is audited with what each entry asked for.
            access.note(audited_entries(raw_entries, [], error.status))
            raise
        access.note(audited_entries(raw_entries, response.get("entry") or [], None))
        return response

    # -- transaction ---------------------------------------------------------------------------------

    def _transaction(self, access: Access, raw_entries: list[Any], base_url: str, preference: str) -> dict[str, Any]:
        # An attempt changes its entries, and a retry (a concurrent writer won a race) starts from the
        # request as it came; kept as JSON text, which costs far less than copying every entry up front.
        pristine = fhir_json.dumps(raw_entries)
        untouched = [_parse_entries(raw_entries)]  # the first attempt's; any later one parses again

        def work(tx: WriteTransaction) -> list[dict[str, Any]]:
            attempt = untouched.pop() if untouched else _parse_entries(fhir_json.loads(pristine))
            references = self._assign_targets(access, tx, attempt, base_url)
            # References between entries hold whatever order the entries are written in.
            expect_writes(tx, (f"{e.resource_type}/{e.target_id}" for e in attempt if e.target_id and e.resource))
            for entry in attempt:
                if entry.resource is not None:
                    _named(
                        entry.index,
                        partial(rewrite_references, access, entry.resource, references, tx, self.engine),
                    )
            responses: dict[int, dict[str, Any]] = {}
            for entry in sorted(attempt, key=lambda e: (METHOD_ORDER[e.method], e.index)):
                responses[entry.index] = _named(
                    entry.index, partial(self._execute, access, tx, entry, base_url, preference)
                )
            return [responses[index] for index in range(len(attempt))]

        response_entries: list[dict[str, Any]] = self.engine.repository.run_write(work)
        response = new_bundle("transaction-response")
        response["entry"] = response_entries
        return response

    def _assign_targets(
        self, access: Access, tx: WriteTransaction, entries: list[Entry], base_url: str
    ) -> dict[str, str]:
        """Decide each written resource's id, and map every fullUrl to its final ``Type/id``."""
        # Entries that create when nothing matches wait here for concurrent writers with the same criteria,
        # all before the first match, so each match below sees what those writers created.
        take_turns(tx, _creating_criteria(entries))
        references: dict[str, str] = {}
        for entry in entries:
            if entry.method == "POST":
                matches = []
                if entry.if_none_exist:
                    matches = _named(
                        entry.index, partial(self.engine.match, access, tx, entry.resource_type, entry.if_none_exist)
                    )
                if len(matches) > 1:
                    raise _at(entry, PreconditionFailed(f"{len(matches)} resources match ifNoneExist"))
                entry.target_id = matches[0] if matches else new_id()
                entry.extra["existing"] = bool(matches)
            elif entry.method in ("PUT", "PATCH") and entry.criteria is not None:
                matches = _named(
                    entry.index, partial(self.engine.match, access, tx, entry.resource_type, entry.criteria)
                )
                if len(matches) > 1:
                    raise _at(entry, PreconditionFailed(f"{len(matches)} resources match {entry.criteria}"))
                body_id = (entry.resource or {}).get("id")
                entry.target_id = matches[0] if matches else (body_id or new_id())
            else:
                entry.target_id = entry.id
            if entry.full_url and entry.target_id and entry.method in ("POST", "PUT", "PATCH"):
                local = f"{entry.resource_type}/{entry.target_id}"
                references[entry.full_url] = local
                if entry.id is not None:
                    # An absolute fullUrl on this server is also reachable as its relative form.
                    references.setdefault(f"{base_url}/{entry.resource_type}/{entry.id}", local)
        return references

    def _execute(
        self, access: Access, tx: WriteTransaction, entry: Entry, base_url: str, preference: str
    ) -> dict[str, Any]:
        engine = self.engine
        result: InteractionResult
        if entry.method == "POST":
            assert entry.resource is not None
            if entry.extra.get("existing"):
                # An ifNoneExist match (only ever one the caller may see) is answered: a read.
                existing = tx.current(entry.resource_type, entry.target_id or "")
                if existing is not None:
                    check_read_version(access, existing)
                result = InteractionResult(200, existing)
            else:
                result = engine.create_in(access, tx, entry.resource_type, entry.resource, id=entry.target_id)
        elif entry.method == "PUT":
            assert entry.resource is not None and entry.target_id is not None
            entry.resource["id"] = entry.target_id
            result = engine.update_in(
                access, tx, entry.resource_type, entry.target_id, entry.resource, if_match=entry.if_match
            )
        elif entry.method == "PATCH":
            assert entry.target_id is not None
            result = engine.patch_in(
                access, tx, entry.resource_type, entry.target_id, entry.patch, if_match=entry.if_match
            )
        elif entry.method == "DELETE":
            if entry.criteria is not None:
                result = engine.conditional_delete_in(access, tx, entry.resource_type, entry.criteria)
            else:
                result = engine.delete_in(access, tx, entry.resource_type, entry.id or "", if_match=entry.if_match)
        else:
            return self._read(access, tx, entry, base_url)
        return response_entry(result, base_url, preference)

    def _read(self, access: Access, tx: WriteTransaction, entry: Entry, base_url: str) -> dict[str, Any]:
        """A read or search entry, under the caller's access: a search counts and links only what it may
        see, a resource it may not see is answered as one that does not exist."""
        access.require(entry.resource_type, "r" if entry.id is not None else "s")
        if entry.id is None:
            if self.searcher is None:
                raise BadRequest("Searching needs the search engine, which is not configured")
            result = self.searcher(access, tx, entry.resource_type, parse_criteria(entry.criteria or ""), base_url)
            bundle = searchset_dict(result, base_url=base_url, path=entry.resource_type)
            return {"resource": bundle, "response": {"status": "200 OK"}}
        version = tx.current(entry.resource_type, entry.id)
        if version is None:
            raise NotFound(f"{entry.resource_type}/{entry.id} is not known")
        require_visible_resource(access, entry.resource_type, entry.id, self.engine.latest_content)
        if entry.version_id is not None:
            version = self.engine.repository.vread(entry.resource_type, entry.id, int(entry.version_id))
            if version is None:
                raise NotFound(f"{entry.resource_type}/{entry.id} is not known")
        if version.content is None:
            return {"response": {"status": "410 Gone", "etag": version.etag}}
        check_read_version(access, version)
        return {
            "resource": resource_of(version),
            "response": {"status": "200 OK", "etag": version.etag, "lastModified": instant(version.last_updated)},
        }

    # -- batch ---------------------------------------------------------------------------------------

    def _batch(self, access: Access, raw_entries: list[Any], base_url: str, preference: str) -> dict[str, Any]:
        response = new_bundle("batch-response")
        response["entry"] = [
            self._batch_entry(access, index, raw, base_url, preference) for index, raw in enumerate(raw_entries)
        ]
        return response

    def _batch_entry(self, access: Access, index: int, raw: Any, base_url: str, preference: str) -> dict[str, Any]:
        try:
            entry = _named(index, partial(parse_entry, index, raw))

            def work(tx: WriteTransaction) -> dict[str, Any]:
                attempt = entry.copy()
                self._assign_targets(access, tx, [attempt], base_url)
                if attempt.resource is not None:
                    rewrite_references(access, attempt.resource, {}, tx, self.engine)
                return self._execute(access, tx, attempt, base_url, preference)

            result: dict[str, Any] = self.engine.repository.run_write(work)
            return result
        except FhirError as error:
            return {"response": {"status": str(error.status), "outcome": error.operation_outcome()}}


# -- parsing ----------------------------------------------------------------------------------------------


def parse_entry(index: int, raw: Any) -> Entry:
    if not isinstance(raw, dict):
        raise BadRequest("An entry must be an object")
    request = raw.get("request")
    if not isinstance(request, dict):
        raise BadRequest("The entry has no request", expression="request")
    method = request.get("method")
    url = request.get("url")
    if method not in METHOD_ORDER or not isinstance(url, str) or not url:
        raise BadRequest("entry.request needs a method (GET, POST, PUT, PATCH, DELETE) and a url", expression="request")
    path, _, query = url.partition("?")
    parts = [part for part in urlsplit(path).path.split("/") if part]
    if not parts:
        raise BadRequest(f"'{url}' names no resource type", expression="request.url")
    resource_type = require_type(parts[0])
    id = require_id(parts[1], expression="request.url") if len(parts) > 1 else None
    version_id = parts[3] if len(parts) == 4 and parts[2] == "_history" else None
    if version_id is not None and not version_id.isdigit():
        raise BadRequest(f"'{version_id}' is not a version number", expression="request.url")
    resource = raw.get("resource")
    entry = Entry(
        index=index,
        method=method,
        resource_type=resource_type,
        id=id,
        criteria=query or None,
        full_url=raw.get("fullUrl"),
        resource=resource,
        if_match=request.get("ifMatch"),
        if_none_exist=request.get("ifNoneExist"),
        version_id=version_id,
    )
    if method == "POST":
        FhirEngine.check_create(resource_type, resource)
    elif method == "PUT":
        if id is None and not query:
            raise BadRequest("PUT needs Type/id or Type?criteria", expression="request.url")
        if id is not None:
            FhirEngine.check_update(resource_type, id, resource)
        else:
            FhirEngine.check_body(resource_type, resource)
    elif method == "PATCH":
        entry.patch = _patch_operations(resource)
        entry.resource = None
        if id is None and not query:
            raise BadRequest("PATCH needs Type/id or Type?criteria", expression="request.url")
    elif method == "DELETE" and id is None and not query:
        raise BadRequest("DELETE needs Type/id or Type?criteria", expression="request.url")
    return entry


def _patch_operations(resource: Any) -> Any:
    """A JSON Patch travels in a transaction as a Binary (R4 3.1.0.11.2)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise BadRequest("A PATCH entry carries its JSON Patch as a Binary resource", expression="resource")
    if resource.get("contentType") != JSON_PATCH:
        raise BadRequest(f"The Binary's contentType must be {JSON_PATCH}", expression="resource.contentType")
    try:
        return fhir_json.loads(base64.b64decode(resource.get("data", ""), validate=True))
    except (binascii.Error, ValueError):
        raise BadRequest("The Binary's data is not a base64 JSON Patch", expression="resource.data") from None


def _creating_criteria(entries: list[Entry]) -> list[tuple[str, str]]:
    """The (type, criteria) of each entry that creates a resource when its criteria match none."""
    found: list[tuple[str, str]] = []
    for entry in entries:
        if entry.method == "POST" and entry.if_none_exist:
            found.append((entry.resource_type, entry.if_none_exist))
        elif entry.method == "PUT" and entry.criteria is not None:
            found.append((entry.resource_type, entry.criteria))
    return found


def _refuse_duplicate_full_urls(raw_entries: list[Any]) -> None:
    """A fullUrl names one entry: two entries with one fullUrl leave references to it ambiguous."""
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_entries):
        full_url = raw.get("fullUrl") if isinstance(raw, dict) else None
        if not isinstance(full_url, str):
            continue
        if full_url in seen:
            raise BadRequest(
                f"Entries {seen[full_url]} and {index} have the same fullUrl {full_url}; a fullUrl names one entry",
                expression=f"Bundle.entry[{index}].fullUrl",
            )
        seen[full_url] = index


def _refuse_duplicates(entries: list[Entry]) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.method in ("PUT", "PATCH", "DELETE") and entry.id is not None:
            key = f"{entry.resource_type}/{entry.id}"
            if key in seen:
                raise BadRequest(
                    f"Entries {seen[key]} and {entry.index} both write {key}; a transaction may touch a resource once",
                    expression=f"Bundle.entry[{entry.index}].request.url",
                )
            seen[key] = entry.index


# -- the audit trail ------------------------------------------------------------------------------------

BUNDLE_INTERACTIONS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def audited_entries(requests: list[Any], responses: list[dict[str, Any]], failed: int | None) -> list[AuditedEntity]:
    """What each entry of a Bundle touched, for its AuditEvent: the resource (as written, when the response
    says where) or the request URL, the interaction, and the entry's own status."""
    found: list[AuditedEntity] = []
    for index, raw in enumerate(requests):
        request = raw.get("request") if isinstance(raw, dict) else None
        if not isinstance(request, dict):
            continue
        method, url = str(request.get("method", "")), str(request.get("url", ""))
        answer = responses[index].get("response", {}) if index < len(responses) else {}
        location = str(answer.get("location") or "")
        reference = _reference_in(location) if location else url.split("?")[0].strip("/")
        searched = method == "GET" and ("?" in url or "/" not in url.strip("/"))
        interaction = (
            ("search-type" if searched else "read")
            if method in ("GET", "HEAD")
            else BUNDLE_INTERACTIONS.get(method, method.lower())
        )
        status = failed if failed is not None else _status_code(str(answer.get("status", "")))
        found.append(AuditedEntity(reference, interaction, status))
    return found


def _reference_in(location: str) -> str:
    """``[base/]Goal/7/_history/2`` -> ``Goal/7``."""
    parts = location.rstrip("/").split("/")
    end = parts.index("_history") if "_history" in parts else len(parts)
    return "/".join(parts[max(end - 2, 0) : end])


def _status_code(text: str) -> int:
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


# -- references -----------------------------------------------------------------------------------------


def rewrite_references(
    access: Access, resource: Resource, references: dict[str, str], tx: WriteTransaction, engine: FhirEngine
) -> None:
    for holder in reference_holders(resource):
        value: str = holder["reference"]
        if value in references:
            holder["reference"] = references[value]
        elif value.startswith("urn:uuid:") or value.startswith("urn:oid:"):
            raise BadRequest(f"The reference {value} names no entry of this transaction", expression="reference")
        elif "?" in value and not value.startswith(("#", "http:", "https:")):
            holder["reference"] = _resolve_conditional(access, tx, engine, value)


def _resolve_conditional(access: Access, tx: WriteTransaction, engine: FhirEngine, value: str) -> str:
    resource_type, _, criteria = value.partition("?")
    require_type(resource_type)
    # Only among what the caller may see: a hidden resource neither resolves nor counts.
    matches = engine.match(access, tx, resource_type, criteria)
    if len(matches) != 1:
        raise PreconditionFailed(
            f"The conditional reference {value} matches {len(matches)} resources; it must match exactly one",
            expression="reference",
        )
    return f"{resource_type}/{matches[0]}"


# -- responses and errors ---------------------------------------------------------------------------------


def response_entry(result: InteractionResult, base_url: str, preference: str) -> dict[str, Any]:
    response: dict[str, Any] = {"status": STATUS_TEXT.get(result.status, str(result.status))}
    entry: dict[str, Any] = {"response": response}
    version = result.version
    if version is None:
        return entry
    response["etag"] = version.etag
    response["lastModified"] = instant(version.last_updated)
    if version.content is not None:
        response["location"] = f"{version.resource_type}/{version.id}/_history/{version.version_id}"
        entry["fullUrl"] = f"{base_url}/{version.resource_type}/{version.id}"
        if preference == "representation":
            entry["resource"] = resource_of(version)
    return entry


def _parse_entries(raw_entries: list[Any]) -> list[Entry]:
    entries = [_named(index, partial(parse_entry, index, raw)) for index, raw in enumerate(raw_entries)]
    _refuse_duplicates(entries)
    return entries


def _named(index: int, action: Callable[[], Any]) -> Any:
    """Run one entry's step; an error it raises is re-raised naming the entry."""
    try:
        return action()
    except FhirError as error:
        raise _at_index(index, error) from None


def _at(entry: Entry, error: FhirError) -> FhirError:
    return _at_index(entry.index, error)


def _at_index(index: int, error: FhirError) -> FhirError:
    prefix = f"Bundle.entry[{index}]"
    if any(issue.diagnostics.startswith(prefix) for issue in error.issues):
        return error
    issues = [
        Issue(
            diagnostics=f"{prefix}: {issue.diagnostics}",
            code=issue.code,
            severity=issue.severity,
            expression=tuple(_entry_expression(prefix, e) for e in issue.expression) or (prefix,),
        )
        for issue in error.issues
    ]
    return type(error)(issues=issues)


def _entry_expression(prefix: str, expression: str) -> str:
    """``Patient.birthDate`` -> ``Bundle.entry[2].resource.birthDate``; ``request.url`` -> under the entry."""
    head, dot, rest = expression.partition(".")
    if head[:1].isupper():
        return f"{prefix}.resource{dot}{rest}"
    return f"{prefix}.{expression}"


__all__ = ["BundleProcessor", "Entry", "parse_entry", "response_entry", "rewrite_references"]
