"""The security layer of the HTTP server: authentication, the request's Access, audit and headers.

A plain ASGI middleware at the edge: it authenticates the caller and makes the request's one ``Access``,
which it leaves in the ASGI scope (``request_access``) for the routes and the plain-read path to pass,
explicitly, to everything they call. A request that reaches them without one is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from fhirbridge.errors import BadRequest, FhirError, Forbidden, Unauthorized
from fhirbridge.formats.codec import encode
from fhirbridge.formats.negotiation import MEDIA_TYPES, Format, response_format
from fhirbridge.security.access import Access, RelationStore
from fhirbridge.security.audit import AccessRecord, AuditTrail, now
from fhirbridge.security.principal import Principal
from fhirbridge.security.tokens import InvalidToken, TokenVerifier, bearer_token

log = logging.getLogger("fhirbridge.audit")

ASGIApp = Callable[..., Any]
# Served to anyone: they describe the server and how to authenticate (the API's description and its page
# among them), or say whether it is up (for load balancers and orchestrators, server/health.py), and hold
# no one's data.
PUBLIC_PATHS = frozenset(
    {"/metadata", "/.well-known/smart-configuration", "/healthz", "/readyz", "/openapi.json", "/docs"}
)
# The API's documentation page loads its files from here (server/docs.py): Swagger UI, no one's data.
PUBLIC_PREFIXES = ("/docs/assets/",)
DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", DEFAULT_CSP),
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
        public = path.rstrip("/") in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        principal: Principal | None = None
        access = Access(principal=None)
        audited = False
        # Set when the access could not be put on record: the response the handler makes is not sent.
        withheld = False

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal audited, withheld
            if withheld:
                return
            if message["type"] == "http.response.start":
                if not public:
                    audited = True
                    if not await self._audit(scope, message["status"], principal, access):
                        withheld = True
                        await self._unrecorded(scope, send, public)
                        return
                headers = [h for h in message.get("headers", []) if h[0].lower() not in (b"cache-control", b"pragma")]
                headers = _with_security_headers(headers) + ([] if public else NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        if _token_in_url(scope):
            refused = BadRequest(
                "An access token is never accepted in the URL (it would be kept in logs and browser history); "
                "send it in the Authorization header",
                expression="access_token",
            )
            await self._refuse(scope, refused, send_with_headers)
            return
        if self.verifier is not None and not public:
            try:
                principal = await self._authenticate(scope)
            except Unauthorized as error:
                await self._refuse(scope, error, send_with_headers)
                return
            access = Access(principal=principal, store=self.relations)
        scope[ACCESS_KEY] = access
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if not public and not audited:  # the handler ended without answering at all
                await self._audit(scope, 500, principal, access)

    async def _authenticate(self, scope: dict[str, Any]) -> Principal:
        assert self.verifier is not None
        token = bearer_token(_header(scope, b"authorization"))
        if token is None:
            raise Unauthorized("This server requires an OAuth 2.0 bearer token (Authorization: Bearer ...)")
        # Awaited: a token whose key set must first be fetched waits in a thread, not on the event loop.
        return await self.verifier.verify_async(token)

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

    async def _audit(self, scope: dict[str, Any], status: int, principal: Principal | None, access: Access) -> bool:
        """Put the access on record before it is acknowledged; False when it could not be."""
        if self.audit is None:
            return True
        client = scope.get("client")
        record = AccessRecord(
            method=scope.get("method", "GET"),
            path=scope.get("path", "/"),
            query=_audited_query(scope),
            status=status,
            client_address=client[0] if client else None,
            principal=principal,
            recorded=now(),
            entities=tuple(access.audited),
            children=tuple(sorted(access.children)),
        )
        try:
            await self.audit.commit(record)
        except Exception:
            log.exception("an access to %s could not be put on record; it is not answered", record.path)
            return False
        return True

    async def _unrecorded(self, scope: dict[str, Any], send: Any, public: bool) -> None:
        """The answer when an access could not be put on record: nothing of what was asked."""
        error = FhirError("The access could not be recorded in the audit trail; try again later")
        error.status = 503  # type: ignore[misc]
        body = encode(error.operation_outcome(), _error_format(scope))
        headers = [
            (b"content-type", f"{MEDIA_TYPES[_error_format(scope)]}; charset=utf-8".encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"5"),
            *SECURITY_HEADERS,
            *([] if public else NO_STORE),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers and ours. A response may set its own Content-Security-Policy (a page
    that allows its one hashed stylesheet); it keeps it, never looser than ``default-src 'none'`` with
    ``frame-ancestors 'none'``."""
    own = [value for name, value in headers if name.lower() == b"content-security-policy"]
    if not own:
        return headers + SECURITY_HEADERS
    policy = b"; ".join(own)
    if not policy.lstrip().startswith(b"default-src 'none'"):
        policy = b"default-src 'none'; " + policy
    if b"frame-ancestors 'none'" not in policy:
        policy += b"; frame-ancestors 'none'"
    kept = [h for h in headers if h[0].lower() != b"content-security-policy"]
    return (
        kept
        + [(b"content-security-policy", policy)]
        + [h for h in SECURITY_HEADERS if h[0] != b"content-security-policy"]
    )


def _audited_query(scope: dict[str, Any]) -> str:
    """The query as the audit trail keeps it: never with an access token someone put in the URL."""
    raw = scope.get("query_string")
    if not raw:
        return ""
    query = bytes(raw).decode("latin-1")
    if not _token_in_url(scope):
        return query
    return "&".join(part for part in query.split("&") if not part.lower().startswith("access_token="))


def _token_in_url(scope: dict[str, Any]) -> bool:
    raw = scope.get("query_string")
    if not raw:
        return False
    query = bytes(raw).lower()
    return query.startswith(b"access_token=") or b"&access_token=" in query


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
