"""Tables of the resource store (SQLAlchemy Core, portable between SQLite and PostgreSQL).

``resources`` holds the current version of each resource (one row per type and id, deletions kept as
markers so a later read can answer 410); ``resource_versions`` holds every version ever written, in
write order (``seq``), for vread and history. Search index tables live in ``fhirbridge.search`` on the
same ``metadata`` and reference ``resources.pk``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Serial = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

resources = Table(
    "resources",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    # Microseconds since the epoch, UTC: exact, sortable and identical on both backends.
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", LargeBinary, nullable=True),
    UniqueConstraint("resource_type", "id", name="uq_resources_type_id"),
)
Index("ix_resources_type_updated", resources.c.resource_type, resources.c.last_updated)

resource_versions = Table(
    "resource_versions",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", LargeBinary, nullable=True),
    UniqueConstraint("resource_type", "id", "version_id", name="uq_versions_type_id_version"),
)
Index("ix_versions_updated", resource_versions.c.last_updated)
Index("ix_versions_type_updated", resource_versions.c.resource_type, resource_versions.c.last_updated)

# For each watched type of resource (SqlRepository.watch), how many transactions that wrote one have
# committed: what facts derived from those resources (a caller's relations) are kept against, in every
# process on the store (SqlRepository.epoch).
type_epochs = Table(
    "type_epochs",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("epoch", BigInteger, nullable=False),
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

__all__ = ["metadata", "resource_versions", "resources", "schema_migrations", "type_epochs"]
