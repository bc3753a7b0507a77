"""State kept with a connection for the length of its current database transaction.

Hooks that run inside a write transaction (the search indexer holding its rows back, the subscription
trigger reading the active subscriptions once) keep what they need in ``Connection.info``, tagged
with the transaction it belongs to: the next transaction on the same pooled connection, including
after a rollback, starts afresh and never sees it.
"""

from __future__ import annotations

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


def forget_transaction_state(conn: Connection, key: str) -> None:
    """Drop the value held under ``key``: the next use makes it again."""
    conn.info.pop(key, None)


__all__ = ["forget_transaction_state", "transaction_state"]
