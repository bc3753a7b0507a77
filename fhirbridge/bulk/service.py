"""Bulk export as the server holds it: the job table, the files, the runner and the worker, wired once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fhirbridge.bulk.files import ExportFiles
from fhirbridge.bulk.jobs import ExportJobs
from fhirbridge.bulk.request import ExportRequest
from fhirbridge.bulk.run import ExportRun, check_filters
from fhirbridge.bulk.worker import ExportWorker, OwnerAccess
from fhirbridge.config import Settings
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.searching import SearchService
from fhirbridge.security.access import Access
from fhirbridge.storage.sql import SqlRepository


@dataclass
class BulkExport:
    settings: Settings
    engine: FhirEngine
    search: SearchService
    jobs: ExportJobs
    files: ExportFiles
    worker: ExportWorker

    @classmethod
    def build(
        cls,
        settings: Settings,
        repository: SqlRepository,
        engine: FhirEngine,
        search: SearchService,
        owner_access: OwnerAccess,
    ) -> BulkExport:
        jobs = ExportJobs(repository, retention_hours=settings.export_retention_hours)
        files = ExportFiles(Path(settings.export_dir))
        runner = ExportRun(engine, search, files)
        worker = ExportWorker(jobs, runner, files, owner_access, threads=settings.export_workers)
        return cls(settings, engine, search, jobs, files, worker)

    def start(self) -> None:
        if self.settings.export_workers > 0:
            self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def check(self, access: Access, request: ExportRequest, base_url: str) -> None:
        """What the kick-off can refuse before a job exists: a type the token's scopes do not let it search
        (403, which says nothing of any child), a Group it cannot see (404) and a filter the search
        engine would not run (400)."""
        for resource_type in request.types:
            access.require(resource_type, "s")
        if request.group_id is not None:
            self.engine.read(access, "Group", request.group_id)
        check_filters(self.search, access, request, base_url)


__all__ = ["BulkExport"]
