"""Tokens from a real identity provider's JWKS URL: key rotation, outages, unknown key ids, slow answers,
and the longest lifetime a token may have. The provider is a real HTTP server (identity_provider.py)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhirbridge.security.middleware import SecurityMiddleware
from fhirbridge.security.tokens import InvalidToken, TokenVerifier
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.security.conftest import AUDIENCE, ISSUER, bearer, secure_settings
from tests.security.identity_provider import IdentityProvider, SigningKey

KEY_A, KEY_B, KEY_C = SigningKey("key-a"), SigningKey("key-b"), SigningKey("key-c")
EHR_CLAIMS = {"scope": "system/*.cruds", "fhirbridge_org": "Organization/medical-home", "fhirbridge_team": "treating"}


def fresh(claims: dict[str, Any] | None = None) -> dict[str, Any]:
    """Claims of a token never seen before (a remembered token would not need its key)."""
    return {"jti": str(uuid.uuid4()), **(claims or {})}


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    idp = IdentityProvider(KEY_A)
    yield idp
    idp.close()


def verifier_for(provider: IdentityProvider, **options: Any) -> TokenVerifier:
    checker = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=provider.url, **options)
    assert checker.remote is not None
    checker.remote.refetch_seconds = 0.5
    return checker


def test_a_rotated_key_is_fetched_at_once(provider: IdentityProvider) -> None:
    checker = verifier_for(provider)
    assert checker.verify(KEY_A.token(fresh())).subject == "tester"
    provider.published = [KEY_B]  # the provider rotates: key-b signs from now on, key-a is retired
    # Well within the kept set's lifespan (five minutes): the unknown kid makes it be fetched again.
    assert checker.verify(KEY_B.token(fresh())).subject == "tester"
    assert provider.requests == 2
    with pytest.raises(InvalidToken, match="key-a"):
        checker.verify(KEY_A.token(fresh()))  # retired: refused (after one more fetch to make sure)


def test_unknown_key_ids_make_at_most_one_fetch_per_interval(provider: IdentityProvider) -> None:
    checker = verifier_for(provider)
    checker.verify(KEY_A.token(fresh()))
    assert provider.requests == 1
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        with pytest.raises(InvalidToken, match="No configured key"):
            checker.verify(KEY_C.token(fresh(), kid=kid))
    assert provider.requests == 2  # one fetch for the first unknown kid, none for the others
    time.sleep(0.6)
    with pytest.raises(InvalidToken):
        checker.verify(KEY_C.token(fresh(), kid="made-up-4"))
    assert provider.requests == 3
    assert checker.verify(KEY_A.token(fresh())).subject == "tester"  # known keys never wait
    assert provider.requests == 3


def test_the_last_key_set_is_kept_while_the_provider_is_down(
    provider: IdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    checker = verifier_for(provider)
    assert checker.remote is not None
    checker.remote.lifespan = 0.2
    checker.verify(KEY_A.token(fresh()))
    provider.down = True
    time.sleep(0.6)  # past its lifespan and the refetch interval: fetched again behind the requests, and fails
    with caplog.at_level(logging.WARNING, logger="fhirbridge.security"):
        for _ in range(3):
            assert checker.verify(KEY_A.token(fresh())).subject == "tester"
        deadline = time.monotonic() + 5
        while provider.requests < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
    assert provider.requests == 2  # tried once (not per request), failed, the old keys still serve
    assert "keeping the last key set" in caplog.text
    provider.down = False
    provider.published = [KEY_A, KEY_B]
    time.sleep(0.6)
    assert checker.verify(KEY_B.token(fresh())).subject == "tester"  # back up: new keys found


def test_no_key_set_yet_is_refused_and_tried_again_soon(provider: IdentityProvider) -> None:
    provider.down = True
    checker = verifier_for(provider)
    with pytest.raises(InvalidToken, match="could not be fetched"):
        checker.verify(KEY_A.token(fresh()))
    provider.down = False
    with pytest.raises(InvalidToken, match="could not be fetched"):
        checker.verify(KEY_A.token(fresh()))  # not asked again at once
    assert provider.requests == 1
    time.sleep(1.1)
    assert checker.verify(KEY_A.token(fresh())).subject == "tester"


def test_a_token_living_longer_than_allowed_is_refused(provider: IdentityProvider) -> None:
    checker = verifier_for(provider, max_lifetime=3600)
    now = int(time.time())
    assert checker.verify(KEY_A.token(fresh({"iat": now, "exp": now + 3600}))).subject == "tester"
    with pytest.raises(InvalidToken, match="lives longer"):
        checker.verify(KEY_A.token(fresh({"iat": now, "exp": now + 3601})))
    with pytest.raises(InvalidToken, match="lives longer"):  # without iat: from now on
        checker.verify(KEY_A.token(fresh({"iat": None, "exp": now + 7200})))
    with pytest.raises(InvalidToken, match="lives longer"):  # issued long ago, still valid for a while
        checker.verify(KEY_A.token(fresh({"iat": now - 30 * 86400, "exp": now + 600})))


# -- the same over HTTP, against a server configured with the provider's JWKS URL --------------------------


@pytest.fixture
def idp_server(repository: SqlRepository, provider: IdentityProvider) -> Iterator[LiveServer]:
    server = LiveServer(repository, secure_settings(jwt_secret="", jwks=provider.url, max_token_lifetime_seconds=3600))
    server.reset()
    server.start()
    yield server
    server.stop()


def server_verifier(server: LiveServer) -> TokenVerifier:
    for middleware in server.app.user_middleware:
        if middleware.cls is SecurityMiddleware:
            verifier = middleware.kwargs["verifier"]
            assert isinstance(verifier, TokenVerifier)
            return verifier
    raise AssertionError("no security middleware")


def search(server: LiveServer, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/Patient", headers=bearer(token), timeout=30)


def test_rs256_tokens_through_a_key_rotation_over_http(idp_server: LiveServer, provider: IdentityProvider) -> None:
    assert search(idp_server, KEY_A.token(fresh(EHR_CLAIMS))).status_code == 200
    provider.published = [KEY_A, KEY_B]  # the new key is published, then used
    assert search(idp_server, KEY_B.token(fresh(EHR_CLAIMS))).status_code == 200
    assert search(idp_server, KEY_A.token(fresh(EHR_CLAIMS))).status_code == 200
    refused = search(idp_server, KEY_C.token(fresh(EHR_CLAIMS)))  # never published
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_tokens_verify_over_http_while_the_provider_is_down(idp_server: LiveServer, provider: IdentityProvider) -> None:
    remote = server_verifier(idp_server).remote
    assert remote is not None
    remote.lifespan, remote.refetch_seconds = 0.2, 0.2
    assert search(idp_server, KEY_A.token(fresh(EHR_CLAIMS))).status_code == 200
    provider.down = True
    time.sleep(0.3)
    for _ in range(5):
        assert search(idp_server, KEY_A.token(fresh(EHR_CLAIMS))).status_code == 200
        time.sleep(0.1)
    assert provider.requests >= 2  # it did try again, behind the requests


def test_a_long_lived_token_is_refused_over_http(idp_server: LiveServer) -> None:
    now = int(time.time())
    response = search(idp_server, KEY_A.token(fresh({**EHR_CLAIMS, "iat": now, "exp": now + 86400})))
    assert response.status_code == 401
    assert "lives longer" in response.headers["www-authenticate"]


def test_a_slow_provider_does_not_hold_up_other_requests(idp_server: LiveServer, provider: IdentityProvider) -> None:
    known = KEY_A.token(fresh(EHR_CLAIMS))
    with httpx.Client(base_url=idp_server.url, timeout=30) as http:
        assert http.get("/metadata").status_code == 200
        assert http.get("/Patient", headers=bearer(known)).status_code == 200  # key-a fetched, at full speed
        provider.delay = 3.0
        provider.published = [KEY_A, KEY_B]
        waiting: dict[str, Any] = {}

        def rotated_request() -> None:
            started = time.monotonic()
            # A key the server has not seen: the set must be fetched, taking the provider's 3 s.
            waiting["status"] = search(idp_server, KEY_B.token(fresh(EHR_CLAIMS))).status_code
            waiting["seconds"] = time.monotonic() - started

        slow = threading.Thread(target=rotated_request)
        slow.start()
        time.sleep(0.3)  # the fetch is under way
        started = time.monotonic()
        assert http.get("/metadata").status_code == 200
        # Tokens signed with a key already kept: one remembered, one never seen (verified, no fetch).
        assert http.get("/Patient", headers=bearer(known)).status_code == 200
        assert http.get("/Patient", headers=bearer(KEY_A.token(fresh(EHR_CLAIMS)))).status_code == 200
        unrelated = time.monotonic() - started
        slow.join(10)
    assert unrelated < 1.0, f"requests waited {unrelated:.2f} s for the identity provider"
    assert waiting["status"] == 200 and waiting["seconds"] >= 2.5
