"""The FHIR engine with access control: every interaction checked, every write attributed.

``GuardedEngine`` is a ``FhirEngine`` whose reads check the caller's ``Access`` (scopes, the patient
compartment, consent) and whose writes check both the resource as it is and as it will be, inside the
write transaction, and store a Provenance for each version in that same transaction. Because the
transaction Bundle processor calls the same ``*_in`` methods, each entry of a transaction or batch is
checked too; ``GuardedBundleProcessor`` adds the checks for the entries that read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fhirbridge.compartment import compartment_patients
from fhirbridge.engine.interactions import FhirEngine, InteractionResult, new_id, resource_of
from fhirbridge.engine.transaction import BundleProcessor, Entry
from fhirbridge.errors import Gone
from fhirbridge.security.access import Access, current_access, not_found
from fhirbridge.security.policy import caller_references
from fhirbridge.security.provenance import provenance_for
from fhirbridge.security.scopes import granting_contexts
from fhirbridge.security.write_rules import WriteCaller, check_write
from fhirbridge.storage.contract import HistoryPage, Resource, StoredVersion, WriteTransaction

# Versions are examined in chunks when a caller's history must be filtered.
HISTORY_SCAN_CHUNK = 500


class GuardedEngine(FhirEngine):
    # -- reads ---------------------------------------------------------------------------------------
    # A resource the caller may not see is answered exactly as one that does not exist (404, the same
    # message), whether it is current, deleted or asked for by version: only the token's scopes, which
    # say nothing about any child, are answered 403.

    def read(self, resource_type: str, id: str) -> StoredVersion:
        access = current_access()
        access.require(resource_type, "r")
        try:
            version = super().read(resource_type, id)
        except Gone:
            self._require_visible_resource(access, resource_type, id)
            raise
        _check_read(access, version)
        return version

    async def read_async(self, resource_type: str, id: str) -> StoredVersion:
        access = current_access()
        access.require(resource_type, "r")
        try:
            version = await super().read_async(resource_type, id)
        except Gone:
            self._require_visible_resource(access, resource_type, id)
            raise
        _check_read(access, version)
        return version

    def vread(self, resource_type: str, id: str, version_id: str) -> StoredVersion:
        access = current_access()
        access.require(resource_type, "r")
        # The resource as it stands decides first: a resource labelled sensitive later hides every version.
        self._require_visible_resource(access, resource_type, id)
        version = super().vread(resource_type, id, version_id)
        _check_read(access, version)
        return version

    def _require_visible_resource(self, access: Access, resource_type: str, id: str) -> None:
        if access.unrestricted:
            return
        latest = self._latest_content(resource_type, id)
        if latest is None or not access.visible(resource_of(latest)):
            raise not_found(f"{resource_type}/{id}")

    def _latest_content(self, resource_type: str, id: str) -> StoredVersion | None:
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
        resource_type: str | None,
        id: str | None,
        *,
        since: datetime | None,
        at: datetime | None,
        count: int,
        offset: int,
        till_seq: int | None,
    ) -> HistoryPage:
        access = current_access()
        permission = "r" if id is not None else "s"
        if resource_type is not None:
            access.require(resource_type, permission)
        if not access.filters_results:
            return super().history(resource_type, id, since=since, at=at, count=count, offset=offset, till_seq=till_seq)
        # Filtering one page would leave gaps and a total counting hidden versions; the caller's view
        # is built whole (bounded by the snapshot) so that paging and total describe only what it sees.
        scanned: list[StoredVersion] = []
        page = super().history(
            resource_type, id, since=since, at=at, count=HISTORY_SCAN_CHUNK, offset=0, till_seq=till_seq
        )
        snapshot = page.till_seq
        while True:
            scanned.extend(page.versions)
            if len(scanned) >= page.total or not page.versions:
                break
            page = super().history(
                resource_type, id, since=since, at=at, count=HISTORY_SCAN_CHUNK, offset=len(scanned), till_seq=snapshot
            )
        visible = visible_versions(access, scanned, permission, self._latest_content)
        return HistoryPage(visible[offset : offset + count], len(visible), snapshot)

    # -- writes --------------------------------------------------------------------------------------

    def create_in(
        self,
        tx: WriteTransaction,
        resource_type: str,
        resource: Resource,
        *,
        if_none_exist: str | None = None,
        id: str | None = None,
    ) -> InteractionResult:
        access = current_access()
        access.check(resource, "c", tx.connection())
        _check_elements(access, tx, resource_type, None, resource)
        result = super().create_in(tx, resource_type, resource, if_none_exist=if_none_exist, id=id)
        if result.created:
            self._attribute(tx, access, result.version, created=True)
        elif result.version is not None:
            # If-None-Exist matched an existing resource (only ever one the caller may see): a read.
            access.check_read(resource_of(result.version), f"{resource_type}/{result.version.id}", tx.connection())
        return result

    def update_in(
        self, tx: WriteTransaction, resource_type: str, id: str, resource: Resource, *, if_match: str | None = None
    ) -> InteractionResult:
        access = current_access()
        self._check_replacing(tx, access, resource_type, id, resource)
        result = super().update_in(tx, resource_type, id, resource, if_match=if_match)
        self._attribute(tx, access, result.version, created=result.created)
        return result

    def conditional_update_in(
        self, tx: WriteTransaction, resource_type: str, criteria: str, resource: Resource
    ) -> InteractionResult:
        access = current_access()
        for match in self._match(tx, resource_type, criteria)[:1]:
            self._check_replacing(tx, access, resource_type, match, resource)
        access.check(resource, "u", tx.connection())
        result = super().conditional_update_in(tx, resource_type, criteria, resource)
        if result.created:
            access.check(resource, "c", tx.connection())
        self._attribute(tx, access, result.version, created=result.created)
        return result

    def patch_in(
        self, tx: WriteTransaction, resource_type: str, id: str, operations: Any, *, if_match: str | None = None
    ) -> InteractionResult:
        access = current_access()
        access.require(resource_type, "u")
        current = tx.current(resource_type, id)
        if current is not None and current.content is not None:
            _check_writable(access, tx, resource_of(current), "u")
        result = super().patch_in(tx, resource_type, id, operations, if_match=if_match)
        # A patch must not move the resource where the caller could not have written it, nor change an
        # element the caller may not (raising here rolls the write back).
        if result.version is not None:
            patched = resource_of(result.version)
            access.check(patched, "u", tx.connection())
            previous = resource_of(current) if current is not None and current.content is not None else None
            _check_elements(access, tx, resource_type, previous, patched)
        self._attribute(tx, access, result.version)
        return result

    def delete_in(
        self, tx: WriteTransaction, resource_type: str, id: str, *, if_match: str | None = None
    ) -> InteractionResult:
        access = current_access()
        self._check_deleting(tx, access, resource_type, id)
        result = super().delete_in(tx, resource_type, id, if_match=if_match)
        self._attribute(tx, access, result.version)
        return result

    def conditional_delete_in(self, tx: WriteTransaction, resource_type: str, criteria: str) -> InteractionResult:
        access = current_access()
        access.require(resource_type, "d")
        for match in self._match(tx, resource_type, criteria):
            self._check_deleting(tx, access, resource_type, match)
        result = super().conditional_delete_in(tx, resource_type, criteria)
        self._attribute(tx, access, result.version)
        return result

    # -- helpers -------------------------------------------------------------------------------------

    def _match(self, tx: WriteTransaction, resource_type: str, criteria: str) -> list[str]:
        """Conditional matching sees only what the caller may see: a hidden match is no match."""
        if self.matcher is None:
            return super()._match(tx, resource_type, criteria)
        visible = current_access().row_filter(tx.connection())
        return self.matcher.match_ids(tx.connection(), resource_type, criteria, visible=visible)

    @staticmethod
    def _check_replacing(tx: WriteTransaction, access: Access, resource_type: str, id: str, resource: Resource) -> None:
        current = tx.current(resource_type, id)
        if current is None or current.content is None:
            access.check(resource, "c", tx.connection())
            _check_elements(access, tx, resource_type, None, resource)
            return
        previous = resource_of(current)
        _check_writable(access, tx, previous, "u")
        access.check(resource, "u", tx.connection())
        _check_elements(access, tx, resource_type, previous, resource)

    @staticmethod
    def _check_deleting(tx: WriteTransaction, access: Access, resource_type: str, id: str) -> None:
        access.require(resource_type, "d")
        current = tx.current(resource_type, id)
        if current is not None and current.content is not None:
            previous = resource_of(current)
            _check_writable(access, tx, previous, "d")
            _check_elements(access, tx, resource_type, previous, None)

    @staticmethod
    def _attribute(
        tx: WriteTransaction, access: Access, version: StoredVersion | None, *, created: bool = False
    ) -> None:
        """Store the Provenance of ``version`` in the write's own transaction."""
        if version is None or access.principal is None:
            return
        tx.put("Provenance", new_id(), provenance_for(version, access.principal, created=created), method="POST")


