"""``GET [type]/[id]`` answered before the framework: the plain read, the interaction clients make most.

EHRs syncing, dashboards and referral partners mostly read single resources. Through FastAPI, its own
middleware, route matching, dependency solving and the hop to a worker thread cost several times what
the read itself costs (docs/benchmarks.md). A *plain* read (no query parameters, a JSON answer, no
conditional headers) is therefore answered by ``PlainReads``, through the same guarded engine and with
the same body and headers as the ``read`` route in ``routes.py``. ``PlainReads`` is an ordinary ASGI
middleware, the innermost of the application's (server/app.py): every middleware added to the
application, now or later, applies to plain reads as to every other request (request ids and metrics,
the host check, CORS, authentication, access, audit and security headers, a caller's reads from the
replicas). Anything else, including every read this does not recognise as plain, is passed on to the
framework unchanged.

The primary-key read runs on the event loop: it takes tens of microseconds, less than handing it to
a worker thread would. On PostgreSQL it is awaited, and the loop serves other requests meanwhile.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.resource_types import ID_PATTERN, resource_types
from fhirbridge.errors import FhirError
from fhirbridge.formats.negotiation import response_format
from fhirbridge.security.middleware import request_access
from fhirbridge.server.render import error_response, media_type, version_headers

log = logging.getLogger("fhirbridge")

JSON_CONTENT_TYPE = media_type("json").encode("latin-1")
# Conditional reads (304) are the route's to answer.
CONDITIONAL_HEADERS = frozenset({b"if-none-match", b"if-modified-since"})


class PlainReads:
    """ASGI middleware: a plain read is answered here; every other request goes on to ``app``."""

    def __init__(self, app: ASGIApp, *, engine: FhirEngine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = plain_read(scope)
        if target is None:
            await self.app(scope, receive, send)
            return
        try:
            version = await self.engine.read_async(request_access(scope), *target)
        except FhirError as error:
            await error_response(error)(scope, receive, send)
            return
        except Exception:  # the framework's error layers are not in this path
            log.exception("unexpected error on GET %s", scope["path"])
            await error_response(FhirError("Internal server error"))(scope, receive, send)
            return
        body = version.content
        assert body is not None
        # The headers the read route sends (render.resource_response), without building a Response.
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON_CONTENT_TYPE)]
        headers += [(name.lower().encode(), value.encode()) for name, value in version_headers(version).items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def plain_read(scope: Scope) -> tuple[str, str] | None:
    """The (type, id) of a plain read; None for any other request."""
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
        return None
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    parts = path.split("/")
    if len(parts) != 3 or parts[0] or parts[1] not in _read_here() or not ID_PATTERN.match(parts[2]):
        return None
    for name, value in scope["headers"]:
        if name in CONDITIONAL_HEADERS or (name == b"accept" and not _answers_json(value)):
            return None
    return parts[1], parts[2]


@lru_cache(maxsize=1)
def _read_here() -> frozenset[str]:
    # AuditEvents live in the audit log, not the resource store: their reads take the route.
    return resource_types() - {"AuditEvent"}


@lru_cache(maxsize=256)
def _answers_json(accept: bytes) -> bool:
    """Whether this Accept header gets FHIR JSON (clients send the same few values over and over)."""
    try:
        return response_format(None, accept.decode("latin-1")) == "json"
    except FhirError:
        return False  # the route answers 406


__all__ = ["PlainReads", "plain_read"]
