"""A write transaction's index rows are inserted together, yet every search sees them (search/indexer.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fhirbridge.search import match_ids, search
from fhirbridge.search.tables import INDEX_TABLES
from tests.factories import goal
from tests.search.conftest import BASE_URL, Store


def _index_rows(store: Store) -> int:
    with store.repo.connect() as conn:
        return sum(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in INDEX_TABLES.values())


def test_a_search_inside_the_transaction_finds_what_it_wrote(store: Store) -> None:
    with store.repo.write() as tx:
        tx.put("Goal", "g1", goal("g1", "p1", status="active"), method="PUT")
        assert match_ids(tx.connection(), "Goal", [("lifecycle-status", "active")]) == ["g1"]
        tx.put("Goal", "g2", goal("g2", "p1", status="active"), method="PUT")
        found = search(tx.connection(), "Goal", [("patient", "p1")], strict=True, base_url=BASE_URL)
        assert sorted(entry.id for entry in found.matches) == ["g1", "g2"]
    assert store.ids("Goal", "lifecycle-status=active") == ["g1", "g2"]


def test_a_resource_written_twice_in_one_transaction_keeps_only_its_last_rows(store: Store) -> None:
    with store.repo.write() as tx:
        tx.put("Goal", "g1", goal("g1", "p1", status="proposed"), method="PUT")
        tx.put("Goal", "g1", goal("g1", "p2", status="active"), method="PUT")
    assert store.ids("Goal", "lifecycle-status=proposed") == []
    assert store.ids("Goal", "patient=p1") == []
    assert store.ids("Goal", "lifecycle-status=active&patient=p2") == ["g1"]
    before = _index_rows(store)
    with store.repo.write() as tx:
        tx.put("Goal", "g3", goal("g3", "p1", status="proposed"), method="PUT")
        tx.delete("Goal", "g3")
    assert _index_rows(store) == before  # a deleted resource has no index rows


def test_rows_of_a_failed_transaction_are_never_written(store: Store) -> None:
    before = _index_rows(store)
    with pytest.raises(RuntimeError), store.repo.write() as tx:
        tx.put("Goal", "g1", goal("g1", "p1", status="active"), method="PUT")
        raise RuntimeError("the work failed after the write")
    # The next transactions, very likely on the same pooled connection, leave the failed one's rows out.
    for _ in range(3):
        with store.repo.write() as tx:
            tx.put("Goal", "g2", goal("g2", "p1", status="cancelled"), method="PUT")
    assert store.ids("Goal", "lifecycle-status=active") == []
    assert store.ids("Goal", "lifecycle-status=cancelled") == ["g2"]
    assert _index_rows(store) > before
