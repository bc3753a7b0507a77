"""Conditional writes with the same criteria, sent at once, create exactly one resource.

Each writer runs in its own thread and its own write transaction, all released together. The one that
finds no match creates the resource; every other one must then find it (R4 http.html): If-None-Exist
answers it (200), a conditional update updates it (200), and so do a transaction's ``ifNoneExist`` and
conditional PUT entries.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.searching import SearchService, parse_criteria
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.security.access import SYSTEM_ACCESS
from fhirbridge.storage.sql import SqlRepository
from tests.factories import patient

WRITERS = 16
SYSTEM = "http://x"
T = TypeVar("T")


@pytest.fixture
def search(repository: SqlRepository) -> SearchService:
    return SearchService(repository)


@pytest.fixture
def engine(repository: SqlRepository, search: SearchService) -> FhirEngine:
    return FhirEngine(repository, matcher=search)


@pytest.fixture
def bundles(engine: FhirEngine, search: SearchService) -> BundleProcessor:
    return BundleProcessor(engine, max_entries=10, searcher=search.search_in)


@pytest.fixture
def value() -> str:
    """An identifier value no other test uses: the store is shared by the whole session."""
    return uuid.uuid4().hex


def at_once(write: Callable[[int], T]) -> list[T]:
    """Run ``write(0)`` ... ``write(WRITERS - 1)`` in as many threads, all started together."""
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> T:
        start.wait(timeout=30)
        return write(n)

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(writer, range(WRITERS)))


def criteria(value: str) -> str:
    return f"identifier={SYSTEM}|{value}"


def holders(search: SearchService, value: str) -> list[str]:
    """The ids of the Patients that carry the identifier."""
    return search.match_ids(SYSTEM_ACCESS, "Patient", parse_criteria(criteria(value)))


def test_if_none_exist_creates_one_and_answers_it_to_the_others(
    engine: FhirEngine, search: SearchService, value: str
) -> None:
    results = at_once(
        lambda n: engine.create(
            SYSTEM_ACCESS,
            "Patient",
            patient(family=f"writer {n}", identifier=[{"system": SYSTEM, "value": value}]),
            if_none_exist=criteria(value),
        )
    )
    created = holders(search, value)
    assert len(created) == 1
    assert sorted(result.status for result in results) == [200] * (WRITERS - 1) + [201]
    # Every writer is answered with the one Patient.
    assert [result.version.id if result.version else None for result in results] == created * WRITERS


def test_conditional_update_creates_one_and_the_others_update_it(
    engine: FhirEngine, repository: SqlRepository, search: SearchService, value: str
) -> None:
    results = at_once(
        lambda n: engine.conditional_update(
            SYSTEM_ACCESS,
            "Patient",
            criteria(value),
            patient(family=f"writer {n}", identifier=[{"system": SYSTEM, "value": value}]),
        )
    )
    created = holders(search, value)
    assert len(created) == 1
    assert sorted(result.status for result in results) == [200] * (WRITERS - 1) + [201]
    current = repository.read("Patient", created[0])
    assert current is not None and current.version_id == WRITERS  # one create, then every update on it


@pytest.mark.parametrize(
    "request_of",
    [
        pytest.param(lambda value: {"method": "POST", "url": "Patient", "ifNoneExist": criteria(value)}),
        pytest.param(lambda value: {"method": "PUT", "url": f"Patient?{criteria(value)}"}),
    ],
    ids=["ifNoneExist", "conditional-put"],
)
def test_transactions_create_one_and_the_others_find_it(
    bundles: BundleProcessor,
    search: SearchService,
    value: str,
    request_of: Callable[[str], dict[str, str]],
) -> None:
    def transaction(n: int) -> str:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": patient(family=f"writer {n}", identifier=[{"system": SYSTEM, "value": value}]),
                    "request": request_of(value),
                }
            ],
        }
        response = bundles.process(SYSTEM_ACCESS, bundle, "http://fhirbridge.test")
        status: str = response["entry"][0]["response"]["status"]
        return status

    statuses = at_once(transaction)
    assert len(holders(search, value)) == 1
    assert sorted(statuses) == ["200 OK"] * (WRITERS - 1) + ["201 Created"]
