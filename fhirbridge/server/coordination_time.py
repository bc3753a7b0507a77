"""``GET Patient/[id]/$coordination-time`` and ``GET Practitioner/[id]/$coordination-time`` over HTTP (the
engine: engine/operations/coordination_time.py). ``month`` is required and checked strictly: a month read
wrongly would report another month's minutes."""

from __future__ import annotations

import re

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.engine.operations.coordination_time import CoordinationTimeOperations
from fhirbridge.engine.resource_types import require_id
from fhirbridge.errors import BadRequest
from fhirbridge.server.context import FhirRequest, FhirRequestDep
from fhirbridge.server.params import operation_params
from fhirbridge.server.render import body_response

router = APIRouter()

PARAMETERS = frozenset({"month", "_format", "_pretty"})
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@router.get("/Patient/{id}/$coordination-time")
async def patient_coordination_time(id: str, ctx: FhirRequestDep) -> Response:
    operations = CoordinationTimeOperations(ctx.engine)
    answer = await run_in_threadpool(operations.for_child, ctx.access, require_id(id), month_param(ctx))
    return body_response(ctx, answer)


@router.get("/Practitioner/{id}/$coordination-time")
async def practitioner_coordination_time(id: str, ctx: FhirRequestDep) -> Response:
    operations = CoordinationTimeOperations(ctx.engine)
    answer = await run_in_threadpool(operations.for_coordinator, ctx.access, require_id(id), month_param(ctx))
    return body_response(ctx, answer)


def month_param(ctx: FhirRequest) -> str:
    query = ctx.request.query_params
    operation_params(query, PARAMETERS, "$coordination-time takes month")
    month = query.get("month")
    if month is None or not MONTH.fullmatch(month):
        raise BadRequest(f"month must be a calendar month such as 2026-03, not '{month or ''}'", expression="month")
    return month


__all__ = ["router"]
