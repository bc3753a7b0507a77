"""The composition root: where the parts of the store are put together.

The parts below import only inward. Storage knows an ``Indexer`` (a hook run in each write transaction)
and a list of ``Migration`` steps, never what fills them; the search index and the subscriptions build on
storage and bring their own hook and steps. Here they are wired: every repository a server, the command
line, a benchmark or a test opens comes from ``open_repository``, and ``fhirbridge db`` works on the
steps ``schema_migrations`` lists.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.search import migrations as search_migrations
from fhirbridge.search.indexer import SearchIndexer
from fhirbridge.storage import cli as storage_cli
from fhirbridge.storage import migrations as storage_migrations
from fhirbridge.storage.engines import create_sql_engine, open_replica
from fhirbridge.storage.migrations import Migration, in_version_order
from fhirbridge.storage.replicas import ReplicaSet
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.storage.write_transaction import IndexChain, Indexer
from fhirbridge.subscriptions import migrations as subscription_migrations
from fhirbridge.subscriptions.trigger import SubscriptionTrigger


def schema_migrations() -> list[Migration]:
    """This release's schema migrations in version order: storage's own, the search index's and the
    subscriptions'. Each part's list is read when called (tools/record_released_schema.py is tested with
    an edited storage step)."""
    return in_version_order(
        storage_migrations.MIGRATIONS, search_migrations.MIGRATIONS, subscription_migrations.MIGRATIONS
    )


def index_hooks() -> Indexer:
    """What runs in each write transaction for every version written: the search index, then the
    subscriptions, whose criteria are evaluated against the index just written."""
    return IndexChain(SearchIndexer(), SubscriptionTrigger())


def open_repository(
    database_url: str,
    *,
    indexer: Indexer | None = None,
    migrate_schema: bool = True,
    read_cache_bytes: int = 0,
    query_timeout_seconds: float = 30.0,
    pool_size: int = 10,
    max_overflow: int = 20,
    replica_urls: list[str] | tuple[str, ...] = (),
    replica_max_lag_seconds: float = 5.0,
) -> SqlRepository:
    """The store at ``database_url``, its schema brought up to date (unless not ``migrate_schema``).

    ``indexer``: what runs in each write transaction (default ``index_hooks()``). ``read_cache_bytes``:
    memory for recently read current versions (SQLite files only; 0 turns it off). ``pool_size``,
    ``max_overflow``: see ``create_sql_engine``, for the primary and each replica. ``replica_urls``:
    PostgreSQL streaming replicas of the primary that clients' reads may go to while they lag by
    ``replica_max_lag_seconds`` at most (storage/replicas.py).

    ``query_timeout_seconds``: how long one statement may run (Settings.query_timeout_seconds; 0: no
    limit). Past it a read answers 422 too-costly (docs/search.md)."""
    if indexer is None:
        indexer = index_hooks()
    migrations = schema_migrations()
    engine = create_sql_engine(
        database_url, query_timeout_seconds=query_timeout_seconds, pool_size=pool_size, max_overflow=max_overflow
    )
    if migrate_schema:
        # Before the repository prepares its statements (and before any replica could serve a read).
        SqlRepository(engine, indexer=indexer, migrations=migrations).migrate()
    replicas = None
    if replica_urls:
        replicas = ReplicaSet(
            engine,
            [
                open_replica(
                    url, query_timeout_seconds=query_timeout_seconds, pool_size=pool_size, max_overflow=max_overflow
                )
                for url in replica_urls
            ],
            max_lag_seconds=replica_max_lag_seconds,
        )
    return SqlRepository(
        engine,
        indexer=indexer,
        migrations=migrations,
        read_cache_bytes=read_cache_bytes,
        query_timeout_seconds=query_timeout_seconds,
        replicas=replicas,
    )


def register(subparsers: Any) -> None:
    """``fhirbridge db`` (storage/cli.py) over this release's migrations (fhirbridge/cli.py COMMANDS)."""
    storage_cli.register(subparsers, schema_migrations())


__all__ = ["index_hooks", "open_repository", "register", "schema_migrations"]
