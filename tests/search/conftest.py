"""Search tests run on both backends: an SQLite file and a fresh PostgreSQL schema per session."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fhirbridge.composition import open_repository
from fhirbridge.search import SearchResult, search
from fhirbridge.search.tables import INDEX_TABLES
from fhirbridge.storage import schema
from fhirbridge.storage.sql import SqlRepository

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
POSTGRES_URL = os.environ.get("FHIRBRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BASE_URL = "http://fhirbridge.test/fhir"


def _postgres_reachable() -> bool:
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def repository(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlRepository]:
    if request.param == "sqlite":
        repo = open_repository(f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.sqlite3'}")
        yield repo
        repo.dispose()
        return
    if not _postgres_reachable():
        if os.environ.get("FHIRBRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but {POSTGRES_URL} does not answer")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} does not answer")
    name = f"fhirbridge_search_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        repo = open_repository(f"{POSTGRES_URL}?options=-csearch_path%3D{name}")
        yield repo
        repo.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def wipe(repo: SqlRepository) -> None:
    with repo.write() as tx:
        conn = tx.connection()
        for table in [*INDEX_TABLES.values(), schema.resource_versions, schema.resources]:
            conn.execute(sa.delete(table))


class Store:
    """A clean repository plus helpers to write resources and search them."""

    def __init__(self, repo: SqlRepository) -> None:
        self.repo = repo

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        with self.repo.write() as tx:
            tx.put(resource["resourceType"], resource["id"], json.loads(json.dumps(resource)), method="PUT")
        return resource

    def delete(self, resource_type: str, id: str) -> None:
        with self.repo.write() as tx:
            tx.delete(resource_type, id)

    def search(self, resource_type: str | None, query: str | list[tuple[str, str]], **options: Any) -> SearchResult:
        params = _params(query) if isinstance(query, str) else query
        options.setdefault("base_url", BASE_URL)
        with self.repo.connect() as conn:
            return search(conn, resource_type, params, **options)

    def ids(self, resource_type: str | None, query: str | list[tuple[str, str]], **options: Any) -> list[str]:
        return sorted(e.id for e in self.search(resource_type, query, **options).matches)


def _params(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


@pytest.fixture
def store(repository: SqlRepository) -> Store:
    wipe(repository)
    return Store(repository)


def examples(folder: str = "r4-core-examples/json") -> list[dict[str, Any]]:
    found = []
    for path in sorted((SHARED_DIR / "fhir" / folder).glob("*.json")):
        resource = json.loads(path.read_text())
        if resource.get("resourceType") != "Bundle" and 0 < len(resource.get("id", "")) <= 64:
            found.append(resource)
    return found


Factory = Callable[..., dict[str, Any]]
