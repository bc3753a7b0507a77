"""The FastAPI application: wiring, lifespan and the translation of every error to an OperationOutcome."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge import __version__
from fhirbridge.composition import open_repository
from fhirbridge.config import Settings, get_settings
from fhirbridge.engine.audit_events import AuditEvents
from fhirbridge.engine.coordination import CoordinationService
from fhirbridge.engine.operations.patient import PatientOperations
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.engine.terminology import Terminology
from fhirbridge.errors import BadRequest, FhirError, MethodNotAllowed, NotFound
from fhirbridge.formats.negotiation import Format, response_format
from fhirbridge.security.access import SYSTEM_ACCESS, Access
from fhirbridge.security.principal import Principal
from fhirbridge.security.server import access_for, install_security
from fhirbridge.server.audit_events import router as audit_events_router
from fhirbridge.server.bulk import install_bulk_export
from fhirbridge.server.coordination import router as coordination_router
from fhirbridge.server.deps import Services
from fhirbridge.server.docs import install_docs
from fhirbridge.server.fastread import PlainReads
from fhirbridge.server.hosts import AllowedHosts, HostCheck
from fhirbridge.server.observability import install_observability
from fhirbridge.server.operations import router as operations_router
from fhirbridge.server.readiness import Readiness
from fhirbridge.server.reading import ReadsForCaller
from fhirbridge.server.render import error_response
from fhirbridge.server.routes import router
from fhirbridge.server.write_path import write_engine
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.subscriptions.delivery import DeliveryPolicy, DeliveryWorker
from fhirbridge.subscriptions.rules import EndpointPolicy

log = logging.getLogger("fhirbridge")
# All a client learns of an error nobody foresaw: the traceback is in the server's log.
INTERNAL_ERROR = "Internal server error"


def _error_format(request: Request) -> Format:
    try:
        return response_format(request.query_params.get("_format"), request.headers.get("accept"))
    except FhirError:
        return "json"


def _settle_start_up_heap() -> None:
    """Keep the cyclic garbage collector off the objects start-up built, once per process.

    The R4B models, their schemas and the type tables are some 360,000 objects that live as long as
    the process. Every full collection walked them all: about 200 ms during which no request was
    answered, every few seconds under write load (the p99 spikes of the benchmarks). Frozen, they are
    left out; what requests allocate is collected as before.
    """
    if gc.get_freeze_count() == 0:  # a later application in the same process finds it done
        gc.collect()
        gc.freeze()


class InternalErrors:
    """An exception no handler took becomes a 500 OperationOutcome (code ``exception``), answered here.

    Placed by ``FhirbridgeApp`` just outside the router, so inside the security middleware: the answer
    carries the security headers and is audited like any other. Left to Starlette's
    ``ServerErrorMiddleware``, it would be answered and then re-raised, and the server would close the
    client's keep-alive connection. The exception is logged with its traceback; the client learns
    nothing of it. Once the response has started, the exception can only go on up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:
                raise
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            response = error_response(FhirError(INTERNAL_ERROR), _error_format(Request(scope)))
            await response(scope, receive, send)


class SchemaNotCurrent(RuntimeError):
    """The store's schema is older than this release and the server is not to migrate it."""

    def __init__(self, pending: list[int]) -> None:
        super().__init__(
            f"The database schema is not current (migrations {', '.join(map(str, pending))} pending) and "
            "FHIRBRIDGE_MIGRATE_ON_START is off: run `fhirbridge db upgrade` first"
        )


