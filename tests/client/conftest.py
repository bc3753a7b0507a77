"""Servers for the client tests: real fhirbridge servers (two per backend, for sync) and in-memory fakes."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import responses

from fhirbridge.client import cli as sync_cli
from fhirbridge.composition import open_repository
from fhirbridge.config import Settings
from tests.client.fake_server import FakeFhirServer
from tests.conftest import LiveServer
from tests.support import backend_url

# Remove once fhirbridge serves search, conditional update by identifier and transactions.


class LivePairs:
    """Two fhirbridge servers per backend, each over its own database, started on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.pairs: dict[str, tuple[LiveServer, LiveServer]] = {}
        self.stack = ExitStack()

    def get(self, backend: str) -> tuple[LiveServer, LiveServer]:
        if backend not in self.pairs:
            self.pairs[backend] = (self._start(backend, "a"), self._start(backend, "b"))
        source, target = self.pairs[backend]
        source.reset()
        target.reset()
        return source, target

    def _start(self, backend: str, name: str) -> LiveServer:
        url = self.stack.enter_context(backend_url(backend, self.tmp_path_factory.mktemp(f"{backend}-{name}")))
        repository = open_repository(url)
        self.stack.callback(repository.dispose)
        server = LiveServer(repository, Settings(auth_disabled=True, subscription_delivery=False))
        server.start()
        self.stack.callback(server.stop)
        return server


@pytest.fixture(scope="session")
def live_pairs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePairs]:
    pairs = LivePairs(tmp_path_factory)
    with pairs.stack:
        yield pairs


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, live_pairs: LivePairs) -> LiveServer:
    """One real fhirbridge server, empty."""
    return live_pairs.get(request.param)[0]


@dataclass(frozen=True)
class ServerPair:
    source: str
    target: str


FAKE_SOURCE = "https://source.example.org/fhir"
FAKE_TARGET = "https://target.example.org/fhir"


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
def servers(request: pytest.FixtureRequest, live_pairs: LivePairs) -> Iterator[ServerPair]:
    """A source and a target server, empty: in-memory fakes, or real fhirbridge servers."""
    if request.param != "fake":
        source, target = live_pairs.get(request.param)
        yield ServerPair(source.url, target.url)
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeFhirServer(FAKE_SOURCE).register(mock)
        FakeFhirServer(FAKE_TARGET).register(mock)
        yield ServerPair(FAKE_SOURCE, FAKE_TARGET)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "sync-state"


def run_sync_command(argv: list[str]) -> tuple[int, str]:
    """Run ``fhirbridge sync ...`` as the command line would; returns the exit code and what it printed."""
    parser = argparse.ArgumentParser(prog="fhirbridge")
    sync_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    code = sync_cli.run_sync(args, out)
    return code, out.getvalue()
