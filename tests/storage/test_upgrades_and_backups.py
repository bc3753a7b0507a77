"""A deployment's upgrade and backup: `fhirbridge db status|upgrade`, a server that will not migrate on its
own, and a PostgreSQL store dumped with pg_dump and restored with pg_restore (docs/deployment.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from fhirbridge.composition import open_repository, schema_migrations
from fhirbridge.config import Settings
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.searching import SearchService
from fhirbridge.security.access import SYSTEM_ACCESS
from fhirbridge.server.app import SchemaNotCurrent, create_app
from fhirbridge.storage.audit_log import AuditLog, AuditRow
from tests.factories import goal, patient
from tests.support import POSTGRES_URL, backend_url

FHIRBRIDGE = str(Path(sys.executable).with_name("fhirbridge"))
VERSIONS = [migration.version for migration in schema_migrations()]


def db(command: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FHIRBRIDGE, "db", command, "--database-url", url], capture_output=True, text=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        yield url


def test_status_tells_pending_migrations_and_upgrade_applies_them(empty_store: str) -> None:
    before = db("status", empty_store)
    if empty_store.startswith("sqlite"):
        assert before.returncode == 2 and "no store" in before.stderr  # asking made no empty file
        _touch(empty_store)
        before = db("status", empty_store)
    assert before.returncode == 1, before.stdout + before.stderr
    assert before.stdout.count("PENDING") == len(VERSIONS)

    upgraded = db("upgrade", empty_store)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"applied {', '.join(map(str, VERSIONS))}" in upgraded.stdout
    after = db("status", empty_store)
    assert after.returncode == 0 and "the schema is current" in after.stdout
    assert "nothing to apply" in db("upgrade", empty_store).stdout


def _touch(url: str) -> None:
    """An empty database (a SQLite file appears on first connection)."""
    engine = sa.create_engine(url)
    engine.connect().close()
    engine.dispose()


def test_a_server_told_not_to_migrate_refuses_an_old_schema(empty_store: str) -> None:
    _touch(empty_store)
    settings = Settings(database_url=empty_store, migrate_on_start=False, auth_disabled=True)
    with pytest.raises(SchemaNotCurrent, match="fhirbridge db upgrade"):
        create_app(settings)
    assert db("upgrade", empty_store).returncode == 0
    repository = open_repository(empty_store, migrate_schema=False)
    try:
        assert repository.pending_migrations() == []
    finally:
        repository.dispose()


def _pg_arguments(url: str) -> list[str]:
    parsed = make_url(url)
    return ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]


def test_a_postgresql_store_restored_from_pg_dump_serves_what_was_stored(tmp_path: Path) -> None:
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump and pg_restore are not installed")
    with backend_url("postgresql", tmp_path) as url:
        schema_name = url.rsplit("search_path%3D", 1)[1]
        repository = open_repository(url)
        engine = FhirEngine(repository, matcher=SearchService(repository))
        engine.update(SYSTEM_ACCESS, "Patient", "maya", patient("maya", gender="female"))
        for text in ("walks with a walker", "walks ten steps unaided", "walks across the classroom"):
            engine.update(SYSTEM_ACCESS, "Goal", "maya-walk", goal("maya-walk", "maya", description_text=text))
        audit = AuditLog.beside(repository.engine)
        audit.append([AuditRow("evt-1", 1, "Practitioner/7", "Goal", "0", ("maya",), b'{"kept":"as sent"}')])
        audit.dispose()
        repository.dispose()

        dump = tmp_path / "fhirbridge.dump"
        database = make_url(POSTGRES_URL).database or "test"
        common = _pg_arguments(POSTGRES_URL)
        subprocess.run(
            ["pg_dump", *common, "-Fc", "-n", schema_name, "-f", str(dump), database], check=True, capture_output=True
        )
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # the store is lost
            conn.execute(sa.text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()
        subprocess.run(["pg_restore", *common, "-d", database, str(dump)], check=True, capture_output=True)

        restored = open_repository(url, migrate_schema=False)
        try:
            assert restored.pending_migrations() == []
            engine = FhirEngine(restored, matcher=SearchService(restored))
            current = engine.read(SYSTEM_ACCESS, "Goal", "maya-walk")
            assert current.version_id == 3
            assert b"walks across the classroom" in (current.content or b"")
            first = engine.vread(SYSTEM_ACCESS, "Goal", "maya-walk", "1")
            assert b"walks with a walker" in (first.content or b"")
            found = SearchService(restored).search(
                "Goal", [("subject", "Patient/maya")], strict=True, base_url="http://fhirbridge.test"
            )
            assert found.total == 1
            restored_log = AuditLog.beside(restored.engine)
            row = restored_log.read("evt-1")
            restored_log.dispose()
            assert row is not None and row.content == b'{"kept":"as sent"}'
            # Writing goes on where it stopped: the next version follows the restored ones.
            assert (
                engine.update(
                    SYSTEM_ACCESS, "Goal", "maya-walk", goal("maya-walk", "maya", description_text="runs")
                ).version.version_id
                == 4
            )
        finally:
            restored.dispose()
