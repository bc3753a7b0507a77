"""What the engine reads through the search index, as a typed protocol: the store hides its SQL.

Each method takes the caller's ``Access`` (there is no default, as everywhere in the engine) and reads only
what it lets the caller see: the store puts the policy's row filter (``Access.row_filter``, the SQL twin of
``Access.visible``) into every query, so what is hidden is never read, counted or matched. The checks of
the token's scopes (``Access.require``, ``Access.can``) stay with the engine, before it asks. Given a write
transaction (``tx``), a method reads inside it: what the transaction wrote so far is found, and the
caller's relations are as it sees them.

``fhirbridge.search.store.SqlSearchStore`` is the store over a SQL repository. The server builds it
(``SearchService``, server/app.py) and hands it to the engine (``FhirEngine(matcher=...)``, where the
operations find it as ``FhirEngine.index``) and to the bundle processor (``BundleProcessor(searcher=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Protocol

from fhirbridge.search.engine import SearchResult
from fhirbridge.search.records import IndexedCode
from fhirbridge.search.store import SearchParams
from fhirbridge.security.access import Access
from fhirbridge.storage.contract import Resource, StoredVersion, WriteTransaction


class SearchStore(Protocol):
    def match_ids(
        self, access: Access, resource_type: str, params: SearchParams, *, tx: WriteTransaction | None = None
    ) -> list[str]:
        """The ids of the current resources of ``resource_type`` matching ``params`` among those ``access``
        may see, in the order they were created: a hidden match is no match. Strict: an unknown parameter
        is a 400 rather than a wider match (conditional interactions, and the engine's own look-ups)."""

    def search_in(
        self, access: Access, tx: WriteTransaction, resource_type: str, params: SearchParams, base_url: str
    ) -> SearchResult:
        """A search inside ``tx`` (a Bundle's GET entry), its matches, total, includes and paging links over
        what ``access`` may see; an unknown parameter is skipped, as in a search a client sends."""

    def compartment(
        self,
        access: Access,
        patient_id: str,
        *,
        types: Collection[str] | None = None,
        since: datetime | None = None,
        with_referenced: bool = True,
    ) -> list[StoredVersion]:
        """``Patient/patient_id`` and every current resource of its compartment (``fhirbridge.compartment``)
        that ``access`` may see, by type and in the order they were created; then, ``with_referenced``, the
        resources they reference that it may see. ``since``: only those changed since; ``types``: only
        those of these types."""

    def current(
        self,
        access: Access,
        resource_type: str,
        *,
        ids: Collection[str] | None = None,
        code: IndexedCode | None = None,
    ) -> list[Resource]:
        """Every current resource of ``resource_type`` that ``access`` may see, in the order they were
        created; ``ids``: only those; ``code``: only those the index holds that code for."""


# What a Bundle's GET entry is searched with (``BundleProcessor(searcher=...)``): ``SearchStore.search_in``.
Searcher = Callable[[Access, WriteTransaction, str, SearchParams, str], SearchResult]

__all__ = ["IndexedCode", "SearchParams", "SearchStore", "Searcher"]
