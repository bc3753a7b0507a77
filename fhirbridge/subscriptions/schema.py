"""The notification queue: one row per notification owed to a subscriber."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from fhirbridge.storage.schema import Serial, metadata

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
# Not sent: the Subscription's owner may not read what it is about (or it has no owner).
WITHHELD = "withheld"

notifications = Table(
    "subscription_notifications",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    # Microseconds since the epoch: when the worker may next try (also the lease of a claimed row).
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
)
Index("ix_notifications_due", notifications.c.state, notifications.c.next_attempt_at)

__all__ = ["DELIVERED", "FAILED", "PENDING", "WITHHELD", "notifications"]
