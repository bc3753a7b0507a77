"""``fhirbridge serve``: run the FHIR server."""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fhirbridge.config import Settings
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.searching import SearchService
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.security.access import SYSTEM_ACCESS
from fhirbridge.server.logs import WithoutQueryStrings, log_config
from fhirbridge.storage.contract import Repository
from fhirbridge.storage.sql import SqlRepository

log = logging.getLogger("fhirbridge")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("serve", help="run the FHIR server")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1, env FHIRBRIDGE_HOST)")
    parser.add_argument("--port", type=int, help="port (default 8080, env FHIRBRIDGE_PORT)")
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: SQLite file data/fhirbridge.sqlite3)",
    )
    parser.add_argument("--demo-data", action="store_true", help="load the synthetic demo children at start-up")
    parser.add_argument(
        "--workers", type=int, help="worker processes serving the same store (default 1, env FHIRBRIDGE_WORKERS)"
    )
    parser.set_defaults(handler=serve)


def load_demo_into(repository: SqlRepository, base_url: str = "") -> tuple[int, int]:
    """``load_demo_data`` for a store no server runs on yet (benchmarks, tests): through an engine of its
    own, as a server's would load it."""
    search = SearchService(repository)
    engine = FhirEngine(repository, matcher=search)
    return load_demo_data(BundleProcessor(engine, max_entries=1000, searcher=search.search_in), repository, base_url)


def load_demo_data(bundles: BundleProcessor, repository: Repository, base_url: str) -> tuple[int, int]:
    """Load the synthetic demo children once, then their coordinator's caseload: a child or a caseload
    already in the store is left as it is. Answers how many children were loaded and left."""
    from fhirbridge.demo import demo_bundles, demo_caseloads

    loaded = skipped = 0
    for bundle in demo_bundles():
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        if repository.read("Patient", patient["id"]) is not None:
            skipped += 1
            continue
        bundles.process(SYSTEM_ACCESS, bundle, base_url, return_preference="minimal")
        loaded += 1
    caseloads = demo_caseloads()
    caseloads["entry"] = [
        entry
        for entry in caseloads["entry"]
        if repository.read(entry["resource"]["resourceType"], entry["resource"]["id"]) is None
    ]
    if caseloads["entry"]:
        bundles.process(SYSTEM_ACCESS, caseloads, base_url, return_preference="minimal")
    return loaded, skipped


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhirbridge.server.app import create_app

    overrides = {
        name: value
        for name, value in (
            ("host", args.host),
            ("port", args.port),
            ("database_url", args.database_url),
            ("workers", args.workers),
        )
        if value is not None
    }
    settings = Settings(**overrides)
    if settings.workers < 1:
        raise SystemExit("fhirbridge serve: --workers must be 1 or more")
    check_start_up(settings)
    # Text or JSON lines, each with its request id; the access line is the observability layer's
    # (server/logs.py), so uvicorn's own is off. Each worker names itself by its process id.
    logging_config = log_config(settings.log_format, settings.worker_id)
    if settings.workers > 1:
        return _serve_workers(settings, logging_config, demo_data=args.demo_data)
    logging.config.dictConfig(logging_config)
    app = create_app(settings)
    if args.demo_data:
        _load_demo(app, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


def check_start_up(settings: Settings) -> None:
    """Fail here, in the process the deployer started, on what would stop every worker: the keys tokens
    are verified with, and a database that does not answer. A worker's failure is only a traceback in the
    log; this one ``fhirbridge`` reports in one line naming the setting (fhirbridge/cli.py)."""
    from fhirbridge.security.tokens import TokenVerifier
    from fhirbridge.storage.sql import create_sql_engine

    if not settings.auth_disabled:  # as install_security makes it; a JWKS URL is not fetched here
        TokenVerifier(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            secret=settings.jwt_secret or None,
            jwks=settings.jwks or None,
        )
    url = settings.effective_database_url()
    if not url.startswith("sqlite"):  # a SQLite file is made when missing; a server must answer
        engine = create_sql_engine(url, bounded=False, pool_size=1, max_overflow=0)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()


def _serve_workers(settings: Settings, logging_config: dict[str, Any], *, demo_data: bool) -> int:
    """``settings.workers`` processes sharing the listening socket, each a whole server on the same store.

    Each worker builds its application from the environment (``create_app`` as a factory), so options
    given on the command line travel there. The demo data is loaded once, here, before any worker starts:
    loaded by each, the workers would race to create the same children."""
    import asyncio

    import uvicorn

    from fhirbridge.server.app import create_app

    os.environ.update(
        {
            "FHIRBRIDGE_HOST": settings.host,
            "FHIRBRIDGE_PORT": str(settings.port),
            "FHIRBRIDGE_DATABASE_URL": settings.effective_database_url(),
            "FHIRBRIDGE_WORKERS": str(settings.workers),
        }
    )
    logging.config.dictConfig(logging_config)
    made_metrics_dir = _share_metrics(settings)
    if demo_data:
        app = create_app(settings)

        async def load() -> None:
            async with app.router.lifespan_context(app):  # started and stopped as a worker would be
                _load_demo(app, settings)

        asyncio.run(load())
    try:
        uvicorn.run(
            "fhirbridge.server.app:create_app",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_config=logging_config,
            access_log=False,
        )
    finally:
        if made_metrics_dir is not None:
            shutil.rmtree(made_metrics_dir, ignore_errors=True)
    return 0


def _share_metrics(settings: Settings) -> str | None:
    """With metrics on, the directory the workers keep their counts in (prometheus-client's multiprocess
    mode), set in the environment before any worker starts and emptied of a previous run's files: one
    scrape then answers with every worker's counts (server/metrics.py). ``PROMETHEUS_MULTIPROC_DIR`` given:
    that directory; otherwise a new one, removed when the server stops (returned)."""
    from fhirbridge.server.metrics import MULTIPROC_ENV

    if not settings.metrics:
        return None
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    made = tempfile.mkdtemp(prefix="fhirbridge-metrics-")
    os.environ[MULTIPROC_ENV] = made
    return made


def _load_demo(app: Any, settings: Settings) -> None:
    loaded = load_demo_data(app.services.bundles, app.services.repository, f"http://{settings.host}:{settings.port}")
    log.info("demo data: %d children loaded, %d already there", loaded[0], loaded[1])


__all__ = ["WithoutQueryStrings", "load_demo_data", "load_demo_into", "register"]
