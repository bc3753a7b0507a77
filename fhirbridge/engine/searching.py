"""The engine's view of search: criteria as a conditional interaction or a Bundle entry sends them, and the
search store the server builds (engine/stores.py has what the engine asks of it)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhirbridge.search.request import TRANSPORT_PARAMS
from fhirbridge.search.store import SqlSearchStore

# The name the server, bulk export and the import's write path build the search store by (server/app.py).
SearchService = SqlSearchStore


def parse_criteria(criteria: str) -> list[tuple[str, str]]:
    """A query string's parameters, in order, without those about the response format."""
    return [
        (name, value) for name, value in parse_qsl(criteria, keep_blank_values=True) if name not in TRANSPORT_PARAMS
    ]


__all__ = ["SearchService", "parse_criteria"]