def _check_read(access: Access, version: StoredVersion) -> None:
    # The unrestricted caller may read anything: no need to parse what it is about to be sent.
    if not access.unrestricted:
        access.check_read(resource_of(version), f"{version.resource_type}/{version.id}")


def _check_writable(access: Access, tx: WriteTransaction, current: Resource, permission: str) -> None:
    """A write to a resource the caller may not even see is answered as if it did not exist."""
    resource_type = str(current.get("resourceType"))
    access.require(resource_type, permission)  # the token's scopes: a 403 that says nothing of any child
    if access.can(resource_type, "r") and access.denial(current, "r", tx.connection()) is not None:
        raise not_found(f"{resource_type}/{current.get('id')}")
    access.check(current, permission, tx.connection())


def _check_elements(
    access: Access, tx: WriteTransaction, resource_type: str, current: Resource | None, new: Resource | None
) -> None:
    """Who may change which element (``write_rules``): the care team anything, others only theirs."""
    principal = access.principal
    if principal is None:
        return
    relations = access.relations(tx.connection())
    children = compartment_patients(current or {}) | compartment_patients(new or {})
    confined = not granting_contexts(principal.scopes, resource_type, "u" if current else "c") - {"patient"}
    treating = not confined and (relations.treats_every_child or (bool(children) and children <= relations.treated))
    caller = WriteCaller(caller_references(principal), principal.patient if confined else None, treating)
    check_write(caller, resource_type, current, new)


