"""Bulk Data export over HTTP: kick-off, status, download and cancellation (docs/bulk-export.md).

``GET [base]/$export``, ``[base]/Patient/$export`` and ``[base]/Group/[id]/$export`` with
``Prefer: respond-async`` queue a job and answer 202 with its status URL in ``Content-Location``;
``GET`` on it answers 202 (``X-Progress``, ``Retry-After``) while the job runs, then 200 with the
manifest; ``DELETE`` cancels it. The status and file URLs carry the job in the query, so that the audit
trail keeps it with each access. A job is answered only to the caller who kicked it off: to anyone else
it does not exist (404), as a resource the caller may not see.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from fhirbridge.bulk.files import JOB_ID
from fhirbridge.bulk.jobs import ExportJob
from fhirbridge.bulk.request import Level, parse_kickoff
from fhirbridge.bulk.service import BulkExport
from fhirbridge.config import Settings
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.resource_types import require_id
from fhirbridge.engine.searching import SearchService
from fhirbridge.errors import BadRequest, FhirError, Forbidden, NotFound, information_outcome
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import SYSTEM_ACCESS, Access, AuditedEntity
from fhirbridge.security.principal import Principal
from fhirbridge.security.server import access_for
from fhirbridge.server.context import FhirRequest, FhirRequestDep
from fhirbridge.server.deps import AccessDep, BulkExportDep
from fhirbridge.server.render import body_response, http_date
from fhirbridge.storage.clock import from_micros, instant
from fhirbridge.storage.export_jobs import COMPLETED, FAILED
from fhirbridge.storage.sql import SqlRepository

router = APIRouter()

STATUS_PATH = "/$export-poll-status"
FILE_PATH = "/$export-file"
NDJSON = "application/fhir+ndjson"
RETRY_AFTER_SECONDS = "2"


def install_bulk_export(
    app: FastAPI, settings: Settings, repository: SqlRepository, engine: FhirEngine, search: SearchService
) -> BulkExport:
    """The export service and its routes (included now: before the interaction routes, which would take
    ``/$export`` for a type); the caller starts and stops it, and gives it to the routes (``BulkExportDep``)."""

    def owner_access(owner: Principal | None) -> Access:
        """A job runs under its owner's access as a request of the owner's would have it now."""
        if settings.auth_disabled:
            return SYSTEM_ACCESS  # no identities and no access control, for exports as for requests
        if owner is None:  # queued with authentication off: nobody may now read what it would hold
            raise Forbidden("This export was requested without authentication; kick it off again")
        return access_for(repository, owner, settings)

    bulk = BulkExport.build(settings, repository, engine, search, owner_access)
    app.include_router(router)
    return bulk


# -- kick-off -------------------------------------------------------------------------------------------


@router.get("/$export")
async def system_export(ctx: FhirRequestDep, bulk: BulkExportDep) -> Response:
    return await _kick_off(ctx, bulk, "system")


@router.get("/Patient/$export")
async def patient_export(ctx: FhirRequestDep, bulk: BulkExportDep) -> Response:
    return await _kick_off(ctx, bulk, "patient")


@router.get("/Group/{id}/$export")
async def group_export(id: str, ctx: FhirRequestDep, bulk: BulkExportDep) -> Response:
    require_id(id)
    return await _kick_off(ctx, bulk, "group", group_id=id)


async def _kick_off(ctx: FhirRequest, bulk: BulkExport, level: Level, group_id: str | None = None) -> Response:
    preferences = _preferences(ctx)
    if "respond-async" not in preferences:
        raise BadRequest("$export runs asynchronously: send the header Prefer: respond-async", expression="Prefer")
    query = ctx.request.query_params
    request = parse_kickoff(
        level, list(query.multi_items()), lenient=preferences.get("handling") == "lenient", group_id=group_id
    )
    await run_in_threadpool(bulk.check, ctx.access, request, ctx.base_url)
    url = f"{ctx.base_url}{ctx.request.url.path}" + (f"?{ctx.request.url.query}" if ctx.request.url.query else "")
    job_id = await run_in_threadpool(bulk.jobs.create, ctx.access.principal, url, request)
    bulk.worker.wake()
    ctx.access.note([AuditedEntity(_entity(job_id), "export", 202)])
    outcome = information_outcome(f"Bulk export {job_id} accepted; poll its Content-Location for the manifest")
    return body_response(ctx, outcome, 202, {"Content-Location": _status_url(ctx.base_url, job_id)})


def _preferences(ctx: FhirRequest) -> dict[str, str]:
    """The Prefer header's tokens: ``respond-async`` -> "", ``handling=lenient`` -> "lenient"."""
    found: dict[str, str] = {}
    for token in (ctx.header("prefer") or "").replace(";", ",").split(","):
        name, _, value = token.strip().partition("=")
        if name:
            found[name.lower()] = value.strip().strip('"').lower()
    return found


