"""read and vread on PostgreSQL use a connection of their own (fhirbridge.storage.postgres_reads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fhirbridge.storage.sql import SqlRepository, open_repository
from tests.support import backend_url


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[SqlRepository]:
    with backend_url("postgresql", tmp_path) as url:
        repository = open_repository(url)
        yield repository
        repository.dispose()


def _goal(text: str) -> dict[str, object]:
    return {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": text}, "subject": {}}


def test_reads_see_every_commit_and_hold_no_transaction_open(postgres: SqlRepository) -> None:
    postgres.run_write(lambda tx: tx.put("Goal", "g1", _goal("first"), method="PUT"))
    first = postgres.read("Goal", "g1")
    assert first is not None and first.version_id == 1
    postgres.run_write(lambda tx: tx.put("Goal", "g1", _goal("second"), method="PUT"))
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
    postgres.run_write(lambda tx: tx.put("Goal", "g1", _goal("kept"), method="PUT"))
    assert postgres.read("Goal", "g1") is not None
    reads = postgres._postgres_reads
    assert reads is not None and reads._connection is not None
    backend = reads._connection.info.backend_pid
    with postgres.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
    again = postgres.read("Goal", "g1")
    assert again is not None and b"kept" in (again.content or b"")
    assert reads._connection.info.backend_pid != backend
