"""Fixtures for end-to-end tests: a real fhirbridge server over real HTTP on each storage backend."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from fhirbridge.composition import open_repository
from fhirbridge.config import Settings
from fhirbridge.server.app import create_app
from fhirbridge.storage import schema
from fhirbridge.storage.audit_log import AuditLog, audit_child, audit_log
from fhirbridge.storage.sql import SqlRepository
from tests.support import backend_url

BACKENDS = ["sqlite", "postgresql"]
# As a server opens its store by default (Settings.read_cache_mb), so every test also exercises the cache.
READ_CACHE_BYTES = Settings().read_cache_bytes


@pytest.fixture(scope="session", params=BACKENDS)
def repository(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlRepository]:
    with backend_url(request.param, tmp_path_factory.mktemp(request.param)) as url:
        repo = open_repository(url, read_cache_bytes=READ_CACHE_BYTES)
        yield repo
        repo.dispose()


class LiveServer:
    """A fhirbridge server running in a background thread, reached over loopback HTTP."""

    def __init__(self, repository: SqlRepository, settings: Settings) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.repository = repository
        app = create_app(settings, repository)
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def reset(self) -> None:
        """Empty every data table so each test starts from an empty store."""
        with self.repository.write() as tx:
            conn = tx.connection()
            tables = [
                table
                for table in reversed(schema.metadata.sorted_tables)
                # Epochs only ever grow: facts kept against them (a caller's relations) must not match again.
                if table.name not in ("schema_migrations", "type_epochs") and conn.dialect.has_table(conn, table.name)
            ]
            if conn.dialect.name == "postgresql":
                # One statement, so background writers (the audit trail) cannot slip in between; parent
                # tables first, the order writers lock them in, so the two cannot deadlock.
                first = ["resources", "resource_versions"]
                ordered = first + [table.name for table in tables if table.name not in first]
                names = ", ".join(f'"{name}"' for name in ordered)
                conn.execute(sa.text(f"TRUNCATE {names}"))
            else:
                # SQLite: this write transaction already holds the database's only write lock.
                for table in tables:
                    conn.execute(table.delete())
        self._empty_audit_log()

    def _empty_audit_log(self) -> None:
        """The audit log is kept apart from the resources (beside a SQLite file): emptied with them, once
        the accesses answered so far are in it (they are stored behind the responses)."""
        trail = self.app.services.audit_trail
        if trail is not None:
            trail.wait_caught_up()
        log = AuditLog.beside(self.repository.engine)
        try:
            with log.engine.begin() as conn:
                conn.execute(audit_child.delete())
                conn.execute(audit_log.delete())
        finally:
            log.dispose()


@pytest.fixture(scope="session")
def live_server(repository: SqlRepository) -> Iterator[LiveServer]:
    server = LiveServer(
        repository, Settings(auth_disabled=True, max_body_bytes=2 * 1024 * 1024, subscription_delivery=False)
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    live_server.reset()
    return live_server


@pytest.fixture(scope="session")
def secure_live_server(repository: SqlRepository) -> Iterator[LiveServer]:
    """A server as deployed: authentication on, care-team mode, audit and Provenance on."""
    from tests.security.conftest import secure_settings

    server = LiveServer(repository, secure_settings())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secure_server(secure_live_server: LiveServer) -> LiveServer:
    secure_live_server.reset()
    return secure_live_server


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
def examples_dir() -> Path:
    from tests.support import EXAMPLES_JSON

    return EXAMPLES_JSON
