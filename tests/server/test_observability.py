"""Health, readiness, metrics, request ids and the access log, over real HTTP with authentication on."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from fhirbridge.server.health import Readiness
from fhirbridge.server.logs import ACCESS_LOGGER, JsonFormatter, RequestContext
from fhirbridge.storage import schema
from fhirbridge.storage.sql import SqlRepository, create_sql_engine
from tests.conftest import LiveServer
from tests.security.conftest import (
    AUDIENCE,
    ISSUER,
    SECRET,
    bearer,
    logged_events,
    secure_settings,
    store,
    token_for,
)

WORKER = "test-worker-7"
CHILD = {"resourceType": "Patient", "id": "observed-child", "name": [{"family": "Quill", "given": ["Ada"]}]}
SCRAPER = token_for("ehr-system", org="medical-home")  # a back-end service: system/ scopes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def observed_settings(**settings: Any) -> Any:
    return secure_settings(**{"treating_relationship": "claim", "worker_id": WORKER, **settings})


@pytest.fixture
def server_with(repository: SqlRepository) -> Iterator[Any]:
    started: list[LiveServer] = []

    def start(**settings: Any) -> LiveServer:
        server = LiveServer(repository, observed_settings(**settings))
        server.reset()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def observed_server(repository: SqlRepository) -> Iterator[LiveServer]:
    server = LiveServer(repository, observed_settings(metrics=True))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def observed(observed_server: LiveServer) -> LiveServer:
    observed_server.reset()
    store(observed_server, CHILD)
    return observed_server


def scrape(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.url}/metrics", headers=bearer(SCRAPER))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(found: dict[Any, float], interaction: str, resource_type: str, status: str) -> float:
    labels = {"interaction": interaction, "resource_type": resource_type, "status": status, "worker": WORKER}
    return found.get(("fhirbridge_http_requests_total", tuple(sorted(labels.items()))), 0.0)


# -- health and readiness ----------------------------------------------------------------------------------


def test_health_and_readiness_need_no_token_and_are_not_audited(observed: LiveServer) -> None:
    for path, word in (("/healthz", "up"), ("/readyz", "ready")):
        response = httpx.get(f"{observed.url}{path}")
        assert response.status_code == 200, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["diagnostics"] == word
        assert response.headers["x-content-type-options"] == "nosniff"
    assert not [event for event in logged_events(observed) if "healthz" in json.dumps(event)]


def test_not_ready_while_a_migration_is_missing(observed: LiveServer) -> None:
    latest = max(migration.version for migration in observed.repository.migrations)
    table = schema.schema_migrations
    with observed.repository.engine.begin() as conn:
        row = conn.execute(sa.select(table).where(table.c.version == latest)).one()
        conn.execute(table.delete().where(table.c.version == latest))
    try:
        response = httpx.get(f"{observed.url}/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        issue = response.json()["issue"][0]
        assert issue["code"] == "transient"
        assert issue["diagnostics"] == f"The database schema is not current: migrations {latest} are not applied"
        assert httpx.get(f"{observed.url}/healthz").status_code == 200  # the process itself is fine
    finally:
        with observed.repository.engine.begin() as conn:
            conn.execute(table.insert().values(**row._mapping))
    assert httpx.get(f"{observed.url}/readyz").status_code == 200


def test_not_ready_when_the_database_refuses_connections() -> None:
    repository = SqlRepository(create_sql_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"))
    try:
        assert Readiness(repository).check() == "The database cannot be reached"
    finally:
        repository.dispose()


def test_not_ready_when_the_database_does_not_answer() -> None:
    # A socket that takes connections and never says a word: the check gives up after READY_TIMEOUT.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql+psycopg://nobody@127.0.0.1:{silent.getsockname()[1]}/none"
        repository = SqlRepository(create_sql_engine(url))
        readiness = Readiness(repository)

        async def twice() -> tuple[str | None, str | None]:
            answers = await readiness.problem(), await readiness.problem()
            silent.close()  # lets the check's thread go (its connection is reset)
            return answers

        first, second = asyncio.run(twice())
    assert first == second == "The database did not answer within 2 s"
    repository.dispose()


# -- request ids -------------------------------------------------------------------------------------------


def test_every_response_carries_a_request_id(observed: LiveServer) -> None:
    with httpx.Client(base_url=observed.url, headers=bearer(SCRAPER)) as http:
        answers = [
            http.get("/Patient/observed-child"),  # the plain-read path
            http.get("/Patient/observed-child", params={"_format": "json"}),  # the framework's route
            http.get("/Patient", headers={"Authorization": "Bearer nonsense"}),  # 401 from the security layer
            http.get("/Patient", headers={"Host": "evil.example"}),  # 400 from the host check
            http.get("/healthz"),
            http.get("/NotAType/1"),
        ]
    ids = [answer.headers.get("x-request-id") for answer in answers]
    assert [answer.status_code for answer in answers] == [200, 200, 401, 400, 200, 404]
    assert all(id is not None and len(id) == 32 and int(id, 16) >= 0 for id in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("7f1c0a2e-5b9d-4c1e-9f00-0123456789ab", True),
        ("lb.edge-01:req_42", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("two words", False),
        ('"><script>', False),
        ("name=Ada;dob=2019", False),
    ],
)
def test_a_callers_request_id_is_kept_when_safe(observed: LiveServer, sent: str, kept: bool) -> None:
    response = httpx.get(f"{observed.url}/Patient/observed-child", headers={**bearer(SCRAPER), "X-Request-ID": sent})
    assert response.status_code == 200
    assert (response.headers["x-request-id"] == sent) is kept
    assert len(response.headers["x-request-id"]) <= 128


# -- the access log ----------------------------------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []
        self.setFormatter(JsonFormatter())
        self.addFilter(RequestContext(WORKER))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def access_lines() -> Iterator[list[dict[str, Any]]]:
    logger = logging.getLogger(ACCESS_LOGGER)
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_one_access_line_per_request_without_query_or_token(
    observed: LiveServer, access_lines: list[dict[str, Any]]
) -> None:
    with httpx.Client(base_url=observed.url, headers=bearer(SCRAPER)) as http:
        searched = http.get("/Patient", params={"family": "Quill", "birthdate": "2019-04-02"})
        read = http.get("/Patient/observed-child", headers={"X-Request-ID": "trace-1"})
    assert searched.status_code == read.status_code == 200
    ids = (searched.headers["x-request-id"], "trace-1")
    deadline = time.monotonic() + 5  # the line is written once the response is sent, in the server's thread
    while len(lines := [line for line in access_lines if line["request_id"] in ids]) < 2:
        assert time.monotonic() < deadline, lines
        time.sleep(0.01)
    search_line, read_line = lines
    assert {key: search_line[key] for key in ("method", "path", "status", "worker", "logger")} == {
        "method": "GET",
        "path": "/Patient",
        "status": 200,
        "worker": WORKER,
        "logger": ACCESS_LOGGER,
    }
    assert read_line["path"] == "/Patient/observed-child" and read_line["request_id"] == "trace-1"
    assert all(line["duration_ms"] > 0 for line in lines)
    text = json.dumps(access_lines)
    assert "Quill" not in text and "2019" not in text and SCRAPER not in text and "?" not in text


# -- metrics -----------------------------------------------------------------------------------------------


def test_metrics_count_both_paths_by_interaction_type_and_status(observed: LiveServer) -> None:
    before = scrape(observed)
    with httpx.Client(base_url=observed.url, headers=bearer(SCRAPER)) as http:
        for _ in range(3):
            assert http.get("/Patient/observed-child").status_code == 200  # plain-read path
        assert http.get("/Patient/observed-child", params={"_format": "json"}).status_code == 200  # route
        assert http.get("/Patient/no-such-child").status_code == 404
        assert http.get("/Patient", params={"family": "Quill"}).status_code == 200
        assert http.get("/Patient/observed-child/Goal").status_code == 200
        assert http.get("/Patient/observed-child/NotAType").status_code == 404
        assert http.get("/no-such-thing/at/all").status_code == 404
    after = scrape(observed)
    grown = {labels: after[labels] - before.get(labels, 0.0) for labels in after if labels[0].endswith("_total")}

    def counted(interaction: str, resource_type: str, status: str) -> float:
        return requests_counted(grown, interaction, resource_type, status)

    assert counted("read", "Patient", "200") == 4
    assert counted("read", "Patient", "404") == 1
    assert counted("search-type", "Patient", "200") == 1
    assert counted("search-compartment", "Goal", "200") == 1
    assert counted("other", "", "404") == 2  # paths of no FHIR type: no label of their own
    histogram = ("worker", WORKER), ("interaction", "read"), ("resource_type", "Patient")
    latency = [value for (name, labels), value in after.items() if name.endswith("_count") and histogram[1] in labels]
    assert latency and max(latency) >= 4


def test_metrics_name_no_ids_and_report_pools_and_queues(observed: LiveServer) -> None:
    httpx.get(f"{observed.url}/Patient/observed-child", headers=bearer(SCRAPER))
    text = httpx.get(f"{observed.url}/metrics", headers=bearer(SCRAPER)).text
    assert "observed-child" not in text and "Quill" not in text
    found = samples(text)
    names = {name for name, _ in found}
    for name in (
        "fhirbridge_http_request_duration_seconds_bucket",
        "fhirbridge_http_requests_in_progress",
        "fhirbridge_db_pool_size",
        "fhirbridge_db_pool_checked_out",
        "fhirbridge_audit_queue_depth",
        "fhirbridge_subscription_notifications_pending",
        "fhirbridge_info",
        "process_resident_memory_bytes",
    ):
        assert name in names, name
    workers = {dict(labels).get("worker") for name, labels in found if name.startswith("fhirbridge_")}
    assert workers == {WORKER}
    assert found[("fhirbridge_subscription_notifications_pending", (("worker", WORKER),))] == 0


def test_metrics_on_the_api_port_need_a_back_end_service_token(observed: LiveServer) -> None:
    assert httpx.get(f"{observed.url}/metrics").status_code == 401
    family = token_for("family", patient="observed-child")
    refused = httpx.get(f"{observed.url}/metrics", headers=bearer(family))
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"


def test_metrics_are_off_unless_turned_on(server_with: Any) -> None:
    server = server_with()
    assert httpx.get(f"{server.url}/metrics", headers=bearer(SCRAPER)).status_code == 404
    assert httpx.get(f"{server.url}/healthz").headers["x-request-id"]


def test_metrics_on_their_own_port_need_no_token(server_with: Any) -> None:
    port = free_port()
    server = server_with(metrics=True, metrics_port=port)
    httpx.get(f"{server.url}/Patient", headers=bearer(SCRAPER))
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert requests_counted(samples(response.text), "search-type", "Patient", "200") == 1
    assert httpx.get(f"{server.url}/metrics", headers=bearer(SCRAPER)).status_code == 404  # not on the API port
    server.stop()
    with pytest.raises(httpx.TransportError):  # closed with the server
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


# -- fhirbridge serve's own log ----------------------------------------------------------------------------


def test_fhirbridge_serve_writes_json_lines_with_request_ids(tmp_path: Any) -> None:
    port = free_port()
    env = {
        **os.environ,
        "FHIRBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "FHIRBRIDGE_PORT": str(port),
        "FHIRBRIDGE_JWT_SECRET": SECRET,
        "FHIRBRIDGE_JWT_ISSUER": ISSUER,
        "FHIRBRIDGE_JWT_AUDIENCE": AUDIENCE,
        "FHIRBRIDGE_LOG_FORMAT": "json",
        "FHIRBRIDGE_WORKER_ID": "serve-1",
        "FHIRBRIDGE_SUBSCRIPTION_DELIVERY": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "fhirbridge.cli", "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "fhirbridge serve did not start"
            time.sleep(0.2)
        headers = {**bearer(SCRAPER), "X-Request-ID": "serve-trace"}
        searched = httpx.get(f"http://127.0.0.1:{port}/Patient", params={"family": "Quill"}, headers=headers)
        assert searched.status_code == 200 and searched.headers["x-request-id"] == "serve-trace"
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    lines = [json.loads(line) for line in err.decode().splitlines() if line.strip()]  # every line is JSON
    access = [line for line in lines if line["logger"] == ACCESS_LOGGER and line["request_id"] == "serve-trace"]
    assert len(access) == 1
    assert {key: access[0][key] for key in ("method", "path", "status", "worker")} == {
        "method": "GET",
        "path": "/Patient",
        "status": 200,
        "worker": "serve-1",
    }
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines are JSON too
    assert "Quill" not in err.decode() and SCRAPER not in err.decode()
