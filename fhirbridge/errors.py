"""The one exception tree of fhirbridge.

Every failure a client can cause is a ``FhirError``; the HTTP layer turns it into an
OperationOutcome with ``status`` as the HTTP status code::

    FhirError                      (500, the default; never raised for client input)
    ├── BadRequest                 400 malformed body, unknown element, bad id, bad parameter
    ├── Unauthorized               401
    ├── Forbidden                  403
    ├── NotFound                   404 unknown type or id
    ├── MethodNotAllowed           405
    ├── NotAcceptable              406
    ├── Conflict                   409
    ├── Gone                       410 the resource was deleted
    ├── PreconditionFailed         412 If-Match mismatch, several conditional matches
    ├── PayloadTooLarge            413
    ├── UnsupportedMediaType       415
    ├── Unprocessable              422 the resource fails validation
    │   └── TooCostly              422 a query ran past the time budget (too-costly)
    ├── RequestCancelled           499 the client went away and its queries were stopped (only recorded)
    └── Unavailable                503 the database could not take the request in time; try again
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: what went wrong and where (a FHIRPath ``expression``)."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


@dataclass
class FhirError(Exception):
    """Base of all client-visible errors; carries the issues of its OperationOutcome."""

    issues: list[Issue] = field(default_factory=list)
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "exception"

    def __init__(
        self,
        diagnostics: str | None = None,
        *,
        expression: str | list[str] | tuple[str, ...] | None = None,
        code: str | None = None,
        issues: list[Issue] | None = None,
    ) -> None:
        if issues is None:
            if isinstance(expression, str):
                expression = (expression,)
            issues = [
                Issue(
                    diagnostics=diagnostics or type(self).__name__,
                    code=code or self.default_code,
                    expression=tuple(expression or ()),
                )
            ]
        self.issues = issues
        super().__init__(diagnostics or (issues[0].diagnostics if issues else type(self).__name__))

    def __str__(self) -> str:
        return "; ".join(issue.diagnostics for issue in self.issues)

    def operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue.to_fhir() for issue in issues]}


def information_outcome(diagnostics: str) -> dict[str, Any]:
    return operation_outcome([Issue(diagnostics=diagnostics, code="informational", severity="information")])


class BadRequest(FhirError):
    status = 400
    default_code = "invalid"


class Unauthorized(FhirError):
    status = 401
    default_code = "login"


class Forbidden(FhirError):
    status = 403
    default_code = "forbidden"


class NotFound(FhirError):
    status = 404
    default_code = "not-found"


class MethodNotAllowed(FhirError):
    status = 405
    default_code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    default_code = "not-supported"


class Conflict(FhirError):
    status = 409
    default_code = "conflict"


class Gone(FhirError):
    status = 410
    default_code = "deleted"


class PreconditionFailed(FhirError):
    status = 412
    default_code = "conflict"


class PayloadTooLarge(FhirError):
    status = 413
    default_code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    default_code = "not-supported"


class Unprocessable(FhirError):
    status = 422
    default_code = "processing"


class TooCostly(Unprocessable):
    """A query ran past the server's time budget: the request is valid, but costs more than it allows.

    422 rather than 503: the cost comes from the question (and the data it meets), so asking again
    unchanged would most likely fail again; the client has to narrow it (docs/search.md).
    """

    default_code = "too-costly"


class RequestCancelled(FhirError):
    """The client disconnected and its queries were cancelled. Nobody receives the answer; the status
    (nginx's "client closed request") is what the audit trail and the logs record."""

    status = 499
    default_code = "incomplete"


class Unavailable(FhirError):
    """The database could not take the request in time (writers queued on locks); trying again may work."""

    status = 503
    default_code = "transient"


__all__ = [
    "BadRequest",
    "Conflict",
    "FhirError",
    "Forbidden",
    "Gone",
    "Issue",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "RequestCancelled",
    "TooCostly",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UnsupportedMediaType",
    "information_outcome",
    "operation_outcome",
]
