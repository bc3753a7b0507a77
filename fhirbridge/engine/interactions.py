"""FHIR RESTful interactions, independent of HTTP, each under the caller's ``Access``.

Each interaction is a short method that validates, runs one atomic write (or a read) through the
repository, and returns an ``InteractionResult`` the HTTP layer turns into a response. Every one takes
the caller's ``Access`` first (there is no default: code that reads or writes without one does not
type-check) and makes the policy's checks at its steps (``fhirbridge.security.guard``): a resource the
caller may not see is answered as absent, a write is checked as the resource is and as it will be inside
its own transaction, and attributed by a Provenance in that transaction. Conditional variants resolve
their criteria through the search store (``engine.stores.SearchStore``) under the caller's access, inside
the same transaction, so a hidden match is no match and a conditional write is as atomic as a plain one.
What the server itself does because of a write (``engine.referrals.follow_up``: a referral's ServiceRequest
kept in step with its Task, a Procedure reported as a referral's result confirmed) happens after it, in its
transaction. System work (demo data, subscription bookkeeping) passes ``SYSTEM_ACCESS``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jsonpatch

from fhirbridge.engine.integrity import IntegrityOptions, check_write_integrity, prepare_integrity_checks
from fhirbridge.engine.referrals import check_referral_task, follow_up
from fhirbridge.engine.resource_types import require_id, require_type
from fhirbridge.engine.searching import parse_criteria
from fhirbridge.engine.stores import SearchStore
from fhirbridge.engine.validation import check_resource
from fhirbridge.errors import BadRequest, Conflict, Gone, NotFound, PreconditionFailed, Unprocessable
from fhirbridge.formats import json as fhir_json
from fhirbridge.security import guard
from fhirbridge.security.access import Access
from fhirbridge.storage.contract import HistoryPage, Repository, Resource, StoredVersion, WriteTransaction

# Versions are examined in chunks when a caller's history must be filtered.
HISTORY_SCAN_CHUNK = 500


WriteRule = Callable[[Resource | None, Resource], None]
# What the server itself sets on a resource before it is checked and stored, from the writer's access
# and the version before (e.g. a Subscription's owner, subscriptions/owner.py).
WriteStamp = Callable[[Access, Resource | None, Resource], None]


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
    def __init__(
        self, repository: Repository, *, matcher: SearchStore | None = None, integrity: IntegrityOptions | None = None
    ) -> None:
        self.repository = repository
        self.matcher = matcher  # the search store: conditional matches here, the operations' reads (``index``)
        # What every write is checked for beyond its structure and access (engine/integrity.py).
        self.integrity = integrity or IntegrityOptions()
        prepare_integrity_checks()
        # Business rules per resource type, run on every write with the previous and the new content.
        self.rules: dict[str, list[WriteRule]] = {}
        self.stamps: dict[str, list[WriteStamp]] = {}

    @property
    def index(self) -> SearchStore:
        """The search store, for the operations that read through the index (a child's compartment)."""
        if self.matcher is None:
            raise BadRequest("This operation needs the search engine, which is not configured")
        return self.matcher

    # -- reads ---------------------------------------------------------------------------------------

    def read(self, access: Access, resource_type: str, id: str) -> StoredVersion:
        require_type(resource_type)
        require_id(id)
        access.require(resource_type, "r")
        return self._readable(access, resource_type, id, self.repository.read(resource_type, id))

    async def read_async(self, access: Access, resource_type: str, id: str) -> StoredVersion:
        """``read`` for the server's event loop (the plain-read path)."""
        require_type(resource_type)
        require_id(id)
        access.require(resource_type, "r")
        return self._readable(access, resource_type, id, await self.repository.read_async(resource_type, id))

    def _readable(self, access: Access, resource_type: str, id: str, version: StoredVersion | None) -> StoredVersion:
        if version is not None and version.deleted:
            # That a resource was deleted is shown only to a caller who could see it before.
            guard.require_visible_resource(access, resource_type, id, self.latest_content)
        current = _current(resource_type, id, version)
        guard.check_read_version(access, current)
        return current

    def vread(self, access: Access, resource_type: str, id: str, version_id: str) -> StoredVersion:
        require_type(resource_type)
        require_id(id)
        access.require(resource_type, "r")
        guard.require_visible_resource(access, resource_type, id, self.latest_content)
        if not (version_id.isascii() and version_id.isdigit()):
            raise NotFound(f"{resource_type}/{id} has no version '{version_id}'")
        version = self.repository.vread(resource_type, id, int(version_id))
        if version is None:
            raise NotFound(f"{resource_type}/{id} has no version {version_id}")
        if version.deleted:
            raise Gone(f"Version {version_id} of {resource_type}/{id} is a deletion")
        guard.check_read_version(access, version)
        return version

    def latest_content(self, resource_type: str, id: str) -> StoredVersion | None:
        """The resource's current version, or its last version before it was deleted."""
        current = self.repository.read(resource_type, id)
        if current is None or current.content is not None:
            return current
        for number in range(current.version_id - 1, 0, -1):
            version = self.repository.vread(resource_type, id, number)
            if version is not None and version.content is not None:
                return version
        return None

    def history(
        self,
        access: Access,
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
            access.require(resource_type, "r" if id is not None else "s")
        if id is not None:
            require_id(id)
        if not access.filters_results:
            return self.repository.history(
                resource_type=resource_type, id=id, since=since, at=at, count=count, offset=offset, till_seq=till_seq
            )
        # Filtering one page would leave gaps and a total counting hidden versions; the caller's view
        # is built whole (bounded by the snapshot) so that paging and total describe only what it sees.
        scanned: list[StoredVersion] = []
        chunk = HISTORY_SCAN_CHUNK
        page = self.repository.history(
            resource_type=resource_type, id=id, since=since, at=at, count=chunk, offset=0, till_seq=till_seq
        )
        snapshot = page.till_seq
        while True:
            scanned.extend(page.versions)
            if len(scanned) >= page.total or not page.versions:
                break
            page = self.repository.history(
                resource_type=resource_type,
                id=id,
                since=since,
                at=at,
                count=HISTORY_SCAN_CHUNK,
                offset=len(scanned),
                till_seq=snapshot,
            )
        permission = "r" if id is not None else "s"
        visible = guard.visible_versions(access, scanned, permission, self.latest_content)
        return HistoryPage(visible[offset : offset + count], len(visible), snapshot)

    # -- writes --------------------------------------------------------------------------------------
    # Each write has a public form (validate, then run in its own atomic transaction) and an ``*_in``
    # form that runs inside a transaction the caller holds, so a transaction Bundle can chain them.

    def create(
        self, access: Access, resource_type: str, resource: Any, *, if_none_exist: str | None = None
    ) -> InteractionResult:
        self.check_create(resource_type, resource)
        return self._run(lambda tx: self.create_in(access, tx, resource_type, resource, if_none_exist=if_none_exist))

    @staticmethod
    def check_create(resource_type: str, resource: Any) -> None:
        require_type(resource_type)
        # The server assigns the id of a created resource; a client's id is ignored (R4 3.1.0.8.1).
        if isinstance(resource, dict):
            resource.pop("id", None)
        check_resource(resource, expected_type=resource_type)

    def create_in(
        self,
        access: Access,
        tx: WriteTransaction,
        resource_type: str,
        resource: Resource,
        *,
        if_none_exist: str | None = None,
        id: str | None = None,
    ) -> InteractionResult:
        guard.check_creating(access, tx, resource_type, resource)
        if if_none_exist is not None:
            matches = self.match_to_create(access, tx, resource_type, if_none_exist)
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"{len(matches)} {resource_type} resources match If-None-Exist: {if_none_exist}"
                )
            if matches:
                # The match (only ever one the caller may see) is answered: a read.
                existing = tx.current(resource_type, matches[0])
                if existing is not None:
                    guard.check_read_version(access, existing)
                return InteractionResult(200, existing)
        check_write_integrity(tx, resource_type, None, resource, self.integrity)
        self._check_rules(access, resource_type, None, resource)
        # Created resources always get an id the server has just generated (here or by the transaction).
        stored = tx.put(resource_type, id or new_id(), copy.copy(resource), method="POST", fresh=True)
        guard.attribute(tx, access, stored, created=True)
        follow_up(access, tx, resource_type, None, resource, stored)
        return InteractionResult(201, stored)

    def update(
        self, access: Access, resource_type: str, id: str, resource: Any, *, if_match: str | None = None
    ) -> InteractionResult:
        self.check_update(resource_type, id, resource)
        return self._run(lambda tx: self.update_in(access, tx, resource_type, id, resource, if_match=if_match))

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
        self,
        access: Access,
        tx: WriteTransaction,
        resource_type: str,
        id: str,
        resource: Resource,
        *,
        if_match: str | None = None,
    ) -> InteractionResult:
        guard.check_replacing(access, tx, resource_type, id, resource)
        current = tx.current(resource_type, id)
        self._check_version(resource_type, id, current, parse_etag(if_match) if if_match else None)
        check_write_integrity(tx, resource_type, current, resource, self.integrity)
        self._check_rules(access, resource_type, current, resource)
        stored = tx.put(resource_type, id, copy.copy(resource), method="PUT")
        guard.attribute(tx, access, stored, created=stored.created)
        follow_up(access, tx, resource_type, current, resource, stored)
        # Decided by the write itself: a concurrent creator may have committed since ``current`` was read.
        return InteractionResult(201 if stored.created else 200, stored)

    @staticmethod
    def check_body(resource_type: str, resource: Any) -> None:
        require_type(resource_type)
        check_resource(resource, expected_type=resource_type)

    def conditional_update(self, access: Access, resource_type: str, criteria: str, resource: Any) -> InteractionResult:
        self.check_body(resource_type, resource)
        return self._run(lambda tx: self.conditional_update_in(access, tx, resource_type, criteria, resource))

    def conditional_update_in(
        self, access: Access, tx: WriteTransaction, resource_type: str, criteria: str, resource: Resource
    ) -> InteractionResult:
        matches = self.match_to_create(access, tx, resource_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(f"{len(matches)} {resource_type} resources match {criteria}")
        if matches:
            id = matches[0]
            if resource.get("id", id) != id:
                raise BadRequest(
                    f"The id in the body ({resource['id']}) is not the matched resource ({id})",
                    expression=f"{resource_type}.id",
                )
            guard.check_replacing(access, tx, resource_type, id, resource)
            current = tx.current(resource_type, id)
            check_write_integrity(tx, resource_type, current, resource, self.integrity)
            self._check_rules(access, resource_type, current, resource)
            stored = tx.put(resource_type, id, copy.copy(resource), method="PUT")
            guard.attribute(tx, access, stored)
            follow_up(access, tx, resource_type, current, resource, stored)
            return InteractionResult(200, stored)
        id = resource.get("id") or new_id()
        # May the caller create it at all? Asked first, so a hidden resource at that id shows no more
        # than a free id does to a caller who may not create.
        guard.check_creating(access, tx, resource_type, resource)
        existing = tx.current(resource_type, id)
        if existing is not None and not existing.deleted:
            raise Conflict(f"{resource_type}/{id} exists but does not match {criteria}")
        check_write_integrity(tx, resource_type, existing, resource, self.integrity)
        self._check_rules(access, resource_type, None, resource)
        stored = tx.put(resource_type, id, copy.copy(resource), method="PUT")
        guard.attribute(tx, access, stored, created=True)
        follow_up(access, tx, resource_type, None, resource, stored)
        return InteractionResult(201, stored)

    def patch(
        self, access: Access, resource_type: str, id: str, operations: Any, *, if_match: str | None = None
    ) -> InteractionResult:
        require_type(resource_type)
        require_id(id)
        return self._run(lambda tx: self.patch_in(access, tx, resource_type, id, operations, if_match=if_match))

    def patch_in(
        self,
        access: Access,
        tx: WriteTransaction,
        resource_type: str,
        id: str,
        operations: Any,
        *,
        if_match: str | None = None,
    ) -> InteractionResult:
        access.require(resource_type, "u")
        if not isinstance(operations, list):
            raise BadRequest("A JSON Patch body is an array of operations", code="structure")
        current = tx.current(resource_type, id)
        previous = fhir_json.loads_stored(current.content) if current is not None and current.content else None
        if previous is not None:
            guard.check_writable(access, tx, previous, "u")
        self._check_version(resource_type, id, current, parse_etag(if_match) if if_match else None)
        if current is None:
            raise NotFound(f"{resource_type}/{id} is not known")
        if previous is None:
            guard.require_visible_resource(access, resource_type, id, self.latest_content)
            raise Gone(f"{resource_type}/{id} was deleted")
        try:
            patched = jsonpatch.apply_patch(fhir_json.copy_tree(previous), operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            raise Unprocessable(f"The patch cannot be applied: {exc}", code="processing") from None
        if not isinstance(patched, dict) or patched.get("id") != id:
            raise Unprocessable("A patch must not change the resource's id or type", expression=f"{resource_type}.id")
        check_resource(patched, expected_type=resource_type)
        guard.check_patched(access, tx, resource_type, previous, patched)
        check_write_integrity(tx, resource_type, current, patched, self.integrity)
        self._check_rules(access, resource_type, current, patched)
        stored = tx.put(resource_type, id, patched, method="PATCH")
        guard.attribute(tx, access, stored)
        follow_up(access, tx, resource_type, current, patched, stored)
        return InteractionResult(200, stored)

    def delete(self, access: Access, resource_type: str, id: str, *, if_match: str | None = None) -> InteractionResult:
        require_type(resource_type)
        require_id(id)
        return self._run(lambda tx: self.delete_in(access, tx, resource_type, id, if_match=if_match))

    def delete_in(
        self, access: Access, tx: WriteTransaction, resource_type: str, id: str, *, if_match: str | None = None
    ) -> InteractionResult:
        guard.check_deleting(access, tx, resource_type, id)
        current = tx.current(resource_type, id)
        if if_match:
            self._check_version(resource_type, id, current, parse_etag(if_match))
        deleted = tx.delete(resource_type, id)
        guard.attribute(tx, access, deleted, before=_content_or_none(current))
        return InteractionResult(204, deleted)

    def conditional_delete(self, access: Access, resource_type: str, criteria: str) -> InteractionResult:
        require_type(resource_type)
        return self._run(lambda tx: self.conditional_delete_in(access, tx, resource_type, criteria))

    def conditional_delete_in(
        self, access: Access, tx: WriteTransaction, resource_type: str, criteria: str
    ) -> InteractionResult:
        access.require(resource_type, "d")
        matches = self.match(access, tx, resource_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(f"{len(matches)} {resource_type} resources match {criteria}")
        if not matches:
            return InteractionResult(204, None)
        guard.check_deleting(access, tx, resource_type, matches[0])
        current = tx.current(resource_type, matches[0])
        deleted = tx.delete(resource_type, matches[0])
        guard.attribute(tx, access, deleted, before=_content_or_none(current))
        return InteractionResult(204, deleted)

    # -- helpers -------------------------------------------------------------------------------------

    def _run(self, work: Callable[[WriteTransaction], InteractionResult]) -> InteractionResult:
        result: InteractionResult = self.repository.run_write(work)
        return result

    def _check_rules(
        self, access: Access, resource_type: str, current: StoredVersion | None, resource: Resource
    ) -> None:
        rules = self.rules.get(resource_type, []) + self.rules.get("*", [])
        previous = resource_of(current) if current is not None and current.content is not None else None
        for stamp in self.stamps.get(resource_type, []):
            stamp(access, previous, resource)
        if resource_type == "Task":
            check_referral_task(access.actor, previous, resource)
        for rule in rules:
            rule(previous, resource)

    def match(self, access: Access, tx: WriteTransaction, resource_type: str, criteria: str) -> list[str]:
        """Conditional matching sees only what the caller may see: a hidden match is no match."""
        if self.matcher is None:
            raise BadRequest("Conditional interactions need the search engine, which is not configured")
        return self.matcher.match_ids(access, resource_type, parse_criteria(criteria), tx=tx)

    def match_to_create(self, access: Access, tx: WriteTransaction, resource_type: str, criteria: str) -> list[str]:
        """``match`` for a write that creates when nothing matches (If-None-Exist, conditional update):
        it waits for any other such write under the same criteria, and then sees what that one created."""
        take_turns(tx, [(resource_type, criteria)])
        return self.match(access, tx, resource_type, criteria)

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


def take_turns(tx: WriteTransaction, searches: Iterable[tuple[str, str]]) -> None:
    """Hold, until ``tx`` ends, the lock of each (resource type, criteria) it will create under when nothing
    matches, so concurrent writers with the same criteria run one after another and create one resource.
    All of a transaction's locks are taken in one order: two Bundles with the same criteria cannot deadlock.

    Criteria are compared as written, parameters sorted and values decoded. Writers whose different
    criteria both match what the other creates (``identifier=...`` and ``family=...&birthdate=...``) do
    not take turns and may still create one each: telling which criteria could overlap would take one
    lock per resource type, serialising every conditional write of that type."""
    for name in sorted({_criteria_lock(resource_type, criteria) for resource_type, criteria in searches}):
        tx.lock(name)


def _criteria_lock(resource_type: str, criteria: str) -> str:
    parameters = sorted(parse_qsl(criteria, keep_blank_values=True))
    return f"conditional-create {resource_type}?{urlencode(parameters)}"


def _current(resource_type: str, id: str, version: StoredVersion | None) -> StoredVersion:
    if version is None:
        raise NotFound(f"{resource_type}/{id} is not known", code="not-found")
    if version.deleted:
        raise Gone(f"{resource_type}/{id} was deleted", code="deleted")
    return version


def _content_or_none(version: StoredVersion | None) -> Resource | None:
    return resource_of(version) if version is not None and version.content is not None else None


def new_id() -> str:
    return str(uuid.uuid4())


def resource_of(version: StoredVersion) -> Resource:
    return guard.content_of(version)


__all__ = ["FhirEngine", "InteractionResult", "new_id", "parse_etag", "resource_of", "take_turns"]
