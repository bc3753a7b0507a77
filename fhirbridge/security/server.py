"""Installing access control into the FastAPI application (``create_app`` calls ``install_security``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware

from fhirbridge.config import Settings
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import ConsentLookup
from fhirbridge.security.audit import AuditTrail
from fhirbridge.security.consent import ConsentGrant, best_grant, consent_grant
from fhirbridge.security.middleware import ASGIApp, SecurityMiddleware
from fhirbridge.security.smart import smart_configuration
from fhirbridge.security.tokens import TokenVerifier
from fhirbridge.storage.sql import SqlRepository

log = logging.getLogger("fhirbridge.security")

CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept",
    "If-Match",
    "If-None-Match",
    "If-None-Exist",
    "If-Modified-Since",
    "Prefer",
]
CORS_RESPONSE_HEADERS = ["ETag", "Location", "Last-Modified", "Content-Location"]


@dataclass
class InstalledSecurity:
    audit: AuditTrail | None
    # The layers around every request, innermost first, as (middleware class, options).
    layers: list[tuple[Callable[..., Any], dict[str, Any]]]

    def wrap(self, inner: ASGIApp) -> ASGIApp:
        """``inner`` behind the same layers the FastAPI application has (for its plain-read path)."""
        for middleware, options in self.layers:
            inner = middleware(inner, **options)
        return inner

    def close(self) -> None:
        if self.audit is not None:
            self.audit.stop()


def repository_consents(repository: SqlRepository) -> ConsentLookup:
    """Looks up the Consents of a child naming an organization, straight from the store."""

    def lookup(patient_id: str, organization: str, now: datetime) -> ConsentGrant | None:
        grants = []
        for version in repository.iter_current("Consent"):
            assert version.content is not None
            grants.append(consent_grant(fhir_json.loads_stored(version.content), organization, patient_id, now))
        return best_grant(grants)

    return lookup


def install_security(app: FastAPI, settings: Settings, repository: SqlRepository) -> InstalledSecurity:
    """Authentication, the access context, audit, security headers, CORS and the discovery routes."""
    verifier: TokenVerifier | None = None
    audit: AuditTrail | None = None
    if settings.auth_disabled:
        log.warning(
            "AUTHENTICATION IS DISABLED (FHIRBRIDGE_AUTH_DISABLED): every caller can read and write every "
            "child's record, and no audit trail or Provenance is recorded. Never run like this with real data."
        )
    else:
        verifier = TokenVerifier(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            secret=settings.jwt_secret or None,
            jwks=settings.jwks or None,
            leeway=settings.jwt_leeway_seconds,
        )
        audit = AuditTrail(repository, max_pending=settings.audit_max_pending)
        audit.start()
    layers: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (SecurityMiddleware, {"verifier": verifier, "consents": repository_consents(repository), "audit": audit})
    ]
    if settings.cors_origins:
        # Outermost: a browser's preflight is answered before authentication.
        cors = {
            "allow_origins": settings.cors_origins,
            "allow_methods": CORS_METHODS,
            "allow_headers": CORS_REQUEST_HEADERS,
            "expose_headers": CORS_RESPONSE_HEADERS,
        }
        layers.append((CORSMiddleware, cors))
    for middleware, options in layers:
        app.add_middleware(middleware, **options)  # each added one becomes the outermost

    @app.get("/.well-known/smart-configuration")
    async def smart_discovery() -> Response:
        return Response(fhir_json.dumps(smart_configuration(settings)), media_type="application/json")

    return InstalledSecurity(audit, layers)


__all__ = ["InstalledSecurity", "install_security", "repository_consents"]
