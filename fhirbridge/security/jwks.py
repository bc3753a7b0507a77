"""An identity provider's key set (JWKS), fetched from its URL and kept.

Three things an identity provider does that the server must live through:

- **It rotates keys.** A token naming a key id (``kid``) the kept set does not hold makes the set be
  fetched again at once, not when it would next expire. Such fetches happen at most once every
  ``refetch_seconds``, so a stream of tokens with made-up key ids cannot make the server hammer the
  provider (a token with a new key may be refused for that long after the last one).
- **It goes down.** A failed fetch keeps the last set that was fetched (a warning is logged): tokens
  signed with keys the server already knows go on verifying during the outage. A set older than
  ``lifespan`` is fetched again behind the requests (a thread of its own), which go on with the set kept.
- **It answers slowly.** A fetch blocks for up to ``timeout`` seconds, so it must never run on the
  event loop: ``must_fetch`` tells the caller (``TokenVerifier.verify_async``) that this token has to wait
  for one, and the caller waits in a worker thread. Only the first fetch and an unknown key id ever wait.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import Any

import jwt
import requests

log = logging.getLogger("fhirbridge.security")

# A key set is a few kilobytes; anything much larger is not one.
MAX_JWKS_BYTES = 1024 * 1024
# With no key set at all every token fails anyway: try again sooner than for an unknown kid, but not per request.
RETRY_WITHOUT_KEYS = 1.0


class KeySetUnavailable(Exception):
    """No key set has ever been fetched from the provider."""


class RemoteKeySet:
    def __init__(self, url: str, *, lifespan: float = 300.0, refetch_seconds: float = 30.0, timeout: float = 5.0):
        self.url = url
        self.lifespan = lifespan
        self.refetch_seconds = refetch_seconds
        self.timeout = timeout
        self._keys: list[jwt.PyJWK] | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = -math.inf  # time.monotonic() of the last good fetch
        self._attempted_at = -math.inf  # ... and of the last attempt, good or not
        self._refetched_at = -math.inf  # ... and of the last attempt made for an unknown kid
        self._lock = threading.Lock()  # one fetch at a time; the others wait for it and use what it got
        self._behind: threading.Thread | None = None
        self.fetches = 0  # attempts made (tests and diagnostics)

    def must_fetch(self, kid: Any) -> bool:
        """Whether the keys for ``kid`` can only come from a fetch the caller has to wait for, and may."""
        now = time.monotonic()
        if self._keys is None:
            return now - self._attempted_at >= RETRY_WITHOUT_KEYS
        if kid is None or kid in self._kids:
            return False
        return now - self._refetched_at >= self.refetch_seconds

    def keys(self, kid: Any, *, may_fetch: bool = True) -> list[jwt.PyJWK]:
        """The kept keys that ``kid`` names (all of them for no kid), fetching first when ``must_fetch``
        and ``may_fetch`` (never on the event loop); a set past its lifespan is refreshed behind."""
        if may_fetch and self.must_fetch(kid):
            self.refresh(kid)
        elif self._keys is not None and time.monotonic() - self._fetched_at > self.lifespan:
            self._refresh_behind()
        keys = self._keys
        if keys is None:
            raise KeySetUnavailable(self.url)
        return [key for key in keys if kid is None or key.key_id == kid]

    def refresh(self, kid: Any = None) -> None:
        """Fetch the set now (blocking, up to ``timeout``), unless another fetch already got it meanwhile."""
        with self._lock:
            # Checked again: whoever fetched while this thread waited may have got what it needs.
            for_kid = self._keys is not None and kid is not None and kid not in self._kids
            if not (self.must_fetch(kid) if for_kid or self._keys is None else self._due()):
                return
            self._attempted_at = time.monotonic()
            if for_kid:
                self._refetched_at = self._attempted_at
            self.fetches += 1
            try:
                keys = self._fetch()
            except Exception as exc:  # any failure: keep what we have
                kept = "keeping the last key set" if self._keys is not None else "no key set yet"
                log.warning("JWKS %s could not be fetched (%s: %s); %s", self.url, type(exc).__name__, exc, kept)
                return
            self._keys = keys
            self._kids = frozenset(str(key.key_id) for key in keys if key.key_id is not None)
            self._fetched_at = time.monotonic()

    def _fetch(self) -> list[jwt.PyJWK]:
        with requests.get(self.url, timeout=self.timeout, stream=True, headers={"Accept": "application/json"}) as r:
            if r.status_code != 200:
                raise ValueError(f"HTTP {r.status_code}")
            body = r.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("the key set is larger than 1 MiB")
        return list(jwt.PyJWKSet.from_dict(json.loads(body)).keys)

    def _due(self) -> bool:
        """The kept set is past its lifespan, and the provider was not asked in the last refetch_seconds
        (while it is down it is asked again that often, behind the requests)."""
        now = time.monotonic()
        return now - self._fetched_at > self.lifespan and now - self._attempted_at >= self.refetch_seconds

    def _refresh_behind(self) -> None:
        if not self._due() or (self._behind is not None and self._behind.is_alive()):
            return
        self._behind = threading.Thread(target=self.refresh, name="fhirbridge-jwks", daemon=True)
        self._behind.start()


__all__ = ["KeySetUnavailable", "RemoteKeySet"]
