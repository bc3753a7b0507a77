"""Deciding, inside the write transaction, which active Subscriptions a new version matches.

Criteria are search strings (``Task?code=fulfill&status=completed``) evaluated by the search engine
against the version just indexed, by adding ``_id`` to them. Deletions notify nobody (R4: criteria
apply to the new value of a resource).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Connection

from fhirbridge.errors import FhirError
from fhirbridge.formats import json as fhir_json
from fhirbridge.search import match_ids
from fhirbridge.storage.clock import now_micros
from fhirbridge.storage.driver import driver_sql, execute
from fhirbridge.storage.transaction_state import forget_transaction_state, transaction_state
from fhirbridge.subscriptions.schema import PENDING, notifications

CACHE_KEY = "fhirbridge_active_subscriptions"
# On the driver (storage/driver.py): it runs in every write transaction.
_SUBSCRIPTIONS_SQL = "SELECT content FROM resources WHERE resource_type = ? AND deleted = ?"


def active_subscriptions(conn: Connection, resource_type: str) -> list[dict[str, Any]]:
    """The active rest-hook Subscriptions whose criteria are about ``resource_type``."""
    return [
        subscription
        for subscription in _all_active(conn)
        if str(subscription.get("criteria", "")).partition("?")[0] == resource_type
    ]


def _all_active(conn: Connection) -> list[dict[str, Any]]:
    # Read once per database transaction: a 100-entry transaction Bundle asks a hundred times.
    return list(transaction_state(conn, CACHE_KEY, lambda: _read_active(conn)))


def _read_active(conn: Connection) -> list[dict[str, Any]]:
    cursor = execute(conn, driver_sql(_SUBSCRIPTIONS_SQL, conn.dialect), ("Subscription", False))
    rows = cursor.fetchall()
    cursor.close()
    found = []
    for (content,) in rows:
        subscription = fhir_json.loads_stored(bytes(content))
        if (
            subscription.get("status") in ("active", "requested")
            and (subscription.get("channel") or {}).get("type") == "rest-hook"
        ):
            found.append(subscription)
    return found


class SubscriptionTrigger:
    """An index hook: runs after the search index of a version is written, in the same transaction."""

    def reindex(
        self,
        conn: Connection,
        resource_pk: int,
        resource_type: str,
        resource: dict[str, Any] | None,
        *,
        fresh: bool = False,
    ) -> None:
        if resource_type == "Subscription":
            forget_transaction_state(conn, CACHE_KEY)  # this transaction changed the subscriptions
            return
        if resource is None:
            return
        for subscription in active_subscriptions(conn, resource_type):
            criteria = str(subscription["criteria"]).partition("?")[2]
            params = [*parse_qsl(criteria, keep_blank_values=True), ("_id", resource["id"])]
            try:
                matched = match_ids(conn, resource_type, params)
            except FhirError:
                continue  # criteria we cannot evaluate match nothing; they were checked when subscribed
            if matched:
                conn.execute(
                    notifications.insert().values(
                        subscription_id=subscription["id"],
                        resource_type=resource_type,
                        resource_id=resource["id"],
                        version_id=int(resource["meta"]["versionId"]),
                        state=PENDING,
                        attempts=0,
                        next_attempt_at=now_micros(),
                    )
                )

    def flush(self, conn: Connection) -> None:
        """Nothing held back: notifications are recorded as each version is written."""


__all__ = ["SubscriptionTrigger", "active_subscriptions"]
