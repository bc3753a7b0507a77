"""``GET /healthz`` and ``GET /readyz``: is the process up, and can it serve requests.

For load balancers and orchestrators: no token (security/middleware.py lists them as public, so they are
not audited either) and nothing about anyone, only whether this process answers and whether its database
answers with the schema this code expects. Not ready is ``503`` with an OperationOutcome saying why, in
words that name no host, user or error text of the driver (those go to the log).
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response

from fhirbridge.errors import Unavailable, information_outcome
from fhirbridge.formats.codec import encode
from fhirbridge.storage.migrations import applied_versions
from fhirbridge.storage.sql import SqlRepository

log = logging.getLogger("fhirbridge")

# A probe expects an answer within a few seconds; a database that takes longer is not ready.
READY_TIMEOUT = 2.0
JSON = "application/fhir+json; charset=utf-8"

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> Response:
    """The process answers: nothing is asked of the database (a liveness probe must not fail, and get the
    process restarted, because the database is down)."""
    return Response(encode(information_outcome("up"), "json"), media_type=JSON)


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    readiness: Readiness = request.app.state.readiness
    problem = await readiness.problem()
    if problem is None:
        return Response(encode(information_outcome("ready"), "json"), media_type=JSON)
    body = encode(Unavailable(problem).operation_outcome(), "json")
    return Response(body, status_code=503, media_type=JSON, headers={"Retry-After": "5"})


class Readiness:
    """Asks the database, in a thread (a database that does not answer must not hold up the event loop),
    one check at a time: probes arriving while one runs wait for its answer instead of piling up threads
    behind an unreachable database."""

    def __init__(self, repository: SqlRepository) -> None:
        self.repository = repository
        self._running: asyncio.Future[str | None] | None = None

    async def problem(self) -> str | None:
        """None when ready, else why not."""
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().run_in_executor(None, self.check)
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), READY_TIMEOUT)
        except TimeoutError:
            return f"The database did not answer within {READY_TIMEOUT:g} s"

    def check(self) -> str | None:
        expected = {migration.version for migration in self.repository.migrations}
        try:
            with self.repository.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                try:
                    applied = applied_versions(conn)
                except sa.exc.DBAPIError:
                    applied = set()  # no schema_migrations table: nothing applied
        except Exception:
            log.warning("readiness: the database cannot be reached", exc_info=True)
            return "The database cannot be reached"
        missing = sorted(expected - applied)
        if missing:
            return f"The database schema is not current: migrations {', '.join(map(str, missing))} are not applied"
        return None


__all__ = ["READY_TIMEOUT", "Readiness", "router"]
