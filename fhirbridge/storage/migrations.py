"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

The store's schema has one sequence of numbered steps. Storage owns the steps of its own tables
(``MIGRATIONS`` here); the parts built on it own theirs (``fhirbridge/search/migrations.py``,
``fhirbridge/subscriptions/migrations.py``), and the composition root (``fhirbridge/composition.py``) puts
them in one list, in version order, for the repository to run.

A migration is never edited once released: a schema change is a new step, numbered after the last step of
every part (tests/storage/released_schema.json holds what each released step makes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from fhirbridge.storage import schema


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_core_tables(conn: Connection) -> None:
    for table in (schema.resources, schema.resource_versions):
        table.create(conn)


def _create_type_epochs(conn: Connection) -> None:
    schema.type_epochs.create(conn)


def _move_audit_events(conn: Connection) -> None:
    from fhirbridge.storage.audit_log import move_events_kept_as_resources

    move_events_kept_as_resources(conn)


def _create_export_jobs(conn: Connection) -> None:
    from fhirbridge.storage.export_jobs import create_export_tables

    create_export_tables(conn)


# Storage's own steps; 2 to 4 are the search index's and the subscriptions'.
MIGRATIONS: list[Migration] = [
    Migration(1, "resources and their versions", _create_core_tables),
    Migration(5, "epochs of watched resource types", _create_type_epochs),
    Migration(6, "AuditEvents kept as resources into the audit log", _move_audit_events),
    Migration(7, "bulk export jobs, and resources of a type in pk order", _create_export_jobs),
]


def in_version_order(*parts: Sequence[Migration]) -> list[Migration]:
    """The steps of several parts as one sequence: numbered 1, 2, ... with none missing or repeated (a part
    left out, or two parts' steps given one number, fails here rather than on a store)."""
    ordered = sorted((migration for part in parts for migration in part), key=lambda migration: migration.version)
    versions = [migration.version for migration in ordered]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"schema migrations must be numbered 1 to {len(versions)} once each, not {versions}")
    return ordered


def applied_versions(conn: Connection) -> set[int]:
    return set(conn.execute(select(schema.schema_migrations.c.version)).scalars())


def migrate(conn: Connection, migrations: Sequence[Migration]) -> list[int]:
    """Apply every migration of ``migrations`` not yet applied, in version order; returns the versions
    applied now."""
    schema.schema_migrations.create(conn, checkfirst=True)
    done = applied_versions(conn)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        migration.apply(conn)
        conn.execute(
            schema.schema_migrations.insert().values(
                version=migration.version,
                description=migration.description,
                applied_at=int(time.time() * 1_000_000),
            )
        )
        applied.append(migration.version)
    return applied


__all__ = ["MIGRATIONS", "Migration", "applied_versions", "in_version_order", "migrate"]
