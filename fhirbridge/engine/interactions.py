"""FHIR RESTful interactions, independent of HTTP.

Each interaction is a short method that validates, runs one atomic write (or a read) through the
repository, and returns an ``InteractionResult`` the HTTP layer turns into a response. Conditional
variants resolve their criteria through a ``Matcher`` (the search engine) inside the same transaction,
so a conditional write is as atomic as a plain one.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import jsonpatch

from fhirbridge.engine.referrals import check_referral_task
from fhirbridge.engine.resource_types import require_id, require_type
from fhirbridge.engine.validation import check_resource
from fhirbridge.errors import BadRequest, Conflict, Gone, NotFound, PreconditionFailed, Unprocessable
from fhirbridge.formats import json as fhir_json
from fhirbridge.storage.contract import HistoryPage, Repository, Resource, StoredVersion, WriteTransaction


class Matcher(Protocol):
    """Finds the ids of current resources matching search criteria (for conditional interactions)."""

    def match_ids(self, conn: Any, resource_type: str, criteria: str, *, visible: Any = None) -> list[str]: ...


WriteRule = Callable[[Resource | None, Resource], None]


@dataclass
class InteractionResult:
    status: int
    version: StoredVersion | None = None
    # An OperationOutcome or other body to send instead of the stored resource.
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def created(self) -> bool:
        return self.status == 201


def parse_etag(value: str) -> int:
    """``W/"3"`` or ``"3"`` or ``3`` -> 3."""
    text = value.strip()
    text = text.removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"'{value}' is not a version ETag like W/\"3\"", expression="If-Match") from None


class FhirEngine:
    def __init__(self, repository: Repository, *, matcher: Matcher | None = None) -> None:
        self.repository = repository
        self.matcher = matcher
        # Business rules per resource type, run on every write with the previous and the new content.
        self.rules: dict[str, list[WriteRule]] = {"Task": [check_referral_task]}

    # -- reads ---------------------------------------------------------------------------------------

    def read(self, resource_type: str, id: str) -> StoredVersion:
        require_type(resource_type)
        require_id(id)
        return _current(resource_type, id, self.repository.read(resource_type, id))

    async def read_async(self, resource_type: str, id: str) -> StoredVersion:
        """``read`` for the server's event loop (the plain-read path)."""
        require_type(resource_type)
        require_id(id)
        return _current(resource_type, id, await self.repository.read_async(resource_type, id))

    def vread(self, resource_type: str, id: str, version_id: str) -> StoredVersion:
        require_type(resource_type)
        require_id(id)
        if not version_id.isdigit():
            raise NotFound(f"{resource_type}/{id} has no version '{version_id}'")
        version = self.repository.vread(resource_type, id, int(version_id))
        if version is None:
            raise NotFound(f"{resource_type}/{id} has no version {version_id}")
        if version.deleted:
            raise Gone(f"Version {version_id} of {resource_type}/{id} is a deletion")
        return version

    def history(
        self,
        resource_type: str | None,
        id: str | None,
        *,
        since: datetime | None,
        at: datetime | None,
        count: int,
        offset: int,
        till_seq: int | None,
    ) -> HistoryPage:
        if resource_type is not None:
            require_type(resource_type)
        if id is not None:
            require_id(id)
        return self.repository.history(
            resource_type=resource_type, id=id, since=since, at=at, count=count, offset=offset, till_seq=till_seq
        )

    # -- writes --------------------------------------------------------------------------------------
    # Each write has a public form (validate, then run in its own atomic transaction) and an ``*_in``
    # form that runs inside a transaction the caller holds, so a transaction Bundle can chain them.

    def create(self, resource_type: str, resource: Any, *, if_none_exist: str | None = None) -> InteractionResult:
        self.check_create(resource_type, resource)
        return self._run(lambda tx: self.create_in(tx, resource_type, resource, if_none_exist=if_none_exist))

    @staticmethod
    def check_create(resource_type: str, resource: Any) -> None:
        require_type(resource_type)
        # The server assigns the id of a created resource; a client's id is ignored (R4 3.1.0.8.1).
        if isinstance(resource, dict):
            resource.pop("id", None)
        check_resource(resource, expected_type=resource_type)

    def create_in(
        self,
        tx: WriteTransaction,
        resource_type: str,
        resource: Resource,
        *,
        if_none_exist: str | None = None,
        id: str | None = None,
    ) -> InteractionResult:
        if if_none_exist is not None:
            matches = self._match(tx, resource_type, if_none_exist)
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"{len(matches)} {resource_type} resources match If-None-Exist: {if_none_exist}"
                )
            if matches:
                return InteractionResult(200, tx.current(resource_type, matches[0]))
        self._check_rules(resource_type, None, resource)
        # Created resources always get an id the server has just generated (here or by the transaction).
        stored = tx.put(resource_type, id or new_id(), copy.copy(resource), method="POST", fresh=True)
        return InteractionResult(201, stored)

    def update(self, resource_type: str, id: str, resource: Any, *, if_match: str | None = None) -> InteractionResult:
        self.check_update(resource_type, id, resource)
        return self._run(lambda tx: self.update_in(tx, resource_type, id, resource, if_match=if_match))

    @staticmethod
    def check_update(resource_type: str, id: str, resource: Any) -> None:
        require_type(resource_type)
        require_id(id)
        check_resource(resource, expected_type=resource_type)
        if "id" not in resource:
            raise BadRequest("An updated resource must carry its id", expression=f"{resource_type}.id")
        if resource["id"] != id:
            raise BadRequest(
                f"The id in the body ({resource['id']}) does not match the URL ({id})", expression=f"{resource_type}.id"
            )

    def update_in(
        self, tx: WriteTransaction, resource_type: str, id: str, resource: Resource, *, if_match: str | None = None
    ) -> InteractionResult:
        current = tx.current(resource_type, id)
        self._check_version(resource_type, id, current, parse_etag(if_match) if if_match else None)
        self._check_rules(resource_type, current, resource)
        stored = tx.put(resource_type, id, copy.copy(resource), method="PUT")
        # Decided by the write itself: a concurrent creator may have committed since ``current`` was read.
        return InteractionResult(201 if stored.created else 200, stored)

    @staticmethod
    def check_body(resource_type: str, resource: Any) -> None:
        require_type(resource_type)
        check_resource(resource, expected_type=resource_type)

    def conditional_update(self, resource_type: str, criteria: str, resource: Any) -> InteractionResult:
        self.check_body(resource_type, resource)
        return self._run(lambda tx: self.conditional_update_in(tx, resource_type, criteria, resource))

    def conditional_update_in(
        self, tx: WriteTransaction, resource_type: str, criteria: str, resource: Resource
    ) -> InteractionResult:
        matches = self._match(tx, resource_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(f"{len(matches)} {resource_type} resources match {criteria}")
        if matches:
            id = matches[0]
            if resource.get("id", id) != id:
                raise BadRequest(
                    f"The id in the body ({resource['id']}) is not the matched resource ({id})",
                    expression=f"{resource_type}.id",
                )
            self._check_rules(resource_type, tx.current(resource_type, id), resource)
            return InteractionResult(200, tx.put(resource_type, id, copy.copy(resource), method="PUT"))
        id = resource.get("id") or new_id()
        existing = tx.current(resource_type, id)
        if existing is not None and not existing.deleted:
            raise Conflict(f"{resource_type}/{id} exists but does not match {criteria}")
        self._check_rules(resource_type, None, resource)
        return InteractionResult(201, tx.put(resource_type, id, copy.copy(resource), method="PUT"))

    def patch(self, resource_type: str, id: str, operations: Any, *, if_match: str | None = None) -> InteractionResult:
        require_type(resource_type)
        require_id(id)
        return self._run(lambda tx: self.patch_in(tx, resource_type, id, operations, if_match=if_match))

    def patch_in(
        self, tx: WriteTransaction, resource_type: str, id: str, operations: Any, *, if_match: str | None = None
    ) -> InteractionResult:
        if not isinstance(operations, list):
            raise BadRequest("A JSON Patch body is an array of operations", code="structure")
        current = tx.current(resource_type, id)
        self._check_version(resource_type, id, current, parse_etag(if_match) if if_match else None)
        if current is None:
            raise NotFound(f"{resource_type}/{id} is not known")
        if current.content is None:
            raise Gone(f"{resource_type}/{id} was deleted")
        try:
            patched = jsonpatch.apply_patch(fhir_json.loads_stored(current.content), operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            raise Unprocessable(f"The patch cannot be applied: {exc}", code="processing") from None
        if not isinstance(patched, dict) or patched.get("id") != id:
            raise Unprocessable("A patch must not change the resource's id or type", expression=f"{resource_type}.id")
        check_resource(patched, expected_type=resource_type)
        self._check_rules(resource_type, current, patched)
        return InteractionResult(200, tx.put(resource_type, id, patched, method="PATCH"))

    def delete(self, resource_type: str, id: str, *, if_match: str | None = None) -> InteractionResult:
        require_type(resource_type)
        require_id(id)
        return self._run(lambda tx: self.delete_in(tx, resource_type, id, if_match=if_match))

    def delete_in(
        self, tx: WriteTransaction, resource_type: str, id: str, *, if_match: str | None = None
    ) -> InteractionResult:
        if if_match:
            self._check_version(resource_type, id, tx.current(resource_type, id), parse_etag(if_match))
        return InteractionResult(204, tx.delete(resource_type, id))

    def conditional_delete(self, resource_type: str, criteria: str) -> InteractionResult:
        require_type(resource_type)
        return self._run(lambda tx: self.conditional_delete_in(tx, resource_type, criteria))

    def conditional_delete_in(self, tx: WriteTransaction, resource_type: str, criteria: str) -> InteractionResult:
        matches = self._match(tx, resource_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(f"{len(matches)} {resource_type} resources match {criteria}")
        return InteractionResult(204, tx.delete(resource_type, matches[0]) if matches else None)

    # -- helpers -------------------------------------------------------------------------------------

    def _run(self, work: Callable[[WriteTransaction], InteractionResult]) -> InteractionResult:
        result: InteractionResult = self.repository.run_write(work)
        return result

    def _check_rules(self, resource_type: str, current: StoredVersion | None, resource: Resource) -> None:
        rules = self.rules.get(resource_type, []) + self.rules.get("*", [])
        if not rules:
            return
        previous = resource_of(current) if current is not None and current.content is not None else None
        for rule in rules:
            rule(previous, resource)

    def match(self, tx: WriteTransaction, resource_type: str, criteria: str) -> list[str]:
        return self._match(tx, resource_type, criteria)

    def _match(self, tx: WriteTransaction, resource_type: str, criteria: str) -> list[str]:
        if self.matcher is None:
            raise BadRequest("Conditional interactions need the search engine, which is not configured")
        return self.matcher.match_ids(tx.connection(), resource_type, criteria)

    @staticmethod
    def _check_version(resource_type: str, id: str, current: StoredVersion | None, expected: int | None) -> None:
        if expected is None:
            return
        if current is None or current.deleted:
            raise PreconditionFailed(f"If-Match names version {expected} but {resource_type}/{id} does not exist")
        if current.version_id != expected:
            raise PreconditionFailed(
                f"If-Match names version {expected} but the current version of {resource_type}/{id} "
                f"is {current.version_id}",
                expression="If-Match",
            )


def _current(resource_type: str, id: str, version: StoredVersion | None) -> StoredVersion:
    if version is None:
        raise NotFound(f"{resource_type}/{id} is not known", code="not-found")
    if version.deleted:
        raise Gone(f"{resource_type}/{id} was deleted", code="deleted")
    return version


def new_id() -> str:
    return str(uuid.uuid4())


def resource_of(version: StoredVersion) -> Resource:
    assert version.content is not None
    resource: Resource = fhir_json.loads_stored(version.content)
    return resource


__all__ = ["FhirEngine", "InteractionResult", "Matcher", "new_id", "parse_etag", "resource_of"]
