"""State kept with a connection for the length of its current database transaction.

Hooks that run inside a write transaction (the search indexer holding its rows back, the subscription
trigger reading the active subscriptions once) keep what they need in ``Connection.info``, tagged
with the transaction it belongs to: the next transaction on the same pooled connection, including
after a rollback, starts afresh and never sees it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection

T = TypeVar("T")


def transaction_state(conn: Connection, key: str, make: Callable[[], T]) -> T:
    """The value held under ``key`` for ``conn``'s current transaction, made by ``make`` on first use."""
    transaction = conn.get_transaction()
    held = conn.info.get(key)
    if held is None or held[0] is not transaction:
        held = conn.info[key] = (transaction, make())
    value: T = held[1]
    return value


WRITTEN_KEY = "fhirbridge.written_types"


def note_written(conn: Connection, resource_type: str) -> None:
    """Count a resource of ``resource_type`` written (or deleted) by ``conn``'s current transaction."""
    written: Counter[str] = transaction_state(conn, WRITTEN_KEY, Counter)
    written[resource_type] += 1


def written_types(conn: Connection) -> Counter[str]:
    """How many resources of each type ``conn``'s current transaction has written so far (what a cache
    of facts derived from some types keys on, to stay valid inside the transaction)."""
    written: Counter[str] = transaction_state(conn, WRITTEN_KEY, Counter)
    return written


def forget_transaction_state(conn: Connection, key: str) -> None:
    """Drop the value held under ``key``: the next use makes it again."""
    conn.info.pop(key, None)


__all__ = ["forget_transaction_state", "note_written", "transaction_state", "written_types"]
