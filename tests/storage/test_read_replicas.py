"""Reads and searches from a real PostgreSQL streaming replica (FHIRBRIDGE_DATABASE_REPLICA_URLS).

A primary and a replica made with pg_basebackup run for this module (tests/storage/clusters.py). The
replica's replay is paused to make it lag on purpose: another client then reads the version before a
write (which proves the read came from the replica, as the primary has only the new one), the client that
wrote reads its write, and nobody reads the old version once the lag bound has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from fhirbridge.composition import open_repository
from fhirbridge.security.roles import role_claims
from fhirbridge.security.tokens import mint_token
from fhirbridge.storage.replicas import APPLICATION_NAME, reading_for
from fhirbridge.storage.sql import POSTGRES_EPOCH_TYPES, SqlRepository
from tests.conftest import LiveServer
from tests.factories import patient
from tests.security.conftest import AUDIENCE, ISSUER, SECRET, secure_settings
from tests.storage.clusters import Clusters, primary_and_replica

MAX_LAG = 2.0
# The monitor polls once a second; what a test waits for beyond a bound.
SLACK = 1.5


@pytest.fixture(scope="module")
def clusters() -> Iterator[Clusters]:
    with primary_and_replica() as made:
        yield made


def _open(clusters: Clusters) -> SqlRepository:
    return open_repository(clusters.primary_url, replica_urls=[clusters.replica_url], replica_max_lag_seconds=MAX_LAG)


@pytest.fixture(scope="module")
def replicated(clusters: Clusters) -> Iterator[SqlRepository]:
    repository = _open(clusters)
    yield repository
    repository.dispose()


@pytest.fixture(scope="module")
def live(replicated: SqlRepository) -> Iterator[LiveServer]:
    server = LiveServer(replicated, secure_settings(treating_relationship="claim"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def replay_paused(clusters: Clusters) -> Iterator[None]:
    clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_resume()")


def _token(subject: str) -> dict[str, str]:
    claims = role_claims("care-coordinator", user=f"Practitioner/{subject}")
    token = mint_token(claims, secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=600, subject=subject)
    return {"Authorization": f"Bearer {token}"}


def writer() -> dict[str, str]:
    return _token("writer")  # minted when used: a token made at import would expire in a long test run


def reader() -> dict[str, str]:
    return _token("reader")


def _replica_caught_up(repository: SqlRepository, clusters: Clusters, timeout: float = 30) -> None:
    """Until the repository's monitor knows the replica fresh and past everything the primary wrote."""
    target = int(str(clusters.sql(clusters.primary_port, "SELECT (pg_current_wal_insert_lsn() - '0/0')::int8")))
    replicas = repository._replicas
    assert replicas is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replicas.fresh() and replicas.replicas[0].replayed >= target:
            return
        time.sleep(0.05)
    raise AssertionError("the replica was never fresh")


def _version(http: httpx.Client, path: str, headers: dict[str, str]) -> str:
    response = http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    if body["resourceType"] == "Bundle":
        (entry,) = [e for e in body.get("entry", []) if e.get("search", {}).get("mode") != "include"]
        body = entry["resource"]
    return str(body["meta"]["versionId"])


def test_reads_go_to_the_replica_and_a_client_reads_its_writes(
    live: LiveServer, replicated: SqlRepository, clusters: Clusters, replay_paused: None
) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_resume()")
        assert http.put(
            "/Patient/rr-1", json=patient("rr-1", birth_date="2015-01-01"), headers=writer()
        ).status_code in (
            200,
            201,
        )
        _replica_caught_up(replicated, clusters)
        clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_pause()")

        updated = http.put("/Patient/rr-1", json=patient("rr-1", birth_date="2015-01-02"), headers=writer())
        acknowledged = time.monotonic()
        assert updated.status_code == 200, updated.text
        # The writer, at once: its own write, from the plain-read path, a search, history and vread.
        assert _version(http, "/Patient/rr-1", writer()) == "2"
        assert _version(http, "/Patient?_id=rr-1", writer()) == "2"
        assert http.get("/Patient/rr-1/_history", headers=writer()).json()["total"] == 2
        assert http.get("/Patient/rr-1/_history/2", headers=writer()).status_code == 200
        # Another client, while the replica lags within the bound: the version before, which only the
        # replica still has (so that is where these reads went).
        assert _version(http, "/Patient/rr-1", reader()) == "1"
        assert _version(http, "/Patient?_id=rr-1", reader()) == "1"
        assert (
            int(
                str(
                    clusters.sql(
                        clusters.replica_port,
                        f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APPLICATION_NAME}'",
                    )
                )
            )
            > 0
        )
        # Never after the bound, though the replica still replays nothing.
        while _version(http, "/Patient/rr-1", reader()) != "2":
            assert time.monotonic() - acknowledged < MAX_LAG + SLACK, "an old version was read past the lag bound"
            time.sleep(0.05)
        assert time.monotonic() - acknowledged <= MAX_LAG + SLACK
        assert _version(http, "/Patient?_id=rr-1", reader()) == "2"


