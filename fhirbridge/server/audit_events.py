"""``/AuditEvent``: the audit trail, read and searched from the audit log; never written through the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.engine.audit_events import AuditEvents
from fhirbridge.engine.resource_types import require_id
from fhirbridge.errors import MethodNotAllowed
from fhirbridge.server.context import FhirRequestDep
from fhirbridge.server.deps import AuditEventsDep, AuditTrailDep
from fhirbridge.server.render import body_response

router = APIRouter()
WRITTEN_BY_THE_SERVER = "AuditEvents are written by the server only: the audit trail cannot be changed"


async def caught_up(events: AuditEventsDep, trail: AuditTrailDep) -> AuditEvents:
    """The audit trail as it stands, with every access this process answered before this one in it."""
    if trail is not None:
        await trail.caught_up()
    return events


CaughtUpEventsDep = Annotated[AuditEvents, Depends(caught_up)]


@router.get("/AuditEvent")
async def search(ctx: FhirRequestDep, events: CaughtUpEventsDep) -> Response:
    params = list(ctx.request.query_params.multi_items())
    bundle = await run_in_threadpool(events.search, ctx.access, params, base_url=ctx.base_url, path="AuditEvent")
    return body_response(ctx, bundle)


@router.get("/AuditEvent/_history")
async def history(ctx: FhirRequestDep, events: CaughtUpEventsDep) -> Response:
    # Each AuditEvent has one version, its creation: the type's history is its list, newest first.
    params = list(ctx.request.query_params.multi_items())
    bundle = await run_in_threadpool(
        events.search, ctx.access, params, base_url=ctx.base_url, path="AuditEvent/_history"
    )
    bundle["type"] = "history"
    for entry in bundle.get("entry", []):
        entry.pop("search", None)
        entry["request"] = {"method": "POST", "url": "AuditEvent"}
        entry["response"] = {"status": "201"}
    return body_response(ctx, bundle)


@router.get("/AuditEvent/{id}")
async def read(id: str, ctx: FhirRequestDep, events: CaughtUpEventsDep) -> Response:
    event = await run_in_threadpool(events.read, ctx.access, require_id(id))
    return body_response(ctx, event)


@router.api_route("/AuditEvent", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@router.api_route("/AuditEvent/{id}", methods=["PUT", "PATCH", "DELETE"], include_in_schema=False)
async def refuse_writes() -> Response:
    raise MethodNotAllowed(WRITTEN_BY_THE_SERVER)


__all__ = ["router"]
