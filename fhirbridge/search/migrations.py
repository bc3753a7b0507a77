"""The search index's steps of the store's schema migrations (fhirbridge/storage/migrations.py says how
the steps of every part make one sequence)."""

from __future__ import annotations

from fhirbridge.search.indexer import index_access_attributes
from fhirbridge.search.tables import create_search_tables
from fhirbridge.storage.migrations import Migration

MIGRATIONS: list[Migration] = [
    Migration(2, "search index tables", create_search_tables),
    # Stores written before the access policy read its attributes from the index get them now.
    Migration(4, "sensitivity labels and information classes in the search index", index_access_attributes),
]

__all__ = ["MIGRATIONS"]
