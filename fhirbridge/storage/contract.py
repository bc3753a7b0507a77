"""The repository contract every storage backend fulfils.

Writes happen inside a ``WriteTransaction`` so that a FHIR transaction Bundle, a conditional update or a
plain create are all one atomic unit: either every version is stored with its search index, or none.
The repository assigns ``meta.versionId`` and ``meta.lastUpdated``; everything else in the resource is
kept exactly as the client sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

Resource = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class StoredVersion:
    """One version of one resource as stored. ``content`` is the exact JSON served to clients."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: bytes | None
    method: str = "PUT"
    # True when this version brought the resource into (renewed) existence: first write or after a delete.
    created: bool = False

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'


@dataclass(frozen=True)
class HistoryPage:
    versions: list[StoredVersion]
    total: int
    # Snapshot bound so that later writes do not shift the pages a client is walking through.
    till_seq: int


class WriteTransaction(Protocol):
    """Write operations inside one atomic database transaction."""

    def current(self, resource_type: str, id: str) -> StoredVersion | None:
        """The current version (possibly a deletion marker), locked against concurrent writers."""

    def referenced(self, resource_type: str, id: str) -> StoredVersion | None:
        """The current version of a resource this transaction's writes refer to, locked against being
        changed or deleted until the transaction ends, but not against other writers referring to it
        (every write about a child refers to its Patient: they must not take turns on it)."""

    def put(
        self, resource_type: str, id: str, resource: Resource, *, method: str, fresh: bool = False
    ) -> StoredVersion:
        """Store ``resource`` as the next version of ``resource_type/id`` (the first if it is new).

        ``fresh`` says the server has just generated ``id``, so no earlier version can exist."""

    def delete(self, resource_type: str, id: str) -> StoredVersion | None:
        """Record a deletion as a new version; None if there was nothing to delete."""

    def lock(self, name: str) -> None:
        """Wait until no other write transaction holds the lock called ``name``, then hold it until this
        one ends. What the previous holder committed is seen by every statement after this call.

        Conditional writes take one per criteria, so that two creating under the same criteria take turns
        (engine/interactions.py). A backend whose writers already run one at a time does nothing."""

    def connection(self) -> Connection:
        """This transaction's SQL connection, for the parts that query the schema themselves and must see
        what the transaction wrote: the search store (search/store.py), the access policy's relations
        (security/), the job and delivery tables (bulk/, subscriptions/). The engine reads through the
        search store (engine/stores.py); tests/test_layers.py names the engine modules that still do not."""


class Repository(Protocol):
    dialect: str

    def migrate(self) -> list[int]:
        """Apply the schema migrations not yet applied; returns their versions."""

    def write(self) -> AbstractContextManager[WriteTransaction]: ...

    def run_write(self, work: Callable[[WriteTransaction], T]) -> T:
        """Run ``work`` in one write transaction, again from the start if a concurrent writer won a race."""

    def read(self, resource_type: str, id: str) -> StoredVersion | None:
        """Current version, a deletion marker, or None if the id was never used."""

    async def read_async(self, resource_type: str, id: str) -> StoredVersion | None:
        """``read`` from an event loop, which may serve other requests while the database answers."""

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredVersion | None: ...

    def history(
        self,
        *,
        resource_type: str | None = None,
        id: str | None = None,
        since: datetime | None = None,
        at: datetime | None = None,
        count: int,
        offset: int = 0,
        till_seq: int | None = None,
    ) -> HistoryPage: ...

    def iter_current(self, resource_type: str | None = None) -> Iterator[StoredVersion]: ...

    def connect(self) -> AbstractContextManager[Connection]:
        """A SQL read connection, for the same parts as ``WriteTransaction.connection`` (and the server's
        readiness and metrics): the engine reads through the search store (engine/stores.py)."""

    def dispose(self) -> None: ...


__all__ = ["HistoryPage", "Repository", "Resource", "StoredVersion", "WriteTransaction"]
