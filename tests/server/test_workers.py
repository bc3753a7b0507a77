"""`fhirbridge serve --workers N`: several processes serving one store, as deployed (authentication on,
audit and Provenance on, tokens from `fhirbridge token`), over real HTTP, on both backends.

What must hold with N > 1: migrations run once; a write one worker acknowledged is what every other
worker reads next (no read cache serves an older version); If-Match conflicts are refused whichever
workers the two writers reach; each Subscription notification goes out once although every worker
polls the queue; every worker's accesses reach the audit log.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from fhirbridge.composition import schema_migrations
from tests.factories import goal, patient
from tests.receiver import Receiver
from tests.support import REPO_ROOT, backend_url

WORKERS = 2
SECRET = "workers-test-secret-0123456789-0123456789"
AUDIENCE = "https://fhir.workers.test"
COORDINATOR = "Practitioner/workers-coordinator"
START_UP_SECONDS = 120
FHIRBRIDGE = str(Path(sys.executable).with_name("fhirbridge"))  # the command the package installs


class Workers:
    """`fhirbridge serve --workers N` in a child process, its log kept for the assertions."""

    def __init__(self, database_url: str, tmp: Path, receiver: Receiver) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.database_url = database_url
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "FHIRBRIDGE_JWT_SECRET": SECRET,
            "FHIRBRIDGE_JWT_ISSUER": "https://auth.workers.test",
            "FHIRBRIDGE_JWT_AUDIENCE": AUDIENCE,
            "FHIRBRIDGE_BASE_URL": AUDIENCE,
            "FHIRBRIDGE_TREATING_RELATIONSHIP": "claim",
            "FHIRBRIDGE_AUDIT_JOURNAL_DIR": str(tmp / "journal"),
            "FHIRBRIDGE_SUBSCRIPTION_POLL_SECONDS": "0.05",
            "FHIRBRIDGE_SUBSCRIPTION_ALLOW_HTTP": "true",
            "FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS": '["127.0.0.1"]',
            "FHIRBRIDGE_LOG_FORMAT": "text",
        }
        self.log_path = tmp / "serve.log"
        self.receiver = receiver
        self.token = self._token()
        command = [FHIRBRIDGE, "serve", "--workers", str(WORKERS)]
        command += ["--port", str(self.port), "--database-url", database_url]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def _token(self) -> str:
        minted = subprocess.run(
            [FHIRBRIDGE, "token", "--role", "care-coordinator", "--user", COORDINATOR],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return minted.stdout.strip()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_UP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"fhirbridge serve --workers exited:\n{self.log()[-4000:]}")
            if self.log().count("Application startup complete") == WORKERS:
                return
            time.sleep(0.25)
        pytest.fail(f"the workers did not start in {START_UP_SECONDS} s:\n{self.log()[-4000:]}")

    def client(self) -> httpx.Client:
        """A client whose every request opens a new connection, so requests spread over the workers."""
        return httpx.Client(
            base_url=self.url,
            timeout=30,
            headers={"Authorization": f"Bearer {self.token}", "Connection": "close", "Host": f"127.0.0.1:{self.port}"},
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def workers_answering(self) -> set[str]:
        """The process ids that wrote access log lines."""
        return set(re.findall(r"fhirbridge\.access \[(\d+) ", self.log()))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    tmp = tmp_path_factory.mktemp(f"workers-{request.param}")
    receiver = Receiver()
    with backend_url(request.param, tmp) as url:
        server = Workers(url, tmp, receiver)
        try:
            server.wait_until_up()
            yield server
        finally:
            server.stop()
            receiver.server.shutdown()
            receiver.server.server_close()


def test_the_schema_is_migrated_once(workers: Workers) -> None:
    engine = sa.create_engine(workers.database_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM schema_migrations")).scalars().all()
    finally:
        engine.dispose()
    assert sorted(versions) == sorted(migration.version for migration in schema_migrations())
    assert "Traceback" not in workers.log()


def test_every_worker_reads_what_another_acknowledged(workers: Workers) -> None:
    with workers.client() as http:
        assert http.put("/Patient/sol", json=patient("sol")).status_code in (200, 201)
        for round in range(15):
            written = http.put("/Goal/sol-walk", json=goal("sol-walk", "sol", description_text=f"walks {round} steps"))
            assert written.status_code in (200, 201), written.text
            version = written.headers["ETag"]

            def read(_: int) -> tuple[str, str]:
                answer = http.get("/Goal/sol-walk")
                return answer.headers.get("ETag", ""), answer.json()["description"]["text"]

            with ThreadPoolExecutor(4) as pool:
                seen = list(pool.map(read, range(6)))
            assert seen == [(version, f"walks {round} steps")] * 6
    assert len(workers.workers_answering()) == WORKERS, "the requests did not reach every worker"


def test_if_match_conflicts_are_refused_across_workers(workers: Workers) -> None:
    with workers.client() as http:
        assert http.put("/Patient/sol", json=patient("sol")).status_code in (200, 201)
        for round in range(6):
            current = http.put("/Goal/sol-talk", json=goal("sol-talk", "sol", description_text=f"round {round}"))
            assert current.status_code in (200, 201)
            etag = current.headers["ETag"]

            def update(writer: int, round: int = round, etag: str = etag) -> int:
                body = goal("sol-talk", "sol", description_text=f"round {round}, writer {writer}")
                return http.put("/Goal/sol-talk", json=body, headers={"If-Match": etag}).status_code

            with ThreadPoolExecutor(4) as pool:
                statuses = Counter(pool.map(update, range(4)))
            assert statuses == Counter({200: 1, 412: 3}), statuses
        history = http.get("/Goal/sol-talk/_history", params={"_count": 100}).json()
    # Every acknowledged write is a version: 6 rounds of one PUT (the first creates) and one winner.
    assert history["total"] == 6 * 2


def test_each_notification_goes_out_once(workers: Workers) -> None:
    receiver = workers.receiver
    with workers.client() as http:
        assert http.put("/Patient/sol", json=patient("sol")).status_code in (200, 201)
        subscription = {
            "resourceType": "Subscription",
            "status": "active",
            "reason": "The medical home follows Sol's goals",
            "criteria": "Goal?subject=Patient/sol&lifecycle-status=completed",
            "channel": {"type": "rest-hook", "endpoint": receiver.url, "payload": "application/fhir+json"},
        }
        assert http.post("/Subscription", json=subscription).status_code == 201
        for number in range(12):
            done = goal(f"sol-done-{number}", "sol", description_text=f"milestone {number}", status="completed")
            assert http.put(f"/Goal/sol-done-{number}", json=done).status_code in (200, 201)
    receiver.wait_for(12, seconds=60)
    time.sleep(1.0)  # every worker has polled the queue many times over by now
    delivered = Counter(re.search(rb'"id":"(sol-done-\d+)"', body).group(1) for _, _, body, _ in receiver.received)  # type: ignore[union-attr]
    assert len(delivered) == 12 and set(delivered.values()) == {1}, delivered


def test_every_workers_accesses_reach_the_audit_log(workers: Workers) -> None:
    reads = 24
    with workers.client() as http:
        assert http.put("/Patient/ola", json=patient("ola")).status_code in (200, 201)
        with ThreadPoolExecutor(4) as pool:
            statuses = set(pool.map(lambda _: http.get("/Patient/ola").status_code, range(reads)))
        assert statuses == {200}
        # Each worker stores its own accesses within moments; a search waits for its own worker's only.
        deadline = time.monotonic() + 15
        while True:
            found = http.get("/AuditEvent", params={"patient": "ola", "_count": 1000})
            assert found.status_code == 200, found.text
            events = [entry["resource"] for entry in found.json().get("entry", [])]
            read = [event for event in events if event.get("subtype", [{}])[0].get("code") == "read"]
            if len(read) >= reads or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(read) == reads, [event.get("subtype") for event in events]


# `fhirbridge serve --workers 2` with metrics on one port: one scrape counts the requests of both workers.
# Only one worker can hold FHIRBRIDGE_METRICS_PORT; the workers share their counts through
# prometheus-client's multiprocess directory, which `serve` makes before they start (server/metrics.py).
REQUESTS = 40


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workers, int]]:
    tmp = tmp_path_factory.mktemp("workers-metrics")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    receiver = Receiver()
    with backend_url("sqlite", tmp) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FHIRBRIDGE_METRICS", "true")
        patch.setenv("FHIRBRIDGE_METRICS_PORT", str(port))
        patch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
        server = Workers(url, tmp, receiver)
        try:
            server.wait_until_up()
            yield server, port
        finally:
            server.stop()
            receiver.server.shutdown()
            receiver.server.server_close()


def _requests_counted(port: int) -> tuple[float, set[str]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    total, workers = 0.0, set()
    for family in text_string_to_metric_families(text):
        if family.name == "fhirbridge_http_requests":
            for sample in family.samples:
                if sample.name == "fhirbridge_http_requests_total":
                    total += sample.value
                    workers.add(sample.labels["worker"])
    return total, workers


def test_one_scrape_counts_every_workers_requests(metered: tuple[Workers, int]) -> None:
    workers, port = metered
    with workers.client() as http:  # a new connection per request: they spread over the workers
        assert http.put("/Patient/metered", json=patient("metered")).status_code in (200, 201)
        for _ in range(REQUESTS - 1):
            assert http.get("/Patient/metered").status_code == 200
    answering = workers.workers_answering()
    assert len(answering) == WORKERS, "the requests did not reach every worker"
    deadline = time.monotonic() + 10
    while True:  # a request is counted as its response ends: the last may be a moment behind
        total, labelled = _requests_counted(port)
        if total >= REQUESTS or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert total == REQUESTS
    assert labelled == answering  # each worker's own series, by its process id
    assert "could not be opened" not in workers.log()
