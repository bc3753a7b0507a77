"""The background side of bulk export: threads of a server process that claim and run export jobs.

Every server process runs ``Settings.export_workers`` of them (0: none). They poll the job table (a
kick-off in the same process wakes them at once), claim the oldest queued job, run it under its owner's
access as the server would establish it for a request of the owner's now, and record the outcome.
Between jobs they start again the jobs of processes that died mid-export and remove expired files.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from fhirbridge.bulk.files import ExportFiles
from fhirbridge.bulk.jobs import ExportJob, ExportJobs
from fhirbridge.bulk.run import Cancelled, ExportRun
from fhirbridge.errors import FhirError
from fhirbridge.security.access import Access
from fhirbridge.security.principal import Principal
from fhirbridge.storage.clock import now_micros

log = logging.getLogger("fhirbridge.bulk")

POLL_SECONDS = 1.0
# A running job whose heartbeat is older than this was interrupted (its process died): well past the
# longest a page may take (the statement budget, 30 s by default) plus a beat.
STALE_SECONDS = 120.0

# The access a job runs under: its owner's, as a request of the owner's would have it now.
OwnerAccess = Callable[[Principal | None], Access]


class ExportWorker:
    def __init__(
        self,
        jobs: ExportJobs,
        runner: ExportRun,
        files: ExportFiles,
        owner_access: OwnerAccess,
        *,
        threads: int = 1,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.jobs = jobs
        self.runner = runner
        self.files = files
        self.owner_access = owner_access
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._running: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"fhirbridge-export-{number}", daemon=True)
            thread.start()
            self._running.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._running:
            thread.join(timeout=10)

    def wake(self) -> None:
        """A job was queued in this process: look now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the worker outlives any one database hiccup
                log.exception("bulk export round failed")
                worked = False
            if not worked:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def run_once(self) -> bool:
        """Housekeeping, then at most one job; True when a job was run."""
        self.jobs.recover(stale_before=now_micros() - int(STALE_SECONDS * 1_000_000))
        self._remove_expired()
        job = self.jobs.claim(self.name)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: ExportJob) -> None:
        access = self.owner_access(job.owner)

        def beat(progress: str) -> bool:
            return self.jobs.beat(job.id, self.name, progress)

        try:
            output, errors = self.runner.run(job, access, beat)
        except Cancelled:
            log.info("bulk export %s was cancelled", job.id)
            self.files.remove(job.id)
            return
        except FhirError as error:  # the export as a whole cannot be made (its Group is gone, say)
            self._failed(job, str(error))
            return
        except Exception:
            log.exception("bulk export %s failed", job.id)
            self._failed(job, "The export failed on the server; kick it off again")
            return
        if not self.jobs.complete(job.id, self.name, output, errors):
            self.files.remove(job.id)  # cancelled while its last file was written

    def _failed(self, job: ExportJob, reason: str) -> None:
        self.files.remove(job.id)
        self.jobs.fail(job.id, self.name, reason)

    def _remove_expired(self) -> None:
        expired = self.jobs.expired(now_micros())
        for job_id in expired:
            self.files.remove(job_id)
        self.jobs.forget(expired)


__all__ = ["POLL_SECONDS", "STALE_SECONDS", "ExportWorker"]
