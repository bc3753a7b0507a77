"""The engine's view of search: running searches, and matching criteria for conditional interactions."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Connection

from fhirbridge.search import SearchResult, match_ids, search, searchset_dict
from fhirbridge.search.engine import DEFAULT_LIMITS, SearchLimits
from fhirbridge.search.predicates import RowFilter
from fhirbridge.storage.contract import Repository

# Parameters about the response format, which the HTTP layer has already honoured.
FORMAT_PARAMETERS = frozenset({"_format", "_pretty"})


def parse_criteria(criteria: str) -> list[tuple[str, str]]:
    return [
        (name, value) for name, value in parse_qsl(criteria, keep_blank_values=True) if name not in FORMAT_PARAMETERS
    ]


class SearchService:
    def __init__(self, repository: Repository, *, limits: SearchLimits = DEFAULT_LIMITS) -> None:
        self.repository = repository
        # How much one search may ask for (Settings.max_search_parameters, max_search_values).
        self.limits = limits

    def search(
        self,
        resource_type: str | None,
        params: list[tuple[str, str]],
        *,
        strict: bool,
        base_url: str,
        compartment: tuple[str, str] | None = None,
        visible: RowFilter | None = None,
        within: RowFilter | None = None,
    ) -> SearchResult:
        params = [(name, value) for name, value in params if name not in FORMAT_PARAMETERS]
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

    def match_ids(
        self, conn: Connection, resource_type: str, criteria: str, *, visible: RowFilter | None = None
    ) -> list[str]:
        """Conditional create, update and delete: the ids matching ``criteria`` (a query string)."""
        return match_ids(conn, resource_type, parse_criteria(criteria), visible=visible, limits=self.limits)

    def search_in(
        self, conn: Connection, resource_type: str, criteria: str, base_url: str, visible: RowFilter | None = None
    ) -> dict[str, Any]:
        """A search inside a transaction (a GET entry), as a searchset Bundle."""
        criteria_params = parse_criteria(criteria)
        result = search(
            conn, resource_type, criteria_params, strict=False, base_url=base_url, visible=visible, limits=self.limits
        )
        return searchset_dict(result, base_url=base_url, path=resource_type)


__all__ = ["FORMAT_PARAMETERS", "SearchService", "parse_criteria"]
