"""``fhirbridge serve``: run the FHIR server."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from fhirbridge.config import Settings
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.security.access import SYSTEM_ACCESS
from fhirbridge.storage.contract import Repository

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
    parser.set_defaults(handler=serve)


def load_demo_data(bundles: BundleProcessor, repository: Repository, base_url: str) -> tuple[int, int]:
    """Load the synthetic demo children once: a child already in the store is left as it is."""
    from fhirbridge.demo import demo_bundles

    loaded = skipped = 0
    for bundle in demo_bundles():
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        if repository.read("Patient", patient["id"]) is not None:
            skipped += 1
            continue
        bundles.process(SYSTEM_ACCESS, bundle, base_url, return_preference="minimal")
        loaded += 1
    return loaded, skipped


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhirbridge.server.app import create_app

    overrides = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("database_url", args.database_url))
        if value is not None
    }
    settings = Settings(**overrides)
    app = create_app(settings)
    if args.demo_data:
        loaded = load_demo_data(app.state.bundles, app.state.repository, f"http://{settings.host}:{settings.port}")
        log.info("demo data: %d children loaded, %d already there", loaded[0], loaded[1])
    logging.getLogger("uvicorn.access").addFilter(WithoutQueryStrings())
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


class WithoutQueryStrings(logging.Filter):
    """Access log lines name the path only: a query string holds names, birth dates and identifiers of
    children, which have no place in a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


__all__ = ["WithoutQueryStrings", "load_demo_data", "register"]