def visible_versions(
    access: Access,
    versions: list[StoredVersion],
    permission: str,
    latest: Callable[[str, str], StoredVersion | None],
) -> list[StoredVersion]:
    """The versions the caller may see: a version shows only when it and its resource as it stands now
    (or stood before its deletion) are visible, so relabelling a resource sensitive hides its past."""
    resource_visible: dict[tuple[str, str], bool] = {}

    def shown(version: StoredVersion) -> bool:
        key = (version.resource_type, version.id)
        if key not in resource_visible:
            now = latest(*key)
            resource_visible[key] = now is not None and access.visible(resource_of(now), permission)
        return resource_visible[key] and (version.content is None or access.visible(resource_of(version), permission))

    return [version for version in versions if shown(version)]


class GuardedBundleProcessor(BundleProcessor):
    """The entries of a transaction or batch that read, under the caller's access (writes are checked by
    the engine, conditional references and ``ifNoneExist`` by its matching).

    A search entry runs with the caller's row filter, so its matches, total and links count only what it
    may see; a read entry of a hidden resource answers as one that does not exist. The check runs inside
    the entry's execution, so a refused entry rolls a transaction back and answers in a batch.
    """

    def _read(self, tx: WriteTransaction, entry: Entry, base_url: str) -> dict[str, Any]:
        access = current_access()
        access.require(entry.resource_type, "r" if entry.id is not None else "s")
        if entry.id is None:
            if self.searcher is None:
                return super()._read(tx, entry, base_url)
            visible = access.row_filter(tx.connection())
            bundle = self.searcher(tx.connection(), entry.resource_type, entry.criteria or "", base_url, visible)
            return {"resource": bundle, "response": {"status": "200 OK"}}
        if not access.unrestricted:
            current = tx.current(entry.resource_type, entry.id)
            latest = current if current is None or current.content is not None else None
            if current is not None and latest is None and isinstance(self.engine, GuardedEngine):
                latest = self.engine._latest_content(entry.resource_type, entry.id)
            if latest is None or access.denial(resource_of(latest), "r", tx.connection()) is not None:
                raise not_found(f"{entry.resource_type}/{entry.id}")
        response = super()._read(tx, entry, base_url)
        resource = response.get("resource")
        if isinstance(resource, dict):
            access.check_read(resource, f"{entry.resource_type}/{entry.id}", tx.connection())
        return response


__all__ = ["GuardedBundleProcessor", "GuardedEngine", "visible_versions"]