# -- status, cancellation and files ----------------------------------------------------------------------


@router.get(STATUS_PATH)
async def export_status(ctx: FhirRequestDep, bulk: BulkExportDep) -> Response:
    job = await _own_job(ctx.request, bulk, ctx.access)
    ctx.access.note([AuditedEntity(_entity(job.id), "export-status", 200)])
    if job.state == FAILED:
        error = FhirError(f"The export failed: {job.failure}")  # 500, as the IG has it for a failed export
        return body_response(ctx, error.operation_outcome(), error.status)
    if job.state != COMPLETED:
        headers = {"X-Progress": job.progress or job.state, "Retry-After": RETRY_AFTER_SECONDS}
        return Response(status_code=202, headers=headers)
    assert job.expires is not None
    return Response(
        _manifest_bytes(job, ctx.base_url, requires_token=not ctx.settings.auth_disabled),
        media_type="application/json",
        headers={"Expires": http_date(from_micros(job.expires))},
    )


@router.delete(STATUS_PATH)
async def cancel_export(ctx: FhirRequestDep, bulk: BulkExportDep) -> Response:
    job = await _own_job(ctx.request, bulk, ctx.access)
    await run_in_threadpool(bulk.jobs.cancel, job.id)
    # Its worker, if it is running, stops at its next heartbeat and removes what it wrote since.
    await run_in_threadpool(bulk.files.remove, job.id)
    ctx.access.note([AuditedEntity(_entity(job.id), "export-cancel", 202)])
    return body_response(ctx, information_outcome(f"Bulk export {job.id} cancelled and its files removed"), 202)


@router.get(FILE_PATH)
async def export_file(request: Request, access: AccessDep, bulk: BulkExportDep) -> Response:
    # Not the FHIR request dependency: a bulk client asks for ndjson, which is no format it negotiates.
    job = await _own_job(request, bulk, access)
    name = request.query_params.get("_file") or ""
    path = bulk.files.path(job.id, name) if job.state == COMPLETED and job.file(name) else None
    if path is None:
        raise NotFound(f"Bulk export {job.id} has no file '{name}'", code="not-found")
    # Whose data leaves with this download, for its AuditEvent (read before the answer starts).
    children = await run_in_threadpool(lambda: list(bulk.files.children(job.id, name)))
    access.note_children(children)
    access.note([AuditedEntity(f"{_entity(job.id)} file {name}", "export-file", 200)])
    return FileResponse(path, media_type=NDJSON)


async def _own_job(request: Request, bulk: BulkExport, access: Access) -> ExportJob:
    """The job named by ``_jobId``, if the caller kicked it off and it has not expired; else 404."""
    job_id = request.query_params.get("_jobId")
    if not job_id:
        raise BadRequest("The bulk export is named by the parameter _jobId", expression="_jobId")
    job = await run_in_threadpool(bulk.jobs.find, job_id, access.principal) if JOB_ID.match(job_id) else None
    if job is None:
        raise NotFound(f"Bulk export {job_id} is not known", code="not-found")
    return job


def _manifest_bytes(job: ExportJob, base_url: str, *, requires_token: bool) -> bytes:
    assert job.transaction_time is not None

    def item(entry: Any) -> dict[str, Any]:
        return {"type": entry.type, "url": _file_url(base_url, job.id, entry.name), "count": entry.count}

    manifest = {
        "transactionTime": instant(from_micros(job.transaction_time)),
        "request": job.request_url,
        "requiresAccessToken": requires_token,
        "output": [item(entry) for entry in job.output],
        "error": [item(entry) for entry in job.errors],
    }
    return fhir_json.dumps(manifest)


def _status_url(base_url: str, job_id: str) -> str:
    return f"{base_url}{STATUS_PATH}?_jobId={job_id}"


def _file_url(base_url: str, job_id: str, name: str) -> str:
    return f"{base_url}{FILE_PATH}?_jobId={job_id}&_file={name}"


def _entity(job_id: str) -> str:
    # No "/": the audit trail names it as a display, not as a reference to a resource.
    return f"bulk export {job_id}"


__all__ = ["FILE_PATH", "STATUS_PATH", "install_bulk_export", "router"]