class FhirbridgeApp(FastAPI):
    """FastAPI, with the middleware added to it around the whole framework, and its services typed.

    Starlette puts the middleware added with ``add_middleware`` inside the framework's own layers
    (``FastAPI.__call__``, ``ServerErrorMiddleware``, FastAPI's telemetry and body limit): about 8 µs a
    request measured in-process, against some 20 µs for a whole plain read without authentication. Here
    every added middleware wraps the framework instead, in the order added (the last one outermost), and
    the framework's layers, ``InternalErrors`` and the router come after the innermost. So the plain-read
    path (server/fastread.py), added first, answers inside every other middleware, present and future,
    and ahead of everything the framework does for a routed request. An exception raised in an added
    middleware itself goes on to the server, which answers 500 and logs it.
    """

    services: Services  # what the routes take (server/deps.py), set by create_app

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.outermost: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.outermost is None:
            self.outermost = self._wrapped_framework()
        scope["app"] = self  # as Starlette has it, for the added middleware too
        await self.outermost(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        """The framework's own layers around ``InternalErrors`` and the router, without the added middleware."""
        added, self.user_middleware = self.user_middleware, [Middleware(InternalErrors)]
        try:
            return super().build_middleware_stack()
        finally:
            self.user_middleware = added

    def _wrapped_framework(self) -> ASGIApp:
        self.middleware_stack = self.build_middleware_stack()  # from now on add_middleware refuses
        app: ASGIApp = super().__call__
        for middleware, args, options in reversed(self.user_middleware):
            app = middleware(app, *args, **options)
        return app


def create_app(settings: Settings | None = None, repository: SqlRepository | None = None) -> FhirbridgeApp:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = DeliveryWorker(
            engine,
            owners=subscription_owner,
            base_url=settings.base_url or f"http://{settings.host}:{settings.port}",
            policy=DeliveryPolicy(
                poll_seconds=settings.subscription_poll_seconds,
                retry_base_seconds=settings.subscription_retry_seconds,
                max_attempts=settings.subscription_max_attempts,
            ),
            endpoints=EndpointPolicy.from_settings(settings),
        )
        if settings.subscription_delivery:
            worker.start()
        bulk_export.start()
        _settle_start_up_heap()
        observability.start()
        yield
        observability.stop()
        bulk_export.stop()
        worker.stop()
        security.close()
        if owns_repository:
            store.dispose()

    owns_repository = repository is None
    store = repository or open_repository(
        settings.effective_database_url(),
        read_cache_bytes=settings.read_cache_bytes,
        query_timeout_seconds=settings.query_timeout_seconds,
        migrate_schema=settings.migrate_on_start,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        replica_urls=settings.database_replica_urls,
        replica_max_lag_seconds=settings.replica_max_lag_seconds,
    )
    # What must be exact as of now for anyone (the callers' relations, kept by the primary's epochs; the
    # owners' access of notifications) is read on the primary, whatever replicas serve the rest.
    primary = store.primary()

    if not settings.migrate_on_start and (pending := store.pending_migrations()):
        store.dispose()
        raise SchemaNotCurrent(pending)

    def subscription_owner(owner: Principal | None) -> Access | None:
        """The access a Subscription's notifications are delivered under: its owner's, as a request of the
        owner's would have it now (none, with authentication on, for a Subscription without an owner)."""
        if settings.auth_disabled:
            return SYSTEM_ACCESS  # no identities and no access control, for notifications as for requests
        return access_for(primary, owner, settings) if owner is not None else None

    resource_types()  # load the R4B models now rather than on the first request
    built = write_engine(settings, store)  # the engine and every write rule (server/write_path.py)
    search, engine, bundles = built.search, built.engine, built.bundles
    assessment_operations = built.assessment_operations
    assessment_operations.publish_instruments()
    terminology = Terminology(engine).publish()  # the instruments' value sets and code systems

    # /docs is ours (server/docs.py): FastAPI's pages load Swagger UI and ReDoc from a CDN our CSP blocks.
    app = FhirbridgeApp(title="fhirbridge", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    # The middleware, innermost first; each added one wraps those before it (FhirbridgeApp). Plain reads are
    # answered innermost, behind every other layer (server/fastread.py).
    app.add_middleware(PlainReads, engine=engine)
    if store.has_replicas:  # inside security, which names the caller; reads then go where it may read
        app.add_middleware(ReadsForCaller)
    security = install_security(app, settings, primary)
    # Outside security: a request for a host that is not ours gets no further (server/hosts.py).
    app.add_middleware(HostCheck, hosts=AllowedHosts.from_settings(settings))
    # Outermost: request ids, access log and metrics; its routes before the FHIR routes' /{type}.
    observability = install_observability(app, settings, primary, security.audit)
    install_docs(app, settings)  # /docs before the FHIR routes, whose /{type} would take it
    # The internal-format API first: its paths would otherwise be read as FHIR type/id paths.
    app.include_router(coordination_router)
    app.include_router(audit_events_router)
    bulk_export = install_bulk_export(app, settings, store, engine, search)  # $export, before /{type}
    app.include_router(operations_router)
    app.include_router(router)
    app.services = Services(
        settings=settings,
        repository=store,
        search=search,
        engine=engine,
        bundles=bundles,
        coordination=CoordinationService(engine, bundles),
        patient_operations=PatientOperations(engine),
        assessment_operations=assessment_operations,
        terminology=terminology,
        audit_trail=security.audit,
        audit_events=AuditEvents(security.audit_log),
        bulk_export=bulk_export,
        # Readiness and the queue count are the primary's to tell, whatever replicas serve reads.
        readiness=Readiness(primary),
    )

    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, exc: FhirError) -> Response:
        return error_response(exc, _error_format(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error: FhirError
        if exc.status_code == 405:
            error = MethodNotAllowed(f"{request.method} is not supported on {request.url.path}")
        elif exc.status_code == 404:
            error = NotFound(f"Nothing is served at {request.url.path}")
        else:
            error = BadRequest(str(exc.detail))
            error.status = exc.status_code  # type: ignore[misc]
        return error_response(error, _error_format(request))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(BadRequest(f"Invalid request: {exc.errors()}"), _error_format(request))

    # The last resort for an error InternalErrors passes on (one raised after its response started).
    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(FhirError(INTERNAL_ERROR), _error_format(request))

    return app


__all__ = ["FhirbridgeApp", "InternalErrors", "create_app"]
