"""The search store over a SQL repository: what the engine reads through the search index
(``fhirbridge.engine.stores.SearchStore``), so that no engine module holds a connection or runs SQL.

Each read but ``search`` is given whom it is for (``access``: the request's ``Access``) and makes its row
filter, the SQL twin of the access policy, on the connection it runs on: a write transaction's (``tx``), so
that what the transaction wrote so far counts (the caller's relations included), else a read connection of
its own. The filter is in every query: what the caller may not see is never read, counted or matched.
``search`` is given the filter made already (server/params.py and bulk export make it from the request's
``Access``, which they also re-check the page against).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection

from fhirbridge.search.criteria import RowFilter, Viewer
from fhirbridge.search.engine import SearchResult, match_ids, search
from fhirbridge.search.records import IndexedCode, compartment_members, current_resources
from fhirbridge.search.request import DEFAULT_LIMITS, TRANSPORT_PARAMS, SearchLimits
from fhirbridge.storage.contract import Repository, Resource, StoredVersion, WriteTransaction

SearchParams = list[tuple[str, str]]


class SqlSearchStore:
    def __init__(self, repository: Repository, *, limits: SearchLimits = DEFAULT_LIMITS) -> None:
        self.repository = repository
        # How much one search may ask for (Settings.max_search_parameters, max_search_values).
        self.limits = limits

    def search(
        self,
        resource_type: str | None,
        params: SearchParams,
        *,
        strict: bool,
        base_url: str,
        compartment: tuple[str, str] | None = None,
        visible: RowFilter | None = None,
        within: RowFilter | None = None,
    ) -> SearchResult:
        """A search as a client asks it (``fhirbridge.search.search``), under the row filter ``visible``."""
        params = [(name, value) for name, value in params if name not in TRANSPORT_PARAMS]
        with self.repository.connect() as conn:
            return search(
                conn,
                resource_type,
                params,
                strict=strict,
                base_url=base_url,
                compartment=compartment,
                visible=visible,
                limits=self.limits,
                within=within,
            )

    def search_in(
        self, access: Viewer, tx: WriteTransaction, resource_type: str, params: SearchParams, base_url: str
    ) -> SearchResult:
        """A search inside a write transaction (a Bundle's GET entry): unknown parameters are skipped."""
        conn: Connection = tx.connection()
        visible = access.row_filter(conn)
        return search(conn, resource_type, params, strict=False, base_url=base_url, visible=visible, limits=self.limits)

    def match_ids(
        self, access: Viewer, resource_type: str, params: SearchParams, *, tx: WriteTransaction | None = None
    ) -> list[str]:
        """Conditional create, update and delete, and the engine's own look-ups: the ids matching ``params``."""
        if tx is not None:
            return self._match_ids(tx.connection(), access, resource_type, params)
        with self.repository.connect() as conn:
            return self._match_ids(conn, access, resource_type, params)

    def _match_ids(self, conn: Connection, access: Viewer, resource_type: str, params: SearchParams) -> list[str]:
        visible = access.row_filter(conn)
        return match_ids(conn, resource_type, params, visible=visible, limits=self.limits)

    def compartment(
        self,
        access: Viewer,
        patient_id: str,
        *,
        types: Collection[str] | None = None,
        since: datetime | None = None,
        with_referenced: bool = True,
    ) -> list[StoredVersion]:
        with self.repository.connect() as conn:
            return compartment_members(
                conn, patient_id, access=access, types=types, since=since, with_referenced=with_referenced
            )

    def current(
        self,
        access: Viewer,
        resource_type: str,
        *,
        ids: Collection[str] | None = None,
        code: IndexedCode | None = None,
    ) -> list[Resource]:
        with self.repository.connect() as conn:
            return current_resources(conn, resource_type, access=access, ids=ids, code=code)


__all__ = ["SearchParams", "SqlSearchStore"]
