"""Epochs of watched resource types (``schema.type_epochs``): how many transactions that wrote one have
committed, what facts derived from those resources (a caller's relations) are kept against."""

from __future__ import annotations

from contextvars import ContextVar

# The types whose commits PostgreSQL counts in type_epochs: those a caller's relations are read from
# (security/server.py RELATION_SOURCES), so a server keeps each caller's relations until one of them
# changes instead of reading them for every request. These are written rarely; counting every type would
# make all the writers of a type take turns. A test holds the two lists together.
POSTGRES_EPOCH_TYPES = frozenset({"CareTeam", "Consent", "Patient"})
# The epoch a request's point read brought back with it (read_async), for the rest of that request (each
# request runs in a task of its own, with its own context); a write transaction forgets it on commit.
READ_EPOCH: ContextVar[int | None] = ContextVar("fhirbridge_read_epoch", default=None)
EPOCH_SQL = "SELECT coalesce(sum(epoch), 0) FROM type_epochs WHERE resource_type IN ({marks})"
BUMP_EPOCH_SQL = (
    "INSERT INTO type_epochs (resource_type, epoch) VALUES (?, 1) "
    "ON CONFLICT (resource_type) DO UPDATE SET epoch = type_epochs.epoch + 1"
)

__all__ = ["BUMP_EPOCH_SQL", "EPOCH_SQL", "POSTGRES_EPOCH_TYPES", "READ_EPOCH"]
