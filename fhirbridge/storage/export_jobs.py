"""The bulk export job table (``fhirbridge/bulk``): one row per export, so that any server process can run it
or answer for it. Kept with storage, as the migration that creates it is."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text, text

from fhirbridge.storage.schema import metadata

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"

export_jobs = Table(
    "export_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    # The claims of the caller who kicked it off (subscriptions/owner.py's form), JSON; empty with
    # authentication off. Only that caller may poll, download or cancel; the export runs under its access.
    Column("owner", Text, nullable=False),
    # The kick-off URL, for the manifest's ``request``, and what it asked for (request.ExportRequest), JSON.
    Column("request", Text, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    # The process running it, and when it last said so: a running job whose heartbeat stopped was
    # interrupted (its process died) and is started again.
    Column("worker", String(128), nullable=True),
    Column("heartbeat", BigInteger, nullable=True),
    Column("progress", Text, nullable=True),
    # Microseconds since the epoch: created, the instant the export reflects, finished, files removed.
    Column("created", BigInteger, nullable=False),
    Column("transaction_time", BigInteger, nullable=True),
    Column("finished", BigInteger, nullable=True),
    Column("expires", BigInteger, nullable=True),
    # The files written (type, name, count) and the error files, JSON; the reason a job failed.
    Column("outputs", Text, nullable=True),
    Column("failure", Text, nullable=True),
)
Index("ix_export_jobs_state", export_jobs.c.state, export_jobs.c.created)
Index("ix_export_jobs_expires", export_jobs.c.expires)

# The walk an export makes (and any search of a type paged in pk order): resources of a type by pk. Without
# it SQLite answered each page through (resource_type, last_updated) and sorted every row of the type after
# the cursor, so a page cost grew with the type: 1,000,000 resources exported 33x slower than 100,000
# (docs/bulk-export.md). Plain DDL, not an Index on the ``resources`` Table: attached there, migration 1
# would create it too on a new store, depending on whether this module was imported first.
TYPE_PK_INDEX = "CREATE INDEX IF NOT EXISTS ix_resources_type_pk ON resources (resource_type, pk)"


def create_export_tables(conn: Connection) -> None:
    export_jobs.create(conn)
    conn.execute(text(TYPE_PK_INDEX))


__all__ = ["COMPLETED", "FAILED", "QUEUED", "RUNNING", "create_export_tables", "export_jobs"]
