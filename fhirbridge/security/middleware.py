"""The security layer of the HTTP server: authentication, the request's Access, audit and headers.

A plain ASGI middleware at the edge: it authenticates the caller and makes the request's one ``Access``,
which it leaves in the ASGI scope (``request_access``) for the routes and the plain-read path to pass,
explicitly, to everything they call. A request that reaches them without one is refused.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from fhirbridge.errors import FhirError, Forbidden, Unauthorized
from fhirbridge.formats.codec import encode
from fhirbridge.security.access import Access, RelationStore
from fhirbridge.security.audit import AccessRecord, AuditTrail, now
from fhirbridge.security.principal import Principal
from fhirbridge.security.tokens import InvalidToken, TokenVerifier, bearer_token
from fhirbridge.server.negotiation import MEDIA_TYPES, Format, response_format

ASGIApp = Callable[..., Any]
# Served to anyone: they describe the server and how to authenticate, and hold no one's data.
PUBLIC_PATHS = frozenset({"/metadata", "/.well-known/smart-configuration"})
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]
# Responses about a child must not be kept by browsers or shared caches.
NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


ACCESS_KEY = "fhirbridge.access"  # where the request's Access travels in the ASGI scope


def request_access(scope: MutableMapping[str, Any]) -> Access:
    """The Access the security middleware made for this request; none made: refused (fail closed)."""
    access = scope.get(ACCESS_KEY)
    if not isinstance(access, Access):
        raise Forbidden("No access was established for this request", code="security")
    return access


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier | None,
        relations: RelationStore | None,
        audit: AuditTrail | None,
        realm: str = "fhirbridge",
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.relations = relations
        self.audit = audit
        self.realm = realm

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "/")
        public = path.rstrip("/") in PUBLIC_PATHS
        status = 500

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() not in (b"cache-control", b"pragma")]
                headers += SECURITY_HEADERS + ([] if public else NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        principal: Principal | None = None
        if self.verifier is None or public:
            access = Access(principal=None)
        else:
            try:
                principal = self._authenticate(scope)
            except Unauthorized as error:
                await self._refuse(scope, error, send_with_headers)
                self._audit(scope, 401, None)
                return
            access = Access(principal=principal, store=self.relations)
        scope[ACCESS_KEY] = access
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if not public:
                self._audit(scope, status, principal)

    def _authenticate(self, scope: dict[str, Any]) -> Principal:
        assert self.verifier is not None
        token = bearer_token(_header(scope, b"authorization"))
        if token is None:
            raise Unauthorized("This server requires an OAuth 2.0 bearer token (Authorization: Bearer ...)")
        return self.verifier.verify(token)

    async def _refuse(self, scope: dict[str, Any], error: FhirError, send: Any) -> None:
        fmt = _error_format(scope)
        challenge = f'Bearer realm="{self.realm}"'
        if isinstance(error, InvalidToken):
            description = str(error).replace('"', "'")
            challenge += f', error="invalid_token", error_description="{description}"'
        body = encode(error.operation_outcome(), fmt)
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", f"{MEDIA_TYPES[fmt]}; charset=utf-8".encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _audit(self, scope: dict[str, Any], status: int, principal: Principal | None) -> None:
        if self.audit is None:
            return
        client = scope.get("client")
        self.audit.record(
            AccessRecord(
                method=scope.get("method", "GET"),
                path=scope.get("path", "/"),
                query=scope.get("query_string", b"").decode("latin-1"),
                status=status,
                client_address=client[0] if client else None,
                principal=principal,
                recorded=now(),
            )
        )


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _error_format(scope: dict[str, Any]) -> Format:
    from urllib.parse import parse_qs

    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        return response_format((query.get("_format") or [None])[0], _header(scope, b"accept"))
    except FhirError:
        return "json"


__all__ = ["ACCESS_KEY", "PUBLIC_PATHS", "SECURITY_HEADERS", "SecurityMiddleware", "request_access"]