def test_reads_count_on_the_replica(live: LiveServer, replicated: SqlRepository, clusters: Clusters) -> None:
    """Requests' reads are queries on the replica, not on the primary (pg_stat_database)."""
    with httpx.Client(base_url=live.url, timeout=30) as http:
        http.put("/Patient/rr-2", json=patient("rr-2", birth_date="2016-01-01"), headers=writer())
        _replica_caught_up(replicated, clusters)
        time.sleep(1.2)  # a poll later, so the writer's position is replayed by the monitor's count too
        fetched = "SELECT tup_fetched FROM pg_stat_database WHERE datname = 'postgres'"
        before = int(str(clusters.sql(clusters.replica_port, fetched)))
        for _ in range(20):
            assert _version(http, "/Patient?_id=rr-2", reader()) == "1"
        time.sleep(0.7)  # statistics reach pg_stat_database within half a second
        assert int(str(clusters.sql(clusters.replica_port, fetched))) - before >= 20


def test_every_worker_reads_what_a_client_wrote_through_another(
    replicated: SqlRepository, clusters: Clusters, replay_paused: None
) -> None:
    """Two repositories on one store are two workers: the position is in the primary, not in a process."""
    other = _open(clusters)
    try:
        clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_resume()")
        with reading_for("client-a"):
            replicated.run_write(
                lambda tx: tx.put("Patient", "rr-3", patient("rr-3", birth_date="2017-01-01"), method="PUT")
            )
        _replica_caught_up(other, clusters)
        clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_pause()")
        with reading_for("client-a"):
            replicated.run_write(
                lambda tx: tx.put("Patient", "rr-3", patient("rr-3", birth_date="2017-01-02"), method="PUT")
            )

        def read(client: str) -> int | None:
            with reading_for(client):
                version = other.read("Patient", "rr-3")
            return version.version_id if version is not None else None

        async def read_async(client: str) -> tuple[int | None, int | None]:
            with reading_for(client):
                version = await other.read_async("Patient", "rr-3")
                epoch = other.epoch(tuple(sorted(POSTGRES_EPOCH_TYPES)))
            return (version.version_id if version is not None else None), epoch

        assert read("client-a") == 2
        assert read("client-b") == 1
        assert asyncio.run(read_async("client-a"))[0] == 2
        version, epoch = asyncio.run(read_async("client-b"))
        assert version == 1
        # The relations' epoch comes from the primary, where the second write counted (Patient).
        assert epoch == other.primary().epoch(tuple(sorted(POSTGRES_EPOCH_TYPES)))
        with reading_for("client-a"):
            assert other.vread("Patient", "rr-3", 2) is not None
            with other.connect() as conn:
                assert conn.engine is other.engine  # the replica has not replayed client-a's write
    finally:
        other.dispose()


def test_a_replica_down_leaves_reads_to_the_primary(
    live: LiveServer, replicated: SqlRepository, clusters: Clusters
) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        http.put("/Patient/rr-4", json=patient("rr-4", birth_date="2018-01-01"), headers=writer())
        _replica_caught_up(replicated, clusters)
        clusters.stop_replica()
        try:
            # At once (the monitor has not noticed yet), and later: no error, the primary answers.
            assert _version(http, "/Patient/rr-4", reader()) == "1"
            assert _version(http, "/Patient?_id=rr-4", reader()) == "1"
            for expected, birth_date in (("2", "2018-01-02"), ("3", "2018-01-03")):
                written = http.put("/Patient/rr-4", json=patient("rr-4", birth_date=birth_date), headers=writer())
                assert written.status_code == 200, written.text
                assert _version(http, "/Patient/rr-4", writer()) == expected
                assert _version(http, "/Patient/rr-4", reader()) == expected  # only the primary answers
                assert _version(http, "/Patient?_id=rr-4", reader()) == expected
                # vread and history read on threads (the blocking point reads), not the event loop
                assert http.get(f"/Patient/rr-4/_history/{expected}", headers=reader()).status_code == 200
                assert http.get("/Patient/rr-4/_history", headers=reader()).json()["total"] == int(expected)
                time.sleep(SLACK)
            assert not replicated._replicas or not replicated._replicas.fresh()
        finally:
            clusters.start_replica()
        _replica_caught_up(replicated, clusters)
        assert _version(http, "/Patient/rr-4", reader()) == "3"
