"""``GET /healthz`` and ``GET /readyz``: is the process up, and can it serve requests.

For load balancers and orchestrators: no token (security/middleware.py lists them as public, so they are
not audited either) and nothing about anyone, only whether this process answers and whether its database
answers with the schema this code expects (server/readiness.py). Not ready is ``503`` with an
OperationOutcome saying why, in words that name no host, user or error text of the driver (those go to
the log).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from fhirbridge.errors import Unavailable, information_outcome
from fhirbridge.formats.codec import encode
from fhirbridge.server.deps import ReadinessDep
from fhirbridge.server.readiness import READY_TIMEOUT, Readiness

JSON = "application/fhir+json; charset=utf-8"

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> Response:
    """The process answers: nothing is asked of the database (a liveness probe must not fail, and get the
    process restarted, because the database is down)."""
    return Response(encode(information_outcome("up"), "json"), media_type=JSON)


@router.get("/readyz")
async def readyz(readiness: ReadinessDep) -> Response:
    problem = await readiness.problem()
    if problem is None:
        return Response(encode(information_outcome("ready"), "json"), media_type=JSON)
    body = encode(Unavailable(problem).operation_outcome(), "json")
    return Response(body, status_code=503, media_type=JSON, headers={"Retry-After": "5"})


__all__ = ["READY_TIMEOUT", "Readiness", "router"]
