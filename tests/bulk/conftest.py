"""What the bulk import tests share: the demo children exported over real HTTP by a server, and an empty
second store (of the same backend) to import them into."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fhirbridge.composition import open_repository
from fhirbridge.config import Settings
from fhirbridge.server.cli import load_demo_into
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.support import backend_url

Resource = dict[str, Any]


@dataclass(frozen=True)
class Export:
    """An export's files, downloaded, and what its manifest counts."""

    directory: Path
    counts: dict[str, int]

    @property
    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.ndjson"))

    def resources(self) -> dict[str, Resource]:
        """Every exported resource, by ``Type/id``."""
        found = {}
        for file in self.files:
            for line in file.read_bytes().splitlines():
                resource = orjson.loads(line)
                found[f"{resource['resourceType']}/{resource['id']}"] = resource
        return found

    def copy_to(self, directory: Path) -> list[Path]:
        """The files copied into ``directory`` (an import writes its state and report beside them)."""
        directory.mkdir(parents=True, exist_ok=True)
        copies = []
        for file in self.files:
            copy = directory / file.name
            copy.write_bytes(file.read_bytes())
            copies.append(copy)
        return copies


@pytest.fixture(scope="module")
def exporting_server(repository: SqlRepository, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        auth_disabled=True, subscription_delivery=False, export_dir=str(tmp_path_factory.mktemp("exports"))
    )
    server = LiveServer(repository, settings)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo_export(exporting_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Export:
    """The demo children, exported at system level (GET [base]/$export) and downloaded."""
    exporting_server.reset()
    load_demo_into(exporting_server.repository, exporting_server.url)
    directory = tmp_path_factory.mktemp("demo-export")
    with httpx.Client(base_url=exporting_server.url, timeout=30) as http:
        manifest = export(http, "/$export")
        counts = {}
        for item in manifest["output"]:
            response = http.get(item["url"])
            assert response.status_code == 200, response.text
            (directory / f"{item['type']}.ndjson").write_bytes(response.content)
            counts[item["type"]] = item["count"]
    assert manifest["error"] == []
    return Export(directory, counts)


def export(http: httpx.Client, path: str, timeout: float = 60) -> dict[str, Any]:
    """Kick off an export, poll until it is done, and return its manifest."""
    response = http.get(path, headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    status_url = response.headers["content-location"]
    deadline = time.monotonic() + timeout
    while (response := http.get(status_url)).status_code == 202:
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    manifest: dict[str, Any] = response.json()
    return manifest


@pytest.fixture
def target_url(repository: SqlRepository, tmp_path: Path) -> Iterator[str]:
    """An empty store of the backend this run of the tests is on, as a URL for ``--database-url``."""
    backend = "postgresql" if repository.engine.dialect.name == "postgresql" else "sqlite"
    with backend_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def target(target_url: str) -> Iterator[SqlRepository]:
    """The store at ``target_url``, opened to look at what an import left there."""
    store = open_repository(target_url)
    yield store
    store.dispose()
