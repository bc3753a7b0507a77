"""The one HTTP session a client keeps: connection pooling, retries with backoff, and authentication.

Retries follow the HTTP rules for safety: an answer of 429, 502, 503 or 504, or a connection dropped
while reading, is retried only for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS). A request
that never reached the server (connection refused, DNS failure) is retried for every method, since
nothing can have happened on the server. ``Retry-After`` is honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry; ``backoff_factor`` 0.5 waits 0.5 s, 1 s, 2 s..."""

    total: int = 3
    backoff_factor: float = 0.5
    backoff_max: float = 30.0

    def to_urllib3(self) -> Retry:
        return Retry(
            total=self.total,
            connect=self.total,
            read=self.total,
            status=self.total,
            other=0,
            allowed_methods=IDEMPOTENT_METHODS,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            respect_retry_after_header=True,
            # Give back the last answer (a 503 with its OperationOutcome) rather than a bare RetryError.
            raise_on_status=False,
            raise_on_redirect=False,
        )


class BearerToken(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; the token may be a callable, asked on every request (refresh)."""

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._token() if callable(self._token) else self._token
        request.headers["Authorization"] = f"Bearer {token}"
        return request


def build_session(retry: RetryPolicy, auth: requests.auth.AuthBase | None = None) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry.to_urllib3())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = auth
    return session


__all__ = ["IDEMPOTENT_METHODS", "RETRY_STATUSES", "BearerToken", "RetryPolicy", "build_session"]
