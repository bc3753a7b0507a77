"""Request ids, the access log and request metrics: the outermost layer, around every request.

``Observability`` is the outermost middleware of the application (added last, server/app.py), so plain
reads (answered by the innermost one, server/fastread.py) are counted, logged and given a request id
exactly as the requests the framework routes are. It runs on every request, so it is kept cheap: no regex
is compiled, no label is looked up beyond a dict (metrics.py), and the access line is only made when the
access logger is on.

``X-Request-ID``: a caller's own id is kept when it is 1 to 128 characters of ``A-Z a-z 0-9 . _ : -``
(nothing that could break a log line or smuggle a value into one); otherwise, or when there is none,
one is made. Either way it is in the response and on every log line written while serving it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess, start_http_server

from fhirbridge.config import Settings
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.errors import Forbidden
from fhirbridge.security.audit import AuditTrail
from fhirbridge.security.middleware import request_access
from fhirbridge.server import health
from fhirbridge.server.logs import ACCESS_LOGGER, REQUEST_ID
from fhirbridge.server.metrics import RequestMetrics, build_registry, forget_dead_workers, multiprocess_dir
from fhirbridge.storage.sql import SqlRepository

log = logging.getLogger("fhirbridge")

ASGI = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_KEY = "fhirbridge.request_id"  # where the request id travels in the ASGI scope
SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class Observability:
    """ASGI middleware: a request id, the access log line and the request metrics of every request."""

    def __init__(self, app: ASGI, *, worker: str, metrics: RequestMetrics | None) -> None:
        self.app = app
        self.worker = worker
        self.metrics = metrics
        self.access = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope["headers"]) or os.urandom(16).hex()
        scope[REQUEST_ID_KEY] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500  # if the application ends without answering, the server answers 500

        async def answer(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        context = REQUEST_ID.set(request_id)
        metrics = self.metrics
        if metrics is not None:
            metrics.in_progress.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, answer)
        finally:
            seconds = time.perf_counter() - started
            if metrics is not None:
                metrics.in_progress.dec()
                metrics.observe(scope["method"], scope["path"], status, seconds)
            if self.access.isEnabledFor(logging.INFO):
                self._log_access(scope, status, seconds)
            REQUEST_ID.reset(context)

    def _log_access(self, scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
        # The path as it came on the wire (percent-encoded: no control characters), without the query.
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
        method = scope["method"]
        duration_ms = round(seconds * 1000, 3)
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        self.access.info("%s %s %d %.1fms", method, path, status, duration_ms, extra=fields)


def incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The caller's ``X-Request-ID`` when it is safe to log and return; None otherwise."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:  # ASGI servers give header names in lower case
            return value.decode("ascii") if SAFE_REQUEST_ID.fullmatch(value) else None
    return None


@dataclass
class InstalledObservability:
    worker: str
    registry: CollectorRegistry | None
    metrics: RequestMetrics | None
    settings: Settings
    _port_server: Any = None
    port: int | None = None  # where /metrics is served apart from the API, once started

    def start(self) -> None:
        """Open the metrics port, when one is configured (at start-up, not when the app is made)."""
        shared = multiprocess_dir()
        if self.registry is not None and shared:
            forget_dead_workers(shared)
        if self.registry is None or not self.settings.metrics_port:
            return
        # prometheus-client's own HTTP server, in a thread: a scrape never waits for the event loop.
        try:
            server, _thread = start_http_server(
                self.settings.metrics_port, self.settings.metrics_host, registry=self.registry
            )
        except OSError as exc:  # taken: the API is served all the same
            if multiprocess_dir():
                # Another worker of this server holds it, and answers with every worker's counts.
                log.info("metrics port %d is served by another worker", self.settings.metrics_port)
            else:
                log.error("metrics port %d could not be opened: %s", self.settings.metrics_port, exc)
            return
        self._port_server, self.port = server, server.server_port
        log.info("metrics served on http://%s:%d/metrics", self.settings.metrics_host, self.port)

    def stop(self) -> None:
        shared = multiprocess_dir()
        if self.registry is not None and shared:
            # Its requests in progress are no more.
            multiprocess.mark_process_dead(os.getpid(), shared)  # type: ignore[no-untyped-call]
        if self._port_server is not None:
            self._port_server.shutdown()
            self._port_server.server_close()
            self._port_server = None


def install_observability(
    app: FastAPI, settings: Settings, primary: SqlRepository, audit: AuditTrail | None
) -> InstalledObservability:
    """Health routes, and metrics when turned on (the queue count read on ``primary``, the audit trail's
    backlog from ``audit``), and the ``Observability`` middleware: call when every other middleware has
    been added (it is to be the outermost), and before the FHIR routes, whose ``/{type}`` would take these
    paths."""
    worker = settings.worker_id or str(os.getpid())
    app.include_router(health.router)
    registry = metrics = None
    if settings.metrics:
        registry, metrics = build_registry(worker, primary, audit, frozenset(resource_types()))
        if not settings.metrics_port:
            app.add_api_route("/metrics", _metrics_endpoint(registry, settings), include_in_schema=False)
    app.add_middleware(Observability, worker=worker, metrics=metrics)
    return InstalledObservability(worker, registry, metrics, settings)


def _metrics_endpoint(registry: CollectorRegistry, settings: Settings) -> Callable[[Request], Response]:
    def metrics(request: Request) -> Response:
        """Synchronous, so it runs in a worker thread: collecting asks the database (the subscription queue).

        On the API port, metrics are for a back-end service (a scraper given a client with a ``system/``
        scope): they hold no one's data, but how much of what is asked of the server is no business of a
        family's app or a user's browser. Reading them is audited like any access."""
        if not settings.auth_disabled:
            principal = request_access(request.scope).principal
            if principal is None or not any(scope.context == "system" for scope in principal.scopes):
                raise Forbidden("Metrics are served to back-end services (a token with a system/ scope)")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


__all__ = [
    "REQUEST_ID_KEY",
    "InstalledObservability",
    "Observability",
    "incoming_request_id",
    "install_observability",
]
