"""Bearer tokens: what verifies, and every forged or stale token that must not."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fhirbridge.security.tokens import ConfigurationError, InvalidToken, TokenVerifier, bearer_token
from tests.security.conftest import AUDIENCE, ISSUER, SECRET, signed

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "key-1", "use": "sig"}]}))
    return path


def verifier(**overrides: Any) -> TokenVerifier:
    values: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "secret": SECRET, **overrides}
    return TokenVerifier(**values)


def refused(token: str, message: str, **overrides: Any) -> None:
    with pytest.raises(InvalidToken, match=message):
        verifier(**overrides).verify(token)


def test_a_well_formed_token_gives_its_principal() -> None:
    principal = verifier().verify(signed({"scope": "user/Goal.rs openid", "fhirUser": "Practitioner/7"}))
    assert principal.subject == "tester"
    assert [str(scope) for scope in principal.scopes] == ["user/Goal.rs"]
    assert principal.fhir_user == "Practitioner/7"


def test_a_forged_signature_is_refused() -> None:
    refused(signed({}, key="another-secret-that-is-also-long-enough-0123"), "signature")


def test_an_expired_token_is_refused() -> None:
    refused(signed({"exp": int(time.time()) - 120}), "expired")


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    checker = verifier(leeway=0)
    token = signed({"exp": int(time.time()) + 1})
    assert checker.verify(token).subject == "tester"
    assert checker.verify(token).subject == "tester"  # answered from memory
    time.sleep(2.1)
    with pytest.raises(InvalidToken, match="expired"):
        checker.verify(token)


def test_a_remembered_token_is_never_accepted_with_another_signature() -> None:
    checker = verifier()
    token = signed({})
    checker.verify(token)
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(InvalidToken):
        checker.verify(tampered)


def test_clock_skew_within_the_leeway_is_tolerated() -> None:
    assert verifier().verify(signed({"exp": int(time.time()) - 5})).subject == "tester"


def test_a_token_not_yet_valid_is_refused() -> None:
    refused(signed({"nbf": int(time.time()) + 600}), "not valid yet")


def test_a_token_for_another_audience_is_refused() -> None:
    refused(signed({"aud": "https://other-server.test"}), "not meant for this server")


def test_a_token_from_another_issuer_is_refused() -> None:
    refused(signed({"iss": "https://evil.test"}), "issuer")


@pytest.mark.parametrize("claim", ["exp", "sub", "iss", "aud"])
def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    refused(signed({claim: None}), f"lacks the '{claim}' claim")


def test_an_unsigned_token_is_refused() -> None:
    refused(signed({}, key=None, algorithm="none"), "Unsigned")


def test_garbage_is_refused() -> None:
    refused("not.a.jwt", "well-formed")


def test_rs256_tokens_verify_against_the_jwks(jwks_file: Path) -> None:
    token = signed({}, key=RSA_KEY, algorithm="RS256", kid="key-1")
    assert verifier(secret=None, jwks=str(jwks_file)).verify(token).subject == "tester"


def test_hs256_signed_with_the_public_key_is_refused(jwks_file: Path) -> None:
    # Key confusion: an attacker signs HS256 with the (public) RSA key as the HMAC secret.
    header = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    payload = json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60}).encode()
    token = _hmac_token(header, payload, PUBLIC_PEM)
    refused(token, "HS256", secret=None, jwks=str(jwks_file))


def test_an_unknown_key_id_is_refused(jwks_file: Path) -> None:
    token = signed({}, key=RSA_KEY, algorithm="RS256", kid="key-2")
    refused(token, "No configured key", secret=None, jwks=str(jwks_file))


def test_an_algorithm_outside_the_key_type_is_refused(jwks_file: Path) -> None:
    token = signed({}, key=RSA_KEY, algorithm="RS256", kid="key-1")
    # The secret only verifies HS256; an RS256 token cannot be checked against it.
    refused(token, "No configured key")


def test_unsafe_configurations_are_refused_at_start() -> None:
    with pytest.raises(ConfigurationError, match="JWT_ISSUER"):
        TokenVerifier(issuer="", audience=AUDIENCE, secret=SECRET)
    with pytest.raises(ConfigurationError, match="JWKS"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ConfigurationError, match="at least"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, secret="short")


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None


def _hmac_token(header: dict[str, Any], payload: bytes, secret: bytes) -> str:
    """Sign by hand: PyJWT itself refuses to use a PEM key as an HMAC secret."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
