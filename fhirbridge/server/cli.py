"""``fhirbridge serve``: run the FHIR server."""

from __future__ import annotations

import argparse
from typing import Any

from fhirbridge.config import Settings


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
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


__all__ = ["register"]
