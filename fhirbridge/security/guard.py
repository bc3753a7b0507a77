"""The FHIR engine with access control: every interaction checked, every write attributed.

``GuardedEngine`` is a ``FhirEngine`` whose reads check the caller's ``Access`` (scopes, the patient
compartment, consent) and whose writes check both the resource as it is and as it will be, inside the
write transaction, and store a Provenance for each version in that same transaction. Because the
transaction Bundle processor calls the same ``*_in`` methods, each entry of a transaction or batch is
checked too; ``GuardedBundleProcessor`` adds the checks for the entries that read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhirbridge.engine.interactions import FhirEngine, InteractionResult, new_id, resource_of
from fhirbridge.engine.transaction import BundleProcessor, Entry
from fhirbridge.security.access import Access, current_access
from fhirbridge.security.provenance import provenance_for
from fhirbridge.storage.contract import HistoryPage, Resource, StoredVersion, WriteTransaction

# Versions are examined in chunks when a caller's history must be filtered.
HISTORY_SCAN_CHUNK = 500


class GuardedEngine(FhirEngine):
    # -- reads ---------------------------------------------------------------------------------------

    def read(self, resource_type: str, id: str) -> StoredVersion:
        access = current_access()
        access.require(resource_type, "r")
        version = super().read(resource_type, id)
        _check_read(access, version)
        return version

    async def read_async(self, resource_type: str, id: str) -> StoredVersion:
        access = current_access()
        access.require(resource_type, "r")
        version = await super().read_async(resource_type, id)
        _check_read(access, version)
        return version

    def vread(self, resource_type: str, id: str, version_id: str) -> StoredVersion:
        access = current_access()
        access.require(resource_type, "r")
        version = super().vread(resource_type, id, version_id)
        _check_read(access, version)
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
        visible = visible_versions(access, scanned, permission)
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
        access.check(resource, "c")
        result = super().create_in(tx, resource_type, resource, if_none_exist=if_none_exist, id=id)
        if result.created:
            self._attribute(tx, access, result.version, created=True)
        elif result.version is not None:
            # If-None-Exist matched an existing resource: answering with it is a read.
            access.check(resource_of(result.version), "r")
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
        access.check(resource, "u")
        result = super().conditional_update_in(tx, resource_type, criteria, resource)
        if result.created:
            access.check(resource, "c")
        self._attribute(tx, access, result.version, created=result.created)
        return result

    def patch_in(
        self, tx: WriteTransaction, resource_type: str, id: str, operations: Any, *, if_match: str | None = None
    ) -> InteractionResult:
        access = current_access()
        access.require(resource_type, "u")
        current = tx.current(resource_type, id)
        if current is not None and current.content is not None:
            access.check(resource_of(current), "u")
        result = super().patch_in(tx, resource_type, id, operations, if_match=if_match)
        # A patch must not move the resource where the caller could not have written it.
        if result.version is not None:
            access.check(resource_of(result.version), "u")
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

    @staticmethod
    def _check_replacing(tx: WriteTransaction, access: Access, resource_type: str, id: str, resource: Resource) -> None:
        current = tx.current(resource_type, id)
        if current is None or current.content is None:
            access.check(resource, "c")
            return
        access.check(resource_of(current), "u")
        access.check(resource, "u")

    @staticmethod
    def _check_deleting(tx: WriteTransaction, access: Access, resource_type: str, id: str) -> None:
        access.require(resource_type, "d")
        current = tx.current(resource_type, id)
        if current is not None and current.content is not None:
            access.check(resource_of(current), "d")

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
        access.check(resource_of(version), "r")


def visible_versions(access: Access, versions: list[StoredVersion], permission: str) -> list[StoredVersion]:
    """The versions the caller may see; a deletion shows only where a version of that resource does."""
    shown_resources = {
        (version.resource_type, version.id)
        for version in versions
        if version.content is not None and access.visible(resource_of(version), permission)
    }
    return [
        version
        for version in versions
        if (version.resource_type, version.id) in shown_resources
        and (version.content is None or access.visible(resource_of(version), permission))
    ]


class GuardedBundleProcessor(BundleProcessor):
    """Checks the entries of a transaction or batch that read (writes are checked by the engine).

    The check runs inside the entry's execution, so a refused entry rolls a transaction back and
    answers 403 in a batch, naming the entry either way.
    """

    def _execute(self, tx: WriteTransaction, entry: Entry, base_url: str, preference: str) -> dict[str, Any]:
        access = current_access()
        if entry.method in ("GET", "HEAD"):
            access.require(entry.resource_type, "r" if entry.id is not None else "s")
        response = super()._execute(tx, entry, base_url, preference)
        resource = response.get("resource")
        if isinstance(resource, dict):
            if resource.get("resourceType") == "Bundle" and entry.id is None:
                response["resource"] = filter_bundle(access, resource)
            else:
                access.check(resource, "r")
        return response


def filter_bundle(access: Access, bundle: dict[str, Any]) -> dict[str, Any]:
    """A search or history Bundle without the entries the caller may not see, and without ``total``
    (a count of hidden matches would reveal them)."""
    if not access.filters_results:
        return bundle
    entries = [
        entry
        for entry in bundle.get("entry") or []
        if not isinstance(entry.get("resource"), dict) or access.visible(entry["resource"], "r")
    ]
    filtered = {key: value for key, value in bundle.items() if key not in ("entry", "total")}
    if entries:
        filtered["entry"] = entries
    return filtered


__all__ = ["GuardedBundleProcessor", "GuardedEngine", "filter_bundle", "visible_versions"]
