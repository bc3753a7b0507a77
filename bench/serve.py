"""The servers under test, each run as its own process: ``python -m bench.serve {fhir,baseline} ...``.

``fhir`` is the real fhirbridge application on a database URL. ``baseline`` is the framework's ceiling:
a bare Starlette endpoint on the same uvicorn, answering ``GET /{type}/{id}`` with the very bytes
fhirbridge stores for that resource, held in memory, so the difference between the two is everything
fhirbridge itself does per request (routing, negotiation, the database read, headers).

Both run with the same uvicorn settings (one process, access log off, as a production deployment runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

UVICORN_OPTIONS: dict[str, Any] = {"host": "127.0.0.1", "log_level": "warning", "access_log": False}


# The load generator names the host without its port (bench/loadgen.py): any port of loopback is ours.
BENCH_HOSTS = ["127.0.0.1"]
# The development keys bench/security.py mints its tokens with.
BENCH_SECRET = "fhirbridge-benchmark-secret-not-for-real-data-0123"
BENCH_ISSUER = "http://127.0.0.1/bench-issuer"
BENCH_AUDIENCE = "http://127.0.0.1/bench"


def _app(database_url: str, **overrides: Any) -> Any:
    """fhirbridge as every benchmark server runs it; the kinds differ only in ``overrides``."""
    from fhirbridge.config import Settings
    from fhirbridge.server.app import create_app

    settings = Settings(
        database_url=database_url,
        max_body_bytes=16 * 1024 * 1024,
        subscription_delivery=False,
        allowed_hosts=BENCH_HOSTS,
        # The create scenario posts the resources of children whose Patient the store does not hold
        # (bench/rest.py _creates). Off on every kind, so that secured against unsecured (bench/security.py)
        # measures what security costs and nothing else.
        check_references=False,
        **overrides,
    )
    return create_app(settings)


def fhir_app(database_url: str, read_cache_mb: float | None = None) -> Any:
    # Measured without authentication (and so without audit and Provenance writes): the numbers are the
    # FHIR engine's and storage's; docs/benchmarks.md says so.
    cache = {} if read_cache_mb is None else {"read_cache_mb": read_cache_mb}
    return _app(database_url, auth_disabled=True, **cache)


def secured_app(database_url: str) -> Any:
    """fhirbridge as deployed: authentication on, the access policy deciding from the data, every access
    audited and every write attributed."""
    return _app(
        database_url,
        jwt_secret=BENCH_SECRET,
        jwt_issuer=BENCH_ISSUER,
        jwt_audience=BENCH_AUDIENCE,
        treating_relationship="care-team",
    )


def baseline_app(bodies_file: Path) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    bodies = {path: text.encode("utf-8") for path, text in json.loads(bodies_file.read_text()).items()}

    async def stored(request: Request) -> Response:
        params = request.path_params
        body = bodies.get(f"{params['resource_type']}/{params['id']}")
        if body is None:
            return Response(status_code=404)
        return Response(body, media_type="application/fhir+json; charset=utf-8")

    async def ready(request: Request) -> Response:
        return Response(b"ok")

    return Starlette(routes=[Route("/ready", ready), Route("/{resource_type}/{id}", stored)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run one server under test")
    parser.add_argument("kind", choices=("fhir", "fhir-secured", "baseline"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", help="for fhir: the store to serve")
    parser.add_argument("--read-cache-mb", type=float, help="for fhir: FHIRBRIDGE_READ_CACHE_MB (0: no cache)")
    parser.add_argument("--bodies", type=Path, help="for baseline: JSON object of 'Type/id' -> stored JSON text")
    args = parser.parse_args(argv)
    import uvicorn

    if args.kind in ("fhir", "fhir-secured"):
        if not args.database_url:
            parser.error(f"{args.kind} needs --database-url")
        app = fhir_app(args.database_url, args.read_cache_mb) if args.kind == "fhir" else secured_app(args.database_url)
    else:
        if not args.bodies:
            parser.error("baseline needs --bodies")
        app = baseline_app(args.bodies)
    uvicorn.run(app, port=args.port, **UVICORN_OPTIONS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
