"""Rows of ``resources`` and ``resource_versions`` as ``StoredVersion``s, and the point reads' statements.

Point reads (read and vread, the most frequent interactions) go to the driver directly: through a
SQLAlchemy Connection the same primary-key SELECT costs ten times what the database spends on it.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.storage.clock import from_micros
from fhirbridge.storage.contract import StoredVersion

POINT_COLUMNS = "resource_type, id, version_id, last_updated, deleted, content"
READ_SQL = f"SELECT {POINT_COLUMNS} FROM resources WHERE resource_type = ? AND id = ?"
VREAD_SQL = (
    f"SELECT {POINT_COLUMNS}, method FROM resource_versions WHERE resource_type = ? AND id = ? AND version_id = ?"
)


def point_version(row: tuple[Any, ...]) -> StoredVersion:
    """A version from a driver row of ``POINT_COLUMNS`` (and ``method``, from ``resource_versions``)."""
    resource_type, id, version_id, last_updated, deleted, content, *method = row
    return StoredVersion(
        resource_type=resource_type,
        id=id,
        version_id=version_id,
        last_updated=from_micros(last_updated),
        deleted=bool(deleted),
        content=bytes(content) if content is not None else None,
        method=method[0] if method else "PUT",
    )


def row_version(row: Any) -> StoredVersion:
    """A version from a SQLAlchemy row of either table (only ``resource_versions`` has ``method``)."""
    point = (row.resource_type, row.id, row.version_id, row.last_updated, row.deleted, row.content)
    return point_version((*point, getattr(row, "method", None) or "PUT"))


__all__ = ["POINT_COLUMNS", "READ_SQL", "VREAD_SQL", "point_version", "row_version"]
