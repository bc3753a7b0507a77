"""Versioned resource storage: one repository contract, SQLite and PostgreSQL behind it."""

from fhirbridge.storage.contract import HistoryPage, Repository, StoredVersion, WriteTransaction
from fhirbridge.storage.sql import SqlRepository

__all__ = ["HistoryPage", "Repository", "SqlRepository", "StoredVersion", "WriteTransaction"]
