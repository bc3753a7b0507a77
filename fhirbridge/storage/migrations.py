"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

A migration is never edited once released: a schema change is a new entry at the end of ``MIGRATIONS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


def _create_search_tables(conn: Connection) -> None:
    # Imported here: the search package builds on storage, so storage must not import it at load time.
    from fhirbridge.search.tables import create_search_tables

    create_search_tables(conn)


def _create_notification_queue(conn: Connection) -> None:
    from fhirbridge.subscriptions.schema import notifications

    notifications.create(conn)


def _index_access_attributes(conn: Connection) -> None:
    """Stores written before the access policy read its attributes from the index get them now."""
    from fhirbridge.search.indexer import index_access_attributes

    index_access_attributes(conn)


def _create_type_epochs(conn: Connection) -> None:
    schema.type_epochs.create(conn)


def _move_audit_events(conn: Connection) -> None:
    from fhirbridge.storage.audit_log import move_events_kept_as_resources

    move_events_kept_as_resources(conn)


def _create_export_jobs(conn: Connection) -> None:
    from fhirbridge.storage.export_jobs import create_export_tables

    create_export_tables(conn)


MIGRATIONS: list[Migration] = [
    Migration(1, "resources and their versions", _create_core_tables),
    Migration(2, "search index tables", _create_search_tables),
    Migration(3, "subscription notification queue", _create_notification_queue),
    Migration(4, "sensitivity labels and information classes in the search index", _index_access_attributes),
    Migration(5, "epochs of watched resource types", _create_type_epochs),
    Migration(6, "AuditEvents kept as resources into the audit log", _move_audit_events),
    Migration(7, "bulk export jobs, and resources of a type in pk order", _create_export_jobs),
]


def applied_versions(conn: Connection) -> set[int]:
    return set(conn.execute(select(schema.schema_migrations.c.version)).scalars())


def migrate(conn: Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    schema.schema_migrations.create(conn, checkfirst=True)
    done = applied_versions(conn)
    applied: list[int] = []
    for migration in sorted(migrations or MIGRATIONS, key=lambda m: m.version):
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


__all__ = ["MIGRATIONS", "Migration", "applied_versions", "migrate"]
