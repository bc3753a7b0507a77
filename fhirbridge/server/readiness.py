"""Whether this process can serve requests: its database answers, with the schema this code expects.

Asked by ``GET /readyz`` (server/health.py), in words that name no host, user or error text of the driver
(those go to the log).
"""

from __future__ import annotations

import asyncio
import logging

from fhirbridge.storage.sql import SqlRepository

log = logging.getLogger("fhirbridge")

# A probe expects an answer within a few seconds; a database that takes longer is not ready.
READY_TIMEOUT = 2.0


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
        try:
            missing = self.repository.pending_migrations()
        except Exception:
            log.warning("readiness: the database cannot be reached", exc_info=True)
            return "The database cannot be reached"
        if missing:
            return f"The database schema is not current: migrations {', '.join(map(str, missing))} are not applied"
        return None


__all__ = ["READY_TIMEOUT", "Readiness"]
