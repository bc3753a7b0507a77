"""read and vread on PostgreSQL use connections of their own (fhirbridge.storage.postgres_reads)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fhirbridge.composition import open_repository
from fhirbridge.storage.postgres_reads import ASYNC_CONNECTIONS
from fhirbridge.storage.sql import SqlRepository
from tests.factories import goal
from tests.support import backend_url


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[SqlRepository]:
    with backend_url("postgresql", tmp_path) as url:
        repository = open_repository(url)
        yield repository
        repository.dispose()


def test_reads_see_every_commit_and_hold_no_transaction_open(postgres: SqlRepository) -> None:
    postgres.run_write(lambda tx: tx.put("Goal", "g1", goal(description_text="first", subject={}), method="PUT"))
    first = postgres.read("Goal", "g1")
    assert first is not None and first.version_id == 1
    postgres.run_write(lambda tx: tx.put("Goal", "g1", goal(description_text="second", subject={}), method="PUT"))
    second = postgres.read("Goal", "g1")
    assert second is not None and second.version_id == 2 and b"second" in (second.content or b"")
    old = postgres.vread("Goal", "g1", 1)
    assert old is not None and b"first" in (old.content or b"")
    # Only this repository's read connection is asked about: other tests share the server.
    reads = postgres._postgres_reads
    assert reads is not None and reads._connection is not None
    with postgres.engine.connect() as conn:
        state = conn.execute(
            sa.text("SELECT state FROM pg_stat_activity WHERE pid = :pid"),
            {"pid": reads._connection.info.backend_pid},
        ).scalar_one()
    assert state == "idle"


def test_a_read_survives_its_connection_being_dropped(postgres: SqlRepository) -> None:
    postgres.run_write(lambda tx: tx.put("Goal", "g1", goal(description_text="kept", subject={}), method="PUT"))
    assert postgres.read("Goal", "g1") is not None
    reads = postgres._postgres_reads
    assert reads is not None and reads._connection is not None
    backend = reads._connection.info.backend_pid
    with postgres.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
    again = postgres.read("Goal", "g1")
    assert again is not None and b"kept" in (again.content or b"")
    assert reads._connection.info.backend_pid != backend


def test_awaited_reads_see_every_commit(postgres: SqlRepository) -> None:
    async def read(id: str) -> bytes | None:
        version = await postgres.read_async("Goal", id)
        return version.content if version is not None else None

    postgres.run_write(lambda tx: tx.put("Goal", "g1", goal(description_text="first", subject={}), method="PUT"))
    assert b"first" in (asyncio.run(read("g1")) or b"")
    postgres.run_write(lambda tx: tx.put("Goal", "g1", goal(description_text="second", subject={}), method="PUT"))
    assert b"second" in (asyncio.run(read("g1")) or b"")  # a new loop: new connections
    assert asyncio.run(read("absent")) is None


def test_more_awaited_reads_than_connections_each_get_their_own_answer(postgres: SqlRepository) -> None:
    postgres.run_write(
        lambda tx: [
            tx.put("Goal", f"g{n}", goal(description_text=f"goal {n}", subject={}), method="PUT") for n in range(40)
        ]
    )

    async def read_all() -> list[bytes | None]:
        versions = await asyncio.gather(*(postgres.read_async("Goal", f"g{n}") for n in range(40)))
        return [v.content if v is not None else None for v in versions]

    contents = asyncio.run(read_all())
    assert all(f'"goal {n}"'.encode() in (content or b"") for n, content in enumerate(contents))
    reads = postgres._postgres_reads
    assert reads is not None and reads._async is not None
    assert reads._async._opened <= ASYNC_CONNECTIONS


def test_a_cancelled_read_leaves_no_answer_behind(postgres: SqlRepository) -> None:
    postgres.run_write(
        lambda tx: [
            tx.put("Goal", f"g{n}", goal(description_text=f"goal {n}", subject={}), method="PUT") for n in range(3)
        ]
    )

    async def scenario() -> list[bytes | None]:
        await postgres.read_async("Goal", "g0")  # connections open and statement prepared
        cancelled = asyncio.ensure_future(postgres.read_async("Goal", "g1"))
        await asyncio.sleep(0)  # it has sent its question and waits for the answer
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        versions = [await postgres.read_async("Goal", f"g{n}") for n in (2, 0, 2)]
        return [v.content if v is not None else None for v in versions]

    contents = asyncio.run(scenario())
    assert [b"goal 2" in (c or b"") for c in contents] == [True, False, True]
    assert b"goal 0" in (contents[1] or b"")


def test_an_awaited_read_survives_its_connection_being_dropped(postgres: SqlRepository) -> None:
    postgres.run_write(lambda tx: tx.put("Goal", "g1", goal(description_text="kept", subject={}), method="PUT"))

    async def scenario() -> bytes | None:
        await postgres.read_async("Goal", "g1")
        reads = postgres._postgres_reads
        assert reads is not None and reads._async is not None
        backends = [channel.backend_pid for channel in reads._async._idle]
        with postgres.engine.connect() as conn:
            for pid in backends:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        version = await postgres.read_async("Goal", "g1")
        return version.content if version is not None else None

    assert b"kept" in (asyncio.run(scenario()) or b"")
