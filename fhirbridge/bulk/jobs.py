"""Export jobs in the database (``export_jobs``), so that every server process sees the same ones.

A kick-off adds a ``queued`` row; a worker of any process claims it with a conditional update (one
claimant wins on both backends), runs it and beats a heartbeat while it does. Cancelling deletes the
row: the worker running it finds its heartbeat refused and stops. A ``running`` row whose heartbeat has
stopped belonged to a process that died; it is queued again (run from the start) up to
``MAX_ATTEMPTS`` times, then failed. Finished rows carry an expiry, after which they are answered as
absent and their files removed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from fhirbridge.bulk.request import ExportRequest
from fhirbridge.security.principal import Principal
from fhirbridge.storage.clock import now_micros
from fhirbridge.storage.export_jobs import COMPLETED, FAILED, QUEUED, RUNNING, export_jobs
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.subscriptions.owner import owner_extension, owner_of

# Times a job interrupted by its process's death is started again before it is failed.
MAX_ATTEMPTS = 3
HOUR_MICROS = 3_600_000_000


@dataclass(frozen=True)
class FileEntry:
    """A file of a finished export: the type it holds (OperationOutcome for errors), its name, its lines."""

    type: str
    name: str
    count: int


@dataclass(frozen=True)
class ExportJob:
    id: str
    owner: Principal | None
    request_url: str
    request: ExportRequest
    state: str
    attempts: int
    progress: str | None
    transaction_time: int | None
    expires: int | None
    output: tuple[FileEntry, ...]
    errors: tuple[FileEntry, ...]
    failure: str | None

    def expired(self, now: int) -> bool:
        return self.expires is not None and self.expires <= now

    def file(self, name: str) -> FileEntry | None:
        return next((entry for entry in (*self.output, *self.errors) if entry.name == name), None)


def caller_key(principal: Principal | None) -> tuple[Any, ...] | None:
    """What makes two tokens the same caller for an export: the same verified claims (scopes in any order)."""
    if principal is None:
        return None
    return (
        principal.subject,
        principal.client_id,
        frozenset(principal.scopes),
        principal.patient,
        principal.fhir_user,
        principal.organization,
        principal.treating,
    )


class ExportJobs:
    def __init__(self, repository: SqlRepository, *, retention_hours: float) -> None:
        self.repository = repository
        self.retention_micros = int(retention_hours * HOUR_MICROS)

    # -- the client's side ---------------------------------------------------------------------------

    def create(self, owner: Principal | None, request_url: str, request: ExportRequest) -> str:
        job_id = uuid.uuid4().hex
        row = {
            "id": job_id,
            "owner": orjson.dumps(owner_extension(owner)).decode() if owner is not None else "",
            "request": request_url,
            "parameters": request.to_json(),
            "state": QUEUED,
            "attempts": 0,
            "created": now_micros(),
        }
        with self.repository.write() as tx:
            tx.connection().execute(export_jobs.insert().values(**row))
        return job_id

    def find(self, job_id: str, caller: Principal | None) -> ExportJob | None:
        """The job, if ``caller`` kicked it off and it has not expired; otherwise None (absent)."""
        with self.repository.connect() as conn:
            row = conn.execute(sa.select(export_jobs).where(export_jobs.c.id == job_id)).first()
        if row is None:
            return None
        job = _job(row)
        if caller_key(job.owner) != caller_key(caller) or job.expired(now_micros()):
            return None
        return job

    def cancel(self, job_id: str) -> bool:
        """Remove the job (its worker stops at its next heartbeat); False if it was already gone."""
        with self.repository.write() as tx:
            removed = tx.connection().execute(export_jobs.delete().where(export_jobs.c.id == job_id))
        return removed.rowcount == 1

    # -- the worker's side ---------------------------------------------------------------------------

    def claim(self, worker: str) -> ExportJob | None:
        """The oldest queued job, now running in ``worker``; None when there is none (or another won)."""
        with self.repository.connect() as conn:
            waiting = conn.execute(
                sa.select(export_jobs.c.id)
                .where(export_jobs.c.state == QUEUED)
                .order_by(export_jobs.c.created)
                .limit(1)
            ).scalar()
        if waiting is None:
            return None  # the common case, answered without taking SQLite's write lock
        now = now_micros()
        with self.repository.write() as tx:
            conn = tx.connection()
            won = conn.execute(
                export_jobs.update()
                .where(export_jobs.c.id == waiting, export_jobs.c.state == QUEUED)
                .values(
                    state=RUNNING,
                    worker=worker,
                    heartbeat=now,
                    transaction_time=now,
                    attempts=export_jobs.c.attempts + 1,
                    progress="started",
                )
            )
            if won.rowcount != 1:
                return None
            row = conn.execute(sa.select(export_jobs).where(export_jobs.c.id == waiting)).one()
        return _job(row)

    def beat(self, job_id: str, worker: str, progress: str) -> bool:
        """Say the job is alive; False when it was cancelled (or taken from this worker)."""
        with self.repository.write() as tx:
            updated = tx.connection().execute(
                self._ours(job_id, worker).values(heartbeat=now_micros(), progress=progress)
            )
        return updated.rowcount == 1

    def complete(self, job_id: str, worker: str, output: list[FileEntry], errors: list[FileEntry]) -> bool:
        outputs = orjson.dumps({"output": [vars(f) for f in output], "error": [vars(f) for f in errors]}).decode()
        return self._finish(job_id, worker, state=COMPLETED, outputs=outputs, progress="completed")

    def fail(self, job_id: str, worker: str, reason: str) -> bool:
        return self._finish(job_id, worker, state=FAILED, failure=reason, progress="failed")

    def _finish(self, job_id: str, worker: str, **values: Any) -> bool:
        now = now_micros()
        with self.repository.write() as tx:
            updated = tx.connection().execute(
                self._ours(job_id, worker).values(finished=now, expires=now + self.retention_micros, **values)
            )
        return updated.rowcount == 1

    def _ours(self, job_id: str, worker: str) -> Any:
        return export_jobs.update().where(
            export_jobs.c.id == job_id, export_jobs.c.worker == worker, export_jobs.c.state == RUNNING
        )

    def recover(self, stale_before: int) -> None:
        """Running jobs whose process stopped beating before ``stale_before``: queued again, or failed."""
        j = export_jobs
        stale = sa.and_(j.c.state == RUNNING, j.c.heartbeat < stale_before)
        with self.repository.connect() as conn:
            if conn.execute(sa.select(j.c.id).where(stale).limit(1)).scalar() is None:
                return
        now = now_micros()
        with self.repository.write() as tx:
            conn = tx.connection()
            conn.execute(
                j.update().where(stale, j.c.attempts < MAX_ATTEMPTS).values(state=QUEUED, worker=None, progress=None)
            )
            conn.execute(
                j.update()
                .where(stale)
                .values(
                    state=FAILED,
                    failure=f"The export was interrupted {MAX_ATTEMPTS} times; kick it off again",
                    finished=now,
                    expires=now + self.retention_micros,
                )
            )

    def expired(self, now: int, limit: int = 100) -> list[str]:
        with self.repository.connect() as conn:
            rows = conn.execute(sa.select(export_jobs.c.id).where(export_jobs.c.expires <= now).limit(limit)).scalars()
            return list(rows)

    def forget(self, job_ids: list[str]) -> None:
        if job_ids:
            with self.repository.write() as tx:
                tx.connection().execute(export_jobs.delete().where(export_jobs.c.id.in_(job_ids)))


def _job(row: Any) -> ExportJob:
    outputs = orjson.loads(row.outputs) if row.outputs else {"output": [], "error": []}
    return ExportJob(
        id=row.id,
        owner=owner_of({"extension": [orjson.loads(row.owner)]}) if row.owner else None,
        request_url=row.request,
        request=ExportRequest.from_json(row.parameters),
        state=row.state,
        attempts=row.attempts,
        progress=row.progress,
        transaction_time=row.transaction_time,
        expires=row.expires,
        output=tuple(FileEntry(**entry) for entry in outputs["output"]),
        errors=tuple(FileEntry(**entry) for entry in outputs["error"]),
        failure=row.failure,
    )


__all__ = ["MAX_ATTEMPTS", "ExportJob", "ExportJobs", "FileEntry", "caller_key"]
