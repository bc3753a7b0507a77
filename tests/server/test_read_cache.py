"""The SQLite current-version cache (fhirbridge.storage.sqlite_reads) is exact: no read is ever stale.

Another connection's commit, in this process or in another one, is seen by the very next read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhirbridge.composition import open_repository
from fhirbridge.storage.sql import SqlRepository
from tests.factories import goal
from tests.support import REPO_ROOT

CACHE = 1024 * 1024


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture
def reader(database: str) -> Iterator[SqlRepository]:
    repository = open_repository(database, read_cache_bytes=CACHE)
    yield repository
    repository.dispose()


def _put(repository: SqlRepository, id: str, text: str) -> None:
    repository.run_write(lambda tx: tx.put("Goal", id, goal(description_text=text, subject={}), method="PUT"))


def _text(repository: SqlRepository, id: str) -> str | None:
    version = repository.read("Goal", id)
    if version is None or version.content is None:
        return None
    return str(json.loads(version.content)["description"]["text"])


def test_writes_through_the_same_repository_are_read_at_once(reader: SqlRepository) -> None:
    _put(reader, "g1", "walks with a walker")
    assert _text(reader, "g1") == "walks with a walker"
    _put(reader, "g1", "walks unaided")
    assert _text(reader, "g1") == "walks unaided"
    reader.run_write(lambda tx: tx.delete("Goal", "g1"))
    version = reader.read("Goal", "g1")
    assert version is not None and version.deleted


def test_another_connection_s_commit_is_seen_by_the_next_read(reader: SqlRepository, database: str) -> None:
    writer = open_repository(database)
    try:
        _put(writer, "g1", "first")
        assert _text(reader, "g1") == "first"
        assert _text(reader, "g1") == "first"  # now from memory
        _put(writer, "g1", "second")
        assert _text(reader, "g1") == "second"
        assert reader.read("Goal", "g2") is None
        _put(writer, "g2", "created elsewhere")
        assert _text(reader, "g2") == "created elsewhere"
    finally:
        writer.dispose()


def test_another_process_s_commit_is_seen_by_the_next_read(reader: SqlRepository, database: str) -> None:
    _put(reader, "g1", "before")
    assert _text(reader, "g1") == "before"
    script = textwrap.dedent(
        f"""
        from fhirbridge.composition import open_repository
        repository = open_repository({database!r})
        goal = {goal(description_text="written by another server process", subject={})!r}
        repository.run_write(lambda tx: tx.put("Goal", "g1", goal, method="PUT"))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO_ROOT, timeout=60)
    assert _text(reader, "g1") == "written by another server process"


def test_memory_is_bounded_by_the_content_held(database: str) -> None:
    repository = open_repository(database, read_cache_bytes=2_000)
    try:
        for number in range(40):
            _put(repository, f"g{number}", "x" * 100)
        for number in range(40):
            assert _text(repository, f"g{number}") == "x" * 100
        cache = repository._current_reads
        assert cache is not None
        assert 0 < cache._cached_bytes <= 2_000
        assert len(cache._cache) < 40
        # Evicted or not, every resource still reads correctly.
        assert all(_text(repository, f"g{number}") == "x" * 100 for number in range(40))
    finally:
        repository.dispose()


def test_no_cache_where_commits_cannot_be_watched(database: str) -> None:
    memory = open_repository("sqlite://", read_cache_bytes=CACHE)
    switched_off = open_repository(database, read_cache_bytes=0)
    try:
        assert memory._current_reads is None
        assert switched_off._current_reads is None
        _put(switched_off, "g1", "read from the database")
        assert _text(switched_off, "g1") == "read from the database"
    finally:
        memory.dispose()
        switched_off.dispose()
