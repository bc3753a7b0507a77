"""Deciding, inside the write transaction, which active Subscriptions a new version matches.

Criteria are search strings (``Task?code=fulfill&status=completed``) evaluated by the search engine
against the version just indexed, by adding ``_id`` to them. Deletions notify nobody (R4: criteria
apply to the new value of a resource).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from sqlalchemy import Connection

from fhirbridge.errors import FhirError
from fhirbridge.formats import json as fhir_json
from fhirbridge.search import match_ids
from fhirbridge.storage import schema
from fhirbridge.storage.clock import now_micros
from fhirbridge.subscriptions.schema import PENDING, notifications


def active_subscriptions(conn: Connection, resource_type: str) -> list[dict[str, Any]]:
    r = schema.resources
    rows = conn.execute(
        sa.select(r.c.content).where(r.c.resource_type == "Subscription", r.c.deleted.is_(False))
    ).scalars()
    found = []
    for content in rows:
        subscription = fhir_json.loads(content)
        criteria = str(subscription.get("criteria", ""))
        if (
            subscription.get("status") in ("active", "requested")
            and (subscription.get("channel") or {}).get("type") == "rest-hook"
            and criteria.partition("?")[0] == resource_type
        ):
            found.append(subscription)
    return found


class SubscriptionTrigger:
    """An index hook: runs after the search index of a version is written, in the same transaction."""

    def reindex(self, conn: Connection, resource_pk: int, resource_type: str, resource: dict[str, Any] | None) -> None:
        if resource is None or resource_type == "Subscription":
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


__all__ = ["SubscriptionTrigger", "active_subscriptions"]
