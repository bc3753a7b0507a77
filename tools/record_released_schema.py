"""Record the schema each released migration makes, so that editing a released migration fails a test.

    python tools/record_released_schema.py          # after adding a migration: records the new version(s)
    python tools/record_released_schema.py --check  # what tests/storage/test_released_schema.py does

A migration, once released, is never edited (fhirbridge/storage/migrations.py; the list of this release's is
fhirbridge/composition.py schema_migrations): stores in the field have
applied it as it was. Migrations build their tables from the same SQLAlchemy tables the code uses today
(``search/tables.py``, ``storage/schema.py``), so a change to one of those would silently change what a
released migration makes on a new store while old stores keep the old shape. This records, per version,
the SQL of every schema object the migration adds or changes on SQLite; a recorded version is never
rewritten by this tool, only new ones are added.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhirbridge.composition import schema_migrations  # noqa: E402
from fhirbridge.storage import migrations  # noqa: E402

RECORD = ROOT / "tests" / "storage" / "released_schema.json"


def schema_by_version() -> dict[str, list[str]]:
    """Version -> the SQL (as SQLite keeps it) of each schema object that version adds or changes."""
    made: dict[str, list[str]] = {}
    before: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fhirbridge-schema-") as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'store.sqlite3'}")
        try:
            released = schema_migrations()
            for migration in released:
                with engine.begin() as conn:
                    migrations.migrate(conn, [m for m in released if m.version <= migration.version])
                    rows = conn.exec_driver_sql(
                        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'schema_migrations'"
                    ).all()
                now = {str(name): " ".join(str(sql).split()) for name, sql in rows}
                made[str(migration.version)] = sorted(sql for name, sql in now.items() if before.get(name) != sql)
                before = now
        finally:
            engine.dispose()
    return made


def recorded() -> dict[str, list[str]]:
    return dict(json.loads(RECORD.read_text())) if RECORD.exists() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the record; change nothing")
    args = parser.parse_args(argv)
    record = recorded()
    current = schema_by_version()
    changed = [version for version in record if current.get(version) != record[version]]
    new = [version for version in current if version not in record]
    if changed:
        print(f"released migrations changed: {', '.join(changed)} (write a new migration instead)", file=sys.stderr)
        return 1
    if args.check:
        if new:
            print(f"migrations not recorded: {', '.join(new)} (run tools/record_released_schema.py)", file=sys.stderr)
            return 1
        return 0
    record.update({version: current[version] for version in new})
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    print(f"recorded {', '.join(new)}" if new else "nothing new to record")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
