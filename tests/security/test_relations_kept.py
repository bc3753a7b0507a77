"""A caller's relations are kept while none of their sources is committed, in any process, and no longer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fhirbridge.composition import open_repository
from fhirbridge.security.principal import Principal
from fhirbridge.security.server import RELATION_SOURCES, RepositoryRelations
from fhirbridge.storage.sql import POSTGRES_EPOCH_TYPES, SqlRepository
from tests.factories import care_team, goal
from tests.security import records
from tests.support import backend_url

COORDINATOR = Principal(
    subject="ana", client_id="portal", scopes=(), fhir_user="Practitioner/ana", organization="Organization/home"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlRepository, SqlRepository]]:
    """The server's store, and the same database opened by another process's (or worker's) repository."""
    with backend_url(request.param, tmp_path) as url:
        server = open_repository(url, read_cache_bytes=1 << 20)
        other = open_repository(url, read_cache_bytes=1 << 20)
        yield server, other
        other.dispose()
        server.dispose()


def put(repository: SqlRepository, *resources: dict[str, Any]) -> None:
    def write(tx: Any) -> None:
        for resource in resources:
            tx.put(resource["resourceType"], resource["id"], dict(resource), method="PUT")

    repository.run_write(write)


@dataclass
class CountedReads:
    """The server's relations, counting how often they are read from the store."""

    relations: RepositoryRelations
    reads: int = 0


def counting_reads(stores: tuple[SqlRepository, SqlRepository], monkeypatch: pytest.MonkeyPatch) -> CountedReads:
    """Jordan and Aisha, Ana on Jordan's care team (written by the other process), and the server's
    relations with their reads counted."""
    server, other = stores
    put(other, records.practice_child("jordan"), records.practice_child("aisha"))
    put(other, care_team("jordan-team", "jordan", "Practitioner/ana"))
    counted = CountedReads(RepositoryRelations(server, "care-team"))
    looked_up = counted.relations._relations

    def counting(*args: Any) -> Any:
        counted.reads += 1
        return looked_up(*args)

    monkeypatch.setattr(counted.relations, "_relations", counting)
    return counted


def test_relations_outlive_unrelated_commits_and_follow_care_team_changes(
    stores: tuple[SqlRepository, SqlRepository], monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = counting_reads(stores, monkeypatch)
    relations, now = counted.relations, datetime.now(UTC)
    other = stores[1]
    assert relations.relations(COORDINATOR, now).treated == {"jordan"}
    put(other, goal("jordan-goal", "jordan"))  # a commit, of nothing relations come from
    assert relations.relations(COORDINATOR, now).treated == {"jordan"}
    assert counted.reads == 1
    # Another process puts the caller on Aisha's care team: seen at the next request.
    put(other, care_team("aisha-team", "aisha", "Practitioner/ana"))
    assert relations.relations(COORDINATOR, now).treated == {"jordan", "aisha"}
    assert counted.reads == 2


def test_a_write_transaction_sees_the_care_teams_it_wrote(stores: tuple[SqlRepository, SqlRepository]) -> None:
    server, _ = stores
    put(server, records.practice_child("jordan"))
    relations = RepositoryRelations(server, "care-team")
    now = datetime.now(UTC)
    assert relations.relations(COORDINATOR, now).treated == frozenset()

    def write(tx: Any) -> None:
        assert relations.relations(COORDINATOR, now, tx.connection()).treated == frozenset()
        team = care_team("jordan-team", "jordan", "Practitioner/ana")
        tx.put("CareTeam", team["id"], team, method="PUT")
        assert relations.relations(COORDINATOR, now, tx.connection()).treated == {"jordan"}

    server.run_write(write)
    assert relations.relations(COORDINATOR, now).treated == {"jordan"}


def test_only_the_sources_of_relations_move_their_epoch(stores: tuple[SqlRepository, SqlRepository]) -> None:
    server, other = stores
    before = server.epoch(RELATION_SOURCES)
    put(other, records.practice_child("jordan"))
    after_patient = server.epoch(RELATION_SOURCES)
    put(other, goal("jordan-goal", "jordan"))
    assert before is not None and after_patient is not None
    assert after_patient > before
    assert server.epoch(RELATION_SOURCES) == after_patient


def test_postgresql_counts_the_commits_of_every_source_of_relations() -> None:
    assert set(RELATION_SOURCES) <= POSTGRES_EPOCH_TYPES


def test_a_request_decides_with_relations_as_of_its_own_read(
    stores: tuple[SqlRepository, SqlRepository], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain read (read_async) brings the epoch back with the resource on PostgreSQL: the caller's
    relations are those of that moment, neither older nor read again for nothing."""
    counted = counting_reads(stores, monkeypatch)
    relations, now = counted.relations, datetime.now(UTC)
    server, other = stores

    async def request(id: str) -> frozenset[str]:  # each request runs in a task of its own
        assert await server.read_async("Patient", id) is not None
        return frozenset(relations.relations(COORDINATOR, now).treated)

    assert asyncio.run(request("jordan")) == {"jordan"}
    assert asyncio.run(request("aisha")) == {"jordan"}
    assert counted.reads == 1
    put(other, care_team("aisha-team", "aisha", "Practitioner/ana"))
    assert asyncio.run(request("aisha")) == {"jordan", "aisha"}
    assert counted.reads == 2
