"""Released migrations are frozen: the schema each makes is recorded (tools/record_released_schema.py),
and a change to a table a released migration builds (storage/schema.py, search/tables.py, ...) fails here
instead of silently making new stores differ from old ones."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import sqlalchemy as sa

from fhirbridge.storage import migrations, schema
from tests.support import REPO_ROOT


def test_every_released_migration_makes_the_schema_it_was_released_with() -> None:
    checked = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "record_released_schema.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_an_edited_migration_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: migration 1 making one more column than it was released with is reported."""
    from tools import record_released_schema as record

    def edited(conn: sa.Connection) -> None:
        for table in (schema.resources, schema.resource_versions):
            table.create(conn)
        conn.exec_driver_sql("ALTER TABLE resources ADD COLUMN added_later INTEGER")

    released = {migration.version: migration for migration in migrations.MIGRATIONS}
    monkeypatch.setattr(migrations, "MIGRATIONS", [replace(released[1], apply=edited), *list(released.values())[1:]])
    assert record.schema_by_version()["1"] != record.recorded()["1"]
