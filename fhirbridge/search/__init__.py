"""FHIR search below HTTP: index on write, query, include, sort, page, render a searchset.

Wiring (see docs/search.md)::

    repository = open_repository(url)                  # SearchIndexer is the default indexer
    with repository.connect() as conn:
        result = search(conn, "CarePlan", [("patient", "1"), ("category", "assess-plan")],
                        strict=False, base_url=base)
    body = searchset_bytes(result, base_url=base, path="CarePlan")
"""

from fhirbridge.search.bundle import links, search_url, searchset_bytes, searchset_dict
from fhirbridge.search.definitions import SearchParamInfo, searchable_types, supported_parameters
from fhirbridge.search.engine import SearchEntry, SearchResult, match_ids, search
from fhirbridge.search.indexer import SearchIndexer
from fhirbridge.search.request import CURSOR_PARAM
from fhirbridge.search.tables import create_search_tables

__all__ = [
    "CURSOR_PARAM",
    "SearchEntry",
    "SearchIndexer",
    "SearchParamInfo",
    "SearchResult",
    "create_search_tables",
    "links",
    "match_ids",
    "search",
    "search_url",
    "searchable_types",
    "searchset_bytes",
    "searchset_dict",
    "supported_parameters",
]
