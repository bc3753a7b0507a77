"""A fhirbridge server with authentication on (HS256 test secret), and tokens for each role."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from fhirbridge.config import Settings
from fhirbridge.security.audit import stored_event
from fhirbridge.security.roles import role_claims
from fhirbridge.security.tokens import mint_token
from fhirbridge.storage.audit_log import AuditLog
from tests.conftest import LiveServer

SECRET = "test-secret-for-fhirbridge-security-suite-0123456789"
ISSUER = "https://auth.fhirbridge.test"
AUDIENCE = "https://fhir.fhirbridge.test"
CHILD = "child-ana"
OTHER_CHILD = "child-ben"
PAYER = "payer-1"
SCHOOL = "school-1"

Mint = Callable[..., str]
# Bulk export files of the test servers, away from the checkout's data/exports.
EXPORT_DIR = tempfile.mkdtemp(prefix="fhirbridge-test-exports-")


def secure_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "oauth_authorize_url": f"{ISSUER}/authorize",
        "oauth_token_url": f"{ISSUER}/token",
        "cors_origins": ["https://portal.fhirbridge.test"],
        "subscription_delivery": False,
        # As deployed by default, whatever the environment says (make serve's demo sets "claim").
        "treating_relationship": "care-team",
        "export_dir": EXPORT_DIR,
        **overrides,
    }
    return Settings(**values)


def signed(claims: dict[str, Any], *, key: Any = SECRET, algorithm: str = "HS256", **headers: Any) -> str:
    """A token with exactly these claims (iss, aud, sub, exp filled in unless given)."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "tester", "iat": now, "exp": now + 300, **claims}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


def token_for(role: str, *, patient: str | None = None, org: str | None = None, user: str | None = None) -> str:
    claims = role_claims(role, patient=patient, org=org, user=user)
    # An hour: modules mint some tokens when they are imported, and the whole suite runs for minutes.
    return mint_token(claims, secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=3600, subject=f"{role}-client")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def anonymous(secure_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secure_server.url, timeout=30) as http:
        yield http


def client_as(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers=bearer(token))


@pytest.fixture
def ehr(secure_server: LiveServer) -> Iterator[httpx.Client]:
    with client_as(secure_server, token_for("ehr-system", org="medical-home")) as http:
        yield http


def store(server: LiveServer, *resources: dict[str, Any]) -> None:
    """Store resources directly (no token, no Provenance): the state a test starts from."""

    def write(tx: Any) -> None:
        for resource in resources:
            tx.put(resource["resourceType"], resource["id"], dict(resource), method="PUT")

    server.repository.run_write(write)


def logged_events(server: LiveServer) -> list[dict[str, Any]]:
    """Every AuditEvent in the server's audit log, read as its operators would, from the store, once
    the accesses answered so far are in it (they are stored behind the responses)."""
    assert server.app.services.audit_trail.wait_caught_up()
    log = AuditLog.beside(server.repository.engine)
    try:
        found = []
        for id in log.ids():
            row = log.read(id)
            assert row is not None
            found.append(stored_event(row.content))
        return found
    finally:
        log.dispose()


def put(http: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = http.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body
