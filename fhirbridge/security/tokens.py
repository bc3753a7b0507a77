"""Verifying OAuth 2.0 bearer tokens (JWTs) against the keys fhirbridge is configured with.

Keys come from a JWKS (a file, or an https URL fetched and kept: security/jwks.py) and, for
development, an HS256 shared secret. Each key only verifies the algorithms of its own kind: the secret
only HS256, an RSA key only RS*/PS*, an EC key only ES*, an OKP key only EdDSA; ``alg: none`` never. A
token must carry ``iss``, ``aud``, ``sub`` and ``exp``; ``nbf`` is honoured when present; clocks may
disagree by ``leeway`` seconds. With ``max_lifetime``, a token that lives longer (``exp`` - ``iat``) is refused: a
stolen long-lived token is a standing key to children's records.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import jwt

from fhirbridge.errors import Unauthorized
from fhirbridge.security.jwks import KeySetUnavailable, RemoteKeySet
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


def _key_set_file(path: str) -> jwt.PyJWKSet:
    """The key set of a JWKS file; one that cannot be read is the deployment's to fix, said as such."""
    try:
        return jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, jwt.PyJWKSetError) as error:
        raise ConfigurationError(
            f"FHIRBRIDGE_JWKS: cannot read a key set from the file {path} ({error}); give a JWKS file "
            "(or the https:// URL of your identity provider's keys)"
        ) from error


@dataclass
class TokenVerifier:
    issuer: str
    audience: str
    secret: str | None = None
    jwks: str | None = None
    leeway: int = 30
    # Seconds a token may live (exp - iat, or exp - now without iat); 0: no limit.
    max_lifetime: int = 0

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ConfigurationError("Set FHIRBRIDGE_JWT_ISSUER and FHIRBRIDGE_JWT_AUDIENCE to check tokens against")
        if not self.secret and not self.jwks:
            raise ConfigurationError("Set FHIRBRIDGE_JWKS (file or https URL) or FHIRBRIDGE_JWT_SECRET")
        if self.secret and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"FHIRBRIDGE_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes "
                f"(it has {len(self.secret.encode())}); "
                "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))', or verify tokens "
                "with an identity provider's keys (FHIRBRIDGE_JWKS)"
            )
        self._key_set: jwt.PyJWKSet | None = None
        # The identity provider's keys, when they come from a URL (refetched on rotation, kept in outages).
        self.remote: RemoteKeySet | None = None
        # token -> (its caller, accepted from, accepted until): see ``verify``.
        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()
        if self.jwks and self.jwks.startswith(("https://", "http://")):
            self.remote = RemoteKeySet(self.jwks, lifespan=VERIFIED_FOR)
        elif self.jwks:
            self._key_set = _key_set_file(self.jwks)

    async def verify_async(self, token: str) -> Principal:
        """``verify`` for the event loop. A token verified before, or whose key is at hand, is verified
        right here (the hot path: no hop to a thread); one that has to wait for the key set to be fetched
        waits in a worker thread, so a slow identity provider delays only the requests that need it."""
        if self.remote is not None and self._remembered(token) is None and self._needs_fetch(token):
            return await anyio.to_thread.run_sync(self.verify, token)
        return self.verify(token, may_fetch=False)

    def verify(self, token: str, *, may_fetch: bool = True) -> Principal:
        """The caller a token names, once its signature and claims verify.

        A token verified before is answered from memory until it expires (or, at the most, for as long as
        a key set is kept: VERIFIED_FOR seconds): clients send the same token with every request, and
        verifying it again each time is a large share of a plain read's cost. ``may_fetch`` False: never
        wait for the key set to be fetched (a token that would need it is refused)."""
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        now = time.time()
        principal, claims = self._verify(token, may_fetch)
        exp, nbf = claims.get("exp"), claims.get("nbf")
        until = min(float(exp) + self.leeway if isinstance(exp, int | float) else now, now + VERIFIED_FOR)
        not_before = float(nbf) - self.leeway if isinstance(nbf, int | float) else now - self.leeway
        self._verified[token] = (principal, not_before, until)
        if len(self._verified) > VERIFIED_TOKENS:
            with contextlib.suppress(KeyError):  # emptied by another thread meanwhile (fetches run in threads)
                self._verified.popitem(last=False)
        return principal

    def _remembered(self, token: str) -> Principal | None:
        known = self._verified.get(token)
        if known is None:
            return None
        principal, not_before, until = known
        if not_before <= time.time() <= until:
            with contextlib.suppress(KeyError):  # dropped by another thread meanwhile: verified a moment ago
                self._verified.move_to_end(token)
            return principal
        self._verified.pop(token, None)
        return None

    def _needs_fetch(self, token: str) -> bool:
        """Whether verifying this token first has to wait for the key set to be fetched."""
        assert self.remote is not None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return False  # refused without any key
        return header.get("alg") not in HMAC_ALGORITHMS and self.remote.must_fetch(header.get("kid"))

    def _verify(self, token: str, may_fetch: bool = True) -> tuple[Principal, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("The bearer token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none":
            raise InvalidToken("Unsigned tokens are not accepted")
        key = self._key_for(algorithm, header.get("kid"), may_fetch)
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
        self._check_lifetime(claims)
        return Principal.from_claims(claims), claims

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        if self.max_lifetime <= 0:
            return
        issued = claims.get("iat")
        start = float(issued) if isinstance(issued, int | float) else time.time()
        if float(claims["exp"]) - start > self.max_lifetime:
            raise InvalidToken(f"The bearer token lives longer than this server accepts ({self.max_lifetime} s)")

    def _key_for(self, algorithm: str, kid: Any, may_fetch: bool = True) -> Any:
        if algorithm in HMAC_ALGORITHMS:
            if not self.secret:
                raise InvalidToken(f"Tokens signed with {algorithm} are not accepted")
            return self.secret
        candidates = [key for key in self._jwks_keys(kid, may_fetch) if algorithm in _algorithms_of(key)]
        if not candidates:
            raise InvalidToken(f"No configured key verifies {algorithm} tokens" + (f" with kid '{kid}'" if kid else ""))
        if len(candidates) > 1 and kid is None:
            raise InvalidToken("The token names no key (kid) and several keys could verify it")
        return candidates[0].key

    def _jwks_keys(self, kid: Any, may_fetch: bool = True) -> list[jwt.PyJWK]:
        if not self.jwks:
            return []
        if self.remote is not None:
            try:
                return self.remote.keys(kid, may_fetch=may_fetch)
            except KeySetUnavailable:
                raise InvalidToken("The key set could not be fetched to verify the token") from None
        assert self._key_set is not None
        return [key for key in self._key_set.keys if kid is None or key.key_id == kid]


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
