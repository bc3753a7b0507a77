"""Verifying OAuth 2.0 bearer tokens (JWTs) against the keys fhirbridge is configured with.

Keys come from a JWKS (a file, or an https URL fetched and cached) and, for development, an HS256
shared secret. Each key only verifies the algorithms of its own kind: the secret only HS256, an RSA key
only RS*/PS*, an EC key only ES*, an OKP key only EdDSA; ``alg: none`` never. A token must carry
``iss``, ``aud``, ``sub`` and ``exp``; ``nbf`` is honoured when present; clocks may disagree by
``leeway`` seconds.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from fhirbridge.errors import Unauthorized
from fhirbridge.security.principal import Principal

HMAC_ALGORITHMS = frozenset({"HS256"})
ALGORITHMS_BY_KEY_TYPE = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
# A development secret shorter than this is refused at start-up (RFC 7518 3.2: at least the hash size).
MIN_SECRET_BYTES = 32
# Verified tokens kept in memory, and for how long at the most (the lifespan of a fetched key set).
VERIFIED_TOKENS = 4096
VERIFIED_FOR = 300.0


class InvalidToken(Unauthorized):
    """A bearer token was presented but cannot be trusted (RFC 6750 ``invalid_token``)."""


class ConfigurationError(ValueError):
    """Authentication is on but the keys, issuer or audience to check tokens against are missing."""


@dataclass
class TokenVerifier:
    issuer: str
    audience: str
    secret: str | None = None
    jwks: str | None = None
    leeway: int = 30

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ConfigurationError("Set FHIRBRIDGE_JWT_ISSUER and FHIRBRIDGE_JWT_AUDIENCE to check tokens against")
        if not self.secret and not self.jwks:
            raise ConfigurationError("Set FHIRBRIDGE_JWKS (file or https URL) or FHIRBRIDGE_JWT_SECRET")
        if self.secret and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(f"FHIRBRIDGE_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        self._key_set: jwt.PyJWKSet | None = None
        self._client: jwt.PyJWKClient | None = None
        # token -> (its caller, accepted from, accepted until): see ``verify``.
        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()
        if self.jwks and self.jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(self.jwks, cache_jwk_set=True, lifespan=300, timeout=5)
        elif self.jwks:
            self._key_set = jwt.PyJWKSet.from_dict(json.loads(Path(self.jwks).read_text()))

    def verify(self, token: str) -> Principal:
        """The caller a token names, once its signature and claims verify.

        A token verified before is answered from memory until it expires (or, at the most, for as long as
        a key set is kept: VERIFIED_FOR seconds): clients send the same token with every request, and
        verifying it again each time is a large share of a plain read's cost."""
        now = time.time()
        known = self._verified.get(token)
        if known is not None:
            principal, not_before, until = known
            if not_before <= now <= until:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, claims = self._verify(token)
        exp, nbf = claims.get("exp"), claims.get("nbf")
        until = min(float(exp) + self.leeway if isinstance(exp, int | float) else now, now + VERIFIED_FOR)
        not_before = float(nbf) - self.leeway if isinstance(nbf, int | float) else now - self.leeway
        self._verified[token] = (principal, not_before, until)
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("The bearer token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none":
            raise InvalidToken("Unsigned tokens are not accepted")
        key = self._key_for(algorithm, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("The bearer token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("The bearer token is not meant for this server") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("The bearer token comes from an issuer this server does not trust") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"The bearer token lacks the '{exc.claim}' claim") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("The bearer token's signature does not verify") from None
        return Principal.from_claims(claims), claims

    def _key_for(self, algorithm: str, kid: Any) -> Any:
        if algorithm in HMAC_ALGORITHMS:
            if not self.secret:
                raise InvalidToken(f"Tokens signed with {algorithm} are not accepted")
            return self.secret
        candidates = [key for key in self._jwks_keys(kid) if algorithm in _algorithms_of(key)]
        if not candidates:
            raise InvalidToken(f"No configured key verifies {algorithm} tokens" + (f" with kid '{kid}'" if kid else ""))
        if len(candidates) > 1 and kid is None:
            raise InvalidToken("The token names no key (kid) and several keys could verify it")
        return candidates[0].key

    def _jwks_keys(self, kid: Any) -> list[jwt.PyJWK]:
        if not self.jwks:
            return []
        if self._client is not None:
            try:
                keys = self._client.get_signing_keys()
            except jwt.PyJWKClientError:
                raise InvalidToken("The key set could not be fetched to verify the token") from None
        else:
            assert self._key_set is not None
            keys = list(self._key_set.keys)
        return [key for key in keys if kid is None or key.key_id == kid]


def _algorithms_of(key: jwt.PyJWK) -> frozenset[str]:
    """The algorithms a JWK may verify: its own ``alg`` if it names one, else those of its key type."""
    allowed = ALGORITHMS_BY_KEY_TYPE.get(str(key.key_type), frozenset())
    declared = getattr(key, "_jwk_data", {}).get("alg")
    return allowed & {declared} if isinstance(declared, str) else allowed


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def mint_token(claims: dict[str, Any], *, secret: str, issuer: str, audience: str, ttl: int, subject: str) -> str:
    """A development token signed with the HS256 secret (never for production callers)."""
    import uuid

    issued = int(time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


__all__ = [
    "ALGORITHMS_BY_KEY_TYPE",
    "HMAC_ALGORITHMS",
    "ConfigurationError",
    "InvalidToken",
    "TokenVerifier",
    "bearer_token",
    "mint_token",
]
