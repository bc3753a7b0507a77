"""``fhirbridge db status`` and ``fhirbridge db upgrade``: the store's schema version, and bringing it up.

A server migrates its store when it starts (workers take turns: storage/sql.py), so these are for the
upgrade a deployment runs on its own, before the new version's workers start (docs/deployment.md), and
for checking a store without starting a server. The migrations are this release's, which the composition
root gives (fhirbridge/composition.py registers the command).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from fhirbridge.config import Settings
from fhirbridge.storage import schema
from fhirbridge.storage.engines import create_sql_engine
from fhirbridge.storage.migrations import Migration, applied_versions
from fhirbridge.storage.sql import SqlRepository


def register(subparsers: Any, migrations: Sequence[Migration]) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("db", help="the store's schema: status and upgrade")
    commands = parser.add_subparsers(dest="db_command", required=True)
    for name, handler, text in (
        ("status", status, "list the schema migrations applied and pending; exit 1 while any is pending"),
        ("upgrade", upgrade, "apply the pending schema migrations"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--database-url", help="SQLAlchemy URL (default: FHIRBRIDGE_DATABASE_URL, else SQLite)")
        command.set_defaults(handler=partial(handler, migrations=migrations))


def _url(args: argparse.Namespace) -> str:
    return str(args.database_url or Settings().effective_database_url())


def status(args: argparse.Namespace, *, migrations: Sequence[Migration]) -> int:
    url = make_url(_url(args))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        print(f"no store at {url.database}", file=sys.stderr)  # asking must not make an empty one
        return 2
    engine = create_sql_engine(_url(args), bounded=False)
    try:
        with engine.connect() as conn:
            applied = applied_versions(conn) if sa.inspect(conn).has_table(schema.schema_migrations.name) else set()
    finally:
        engine.dispose()
    pending = 0
    for migration in migrations:
        done = migration.version in applied
        pending += not done
        print(f"{migration.version:>4}  {'applied' if done else 'PENDING'}  {migration.description}")
    # Not pending_migrations(): that needs no table, where this also tells a store a newer release made.
    unknown = sorted(applied - {migration.version for migration in migrations})
    if unknown:  # a newer fhirbridge has migrated this store: this one must not serve it
        print(f"applied by a newer fhirbridge: {', '.join(map(str, unknown))}", file=sys.stderr)
        return 2
    print("the schema is current" if not pending else f"{pending} migration(s) pending: run `fhirbridge db upgrade`")
    return 1 if pending else 0


def upgrade(args: argparse.Namespace, *, migrations: Sequence[Migration]) -> int:
    repository = SqlRepository(create_sql_engine(_url(args), bounded=False), migrations=migrations)
    try:
        applied = repository.migrate()
    finally:
        repository.dispose()
    print(f"applied {', '.join(map(str, applied))}" if applied else "nothing to apply: the schema is current")
    return 0


__all__ = ["register"]
