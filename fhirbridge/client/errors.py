"""The exceptions a FHIR client call can raise: one tree, each carrying the server's OperationOutcome.

::

    FhirClientError                any failure; also other 4xx (405, 406, 413, 415, 429...) and bodies
    │                              that are not FHIR JSON
    ├── InvalidResource            400, 422 the server refused the request or the resource
    ├── Unauthorized               401, 403 missing or insufficient credentials
    ├── ResourceNotFound           404
    ├── VersionConflict            409, 412 someone else changed the resource (If-Match), or several
    │                              resources match conditional criteria
    ├── ResourceGone               410 the resource was deleted
    ├── ServerError                5xx
    └── TransportError             no HTTP answer: connection refused, timeout, TLS, retries exhausted

Errors of the HTTP layer below (``requests``) are converted where they happen, with ``raise ... from``,
so callers catch ``FhirClientError`` and nothing else.
"""

from __future__ import annotations

from typing import Any


class FhirClientError(Exception):
    """A FHIR interaction that did not succeed.

    ``status`` is the HTTP status (``None`` when no answer came), ``outcome`` the OperationOutcome the
    server sent (``None`` when it sent none), ``url`` what was requested.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        outcome: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.url = url

    @property
    def diagnostics(self) -> list[str]:
        """The ``diagnostics`` (or ``details.text``) of each issue of the OperationOutcome."""
        if not self.outcome:
            return []
        texts = []
        for issue in self.outcome.get("issue") or []:
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
            if text:
                texts.append(str(text))
        return texts


class InvalidResource(FhirClientError):
    """400 or 422: the request or the resource does not pass the server's checks."""


class Unauthorized(FhirClientError):
    """401 or 403."""


class ResourceNotFound(FhirClientError):
    """404."""


class VersionConflict(FhirClientError):
    """409 or 412."""


class ResourceGone(FhirClientError):
    """410."""


class ServerError(FhirClientError):
    """5xx."""


class TransportError(FhirClientError):
    """The server could not be reached, or did not answer in time."""


_BY_STATUS: dict[int, type[FhirClientError]] = {
    400: InvalidResource,
    401: Unauthorized,
    403: Unauthorized,
    404: ResourceNotFound,
    409: VersionConflict,
    410: ResourceGone,
    412: VersionConflict,
    422: InvalidResource,
}


def error_class(status: int) -> type[FhirClientError]:
    """The exception class for an unsuccessful HTTP status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, FhirClientError)


__all__ = [
    "FhirClientError",
    "InvalidResource",
    "ResourceGone",
    "ResourceNotFound",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "VersionConflict",
    "error_class",
]
