"""The subscriptions' steps of the store's schema migrations (fhirbridge/storage/migrations.py says how
the steps of every part make one sequence)."""

from __future__ import annotations

from sqlalchemy import Connection

from fhirbridge.storage.migrations import Migration
from fhirbridge.subscriptions.schema import notifications


def _create_notification_queue(conn: Connection) -> None:
    notifications.create(conn)


MIGRATIONS: list[Migration] = [Migration(3, "subscription notification queue", _create_notification_queue)]

__all__ = ["MIGRATIONS"]
