"""The internal-format API: a child's whole care-coordination record, and its parts, as JSON.

It sits on the same FastAPI app as the FHIR API and reads and writes through the FHIR store. The record
and each part are answered with an ``ETag``; a write may name the one it was read at in ``If-Match``
and is refused (412) when the record or part has changed since.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.domain.jsonio import record_to_json
from fhirbridge.domain.record import Record
from fhirbridge.engine.coordination import RecordView
from fhirbridge.engine.resource_types import require_id
from fhirbridge.formats import json as fhir_json
from fhirbridge.server.context import FhirRequestDep
from fhirbridge.server.deps import CoordinationDep

router = APIRouter(prefix="/coordination", tags=["care coordination"])

RECORD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Record"}}},
    }
}


def _record_response(view: RecordView) -> Response:
    headers = {"X-Import-Report-Entries": str(len(view.report)), "ETag": view.etag()}
    return Response(record_to_json(view.record), media_type="application/json", headers=headers)


def _part_response(value: Any, etag: str) -> Response:
    return Response(fhir_json.dumps(value), media_type="application/json", headers={"ETag": etag})


@router.get("/children/{child_id}", responses={200: {"model": Record}}, summary="A child's whole record")
async def read_record(child_id: str, ctx: FhirRequestDep, service: CoordinationDep) -> Response:
    view = await run_in_threadpool(service.read, ctx.access, require_id(child_id))
    return _record_response(view)


@router.put(
    "/children/{child_id}",
    responses={200: {"model": Record}},
    openapi_extra=RECORD_BODY,
    summary="Write a child's record",
)
async def write_record(child_id: str, ctx: FhirRequestDep, service: CoordinationDep) -> Response:
    body = await ctx.raw_body()
    # The record reader takes JSON as the standard library parses it: refuse here, as for FHIR bodies,
    # what nests beyond the limit or holds text no store can keep (it would otherwise fail deep inside).
    fhir_json.loads(body, max_depth=ctx.settings.max_json_depth)
    view = await run_in_threadpool(
        service.write,
        ctx.access,
        require_id(child_id),
        body,
        base_url=ctx.base_url,
        if_match=ctx.header("if-match"),
    )
    return _record_response(view)


@router.get("/children/{child_id}/report", summary="What of the child's FHIR data has no place in the record")
async def import_report(child_id: str, ctx: FhirRequestDep, service: CoordinationDep) -> Response:
    view = await run_in_threadpool(service.read, ctx.access, require_id(child_id))
    return Response(fhir_json.dumps(view.report_json()), media_type="application/json")


@router.get("/children/{child_id}/{part}", summary="One part of a child's record")
async def read_part(child_id: str, part: str, ctx: FhirRequestDep, service: CoordinationDep) -> Response:
    value, etag = await run_in_threadpool(service.read_part, ctx.access, require_id(child_id), part)
    return _part_response(value, etag)


@router.put("/children/{child_id}/{part}", summary="Replace one part of a child's record")
async def write_part(child_id: str, part: str, ctx: FhirRequestDep, service: CoordinationDep) -> Response:
    value = fhir_json.loads(await ctx.raw_body(), max_depth=ctx.settings.max_json_depth)
    written, etag = await run_in_threadpool(
        service.write_part,
        ctx.access,
        require_id(child_id),
        part,
        value,
        base_url=ctx.base_url,
        if_match=ctx.header("if-match"),
    )
    return _part_response(written, etag)


__all__ = ["router"]
