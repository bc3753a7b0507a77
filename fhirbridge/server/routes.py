"""The FHIR REST route table: each route reads the request, calls the engine, renders the result."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.engine.bundles import history_bundle
from fhirbridge.engine.capability import capability_statement
from fhirbridge.engine.resource_types import require_id, require_type
from fhirbridge.errors import BadRequest, NotFound, UnsupportedMediaType
from fhirbridge.formats import json as fhir_json
from fhirbridge.formats.negotiation import is_form, is_json_patch
from fhirbridge.security.smart import rest_security
from fhirbridge.server.context import FhirRequest, FhirRequestDep
from fhirbridge.server.deps import BundlesDep, SearchDep
from fhirbridge.server.params import instant_param, int_param, run_search, shaped
from fhirbridge.server.render import body_response, resource_response, version_headers, write_response
from fhirbridge.storage.contract import StoredVersion

router = APIRouter()


@router.get("/metadata")
async def capabilities(ctx: FhirRequestDep) -> Response:
    return body_response(ctx, capability_statement(ctx.base_url, security=rest_security(ctx.settings)))


@router.post("/")
async def transaction_or_batch(ctx: FhirRequestDep, bundles: BundlesDep) -> Response:
    bundle = await ctx.resource_body()
    response = await run_in_threadpool(
        bundles.process, ctx.access, bundle, ctx.base_url, return_preference=ctx.prefer_return
    )
    return body_response(ctx, response)


# -- history (before the instance routes, so `_history` is never taken for an id) --------------------


@router.get("/_history")
async def system_history(ctx: FhirRequestDep) -> Response:
    return await _history(ctx, None, None, "_history")


@router.get("/{resource_type}/_history")
async def type_history(resource_type: str, ctx: FhirRequestDep) -> Response:
    return await _history(ctx, resource_type, None, f"{resource_type}/_history")


@router.get("/{resource_type}/{id}/_history")
async def instance_history(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    return await _history(ctx, resource_type, id, f"{resource_type}/{id}/_history")


@router.get("/{resource_type}/{id}/_history/{version_id}")
async def vread(resource_type: str, id: str, version_id: str, ctx: FhirRequestDep) -> Response:
    version = await run_in_threadpool(ctx.engine.vread, ctx.access, resource_type, id, version_id)
    return resource_response(ctx, shaped(version, ctx.request.query_params))


# -- search -------------------------------------------------------------------------------------------


@router.get("/{resource_type}")
async def search_type(resource_type: str, ctx: FhirRequestDep, search: SearchDep) -> Response:
    require_type(resource_type)
    return await run_search(ctx, search, resource_type, list(ctx.request.query_params.multi_items()), resource_type)


@router.post("/{resource_type}/_search")
async def search_type_post(resource_type: str, ctx: FhirRequestDep, search: SearchDep) -> Response:
    require_type(resource_type)
    if not is_form(ctx.header("content-type")):
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded parameters")
    body = (await ctx.raw_body()).decode("utf-8", errors="replace")
    params = list(ctx.request.query_params.multi_items()) + parse_qsl(body, keep_blank_values=True)
    return await run_search(ctx, search, resource_type, params, resource_type)


@router.get("/")
async def search_system(ctx: FhirRequestDep, search: SearchDep) -> Response:
    return await run_search(ctx, search, None, list(ctx.request.query_params.multi_items()), "")


# -- instance interactions ----------------------------------------------------------------------------


@router.get("/{compartment_type}/{id}/{resource_type}")
async def compartment_search(
    compartment_type: str, id: str, resource_type: str, ctx: FhirRequestDep, search: SearchDep
) -> Response:
    require_type(compartment_type)
    require_type(resource_type)
    require_id(id)
    if compartment_type != "Patient":
        raise NotFound(f"Compartment searches are supported for Patient, not {compartment_type}")
    params = list(ctx.request.query_params.multi_items())
    path = f"{compartment_type}/{id}/{resource_type}"
    return await run_search(ctx, search, resource_type, params, path, compartment=(compartment_type, id))


@router.post("/{resource_type}")
async def create(resource_type: str, ctx: FhirRequestDep) -> Response:
    resource = await ctx.resource_body()
    result = await run_in_threadpool(
        ctx.engine.create, ctx.access, resource_type, resource, if_none_exist=ctx.header("if-none-exist")
    )
    return write_response(ctx, result)


@router.get("/{resource_type}/{id}")
async def read(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    version = await run_in_threadpool(ctx.engine.read, ctx.access, resource_type, id)
    if _not_modified(ctx, version):
        return Response(status_code=304, headers=version_headers(version))
    return resource_response(ctx, shaped(version, ctx.request.query_params))


@router.put("/{resource_type}/{id}")
async def update(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    resource = await ctx.resource_body()
    result = await run_in_threadpool(
        ctx.engine.update, ctx.access, resource_type, id, resource, if_match=ctx.header("if-match")
    )
    return write_response(ctx, result)


@router.put("/{resource_type}")
async def conditional_update(resource_type: str, ctx: FhirRequestDep) -> Response:
    criteria = _criteria(ctx)
    resource = await ctx.resource_body()
    result = await run_in_threadpool(ctx.engine.conditional_update, ctx.access, resource_type, criteria, resource)
    return write_response(ctx, result)


@router.patch("/{resource_type}/{id}")
async def patch(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    if not is_json_patch(ctx.header("content-type")):
        raise UnsupportedMediaType("PATCH takes a JSON Patch body (application/json-patch+json)")
    operations = fhir_json.loads(await ctx.raw_body(), max_depth=ctx.settings.max_json_depth)
    result = await run_in_threadpool(
        ctx.engine.patch, ctx.access, resource_type, id, operations, if_match=ctx.header("if-match")
    )
    return write_response(ctx, result)


@router.delete("/{resource_type}/{id}")
async def delete(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    result = await run_in_threadpool(ctx.engine.delete, ctx.access, resource_type, id, if_match=ctx.header("if-match"))
    headers = version_headers(result.version) if result.version is not None else {}
    return Response(status_code=204, headers=headers)


@router.delete("/{resource_type}")
async def conditional_delete(resource_type: str, ctx: FhirRequestDep) -> Response:
    criteria = _criteria(ctx)
    await run_in_threadpool(ctx.engine.conditional_delete, ctx.access, resource_type, criteria)
    return Response(status_code=204)


# -- helpers ------------------------------------------------------------------------------------------


async def _history(ctx: FhirRequest, resource_type: str | None, id: str | None, path: str) -> Response:
    query = ctx.request.query_params
    count = int_param(query.get("_count"), "_count", default=ctx.settings.default_page_size)
    count = min(max(count, 1), ctx.settings.max_page_size)
    offset = int_param(query.get("_offset"), "_offset", default=0)
    till = query.get("_till")
    since = instant_param(query.get("_since"), "_since")
    at = instant_param(query.get("_at"), "_at")
    page = await run_in_threadpool(
        ctx.engine.history,
        ctx.access,
        resource_type,
        id,
        since=since,
        at=at,
        count=count,
        offset=offset,
        till_seq=int_param(till, "_till", default=0) if till else None,
    )
    params = {name: value for name, value in (("_since", query.get("_since")), ("_at", query.get("_at"))) if value}
    bundle = history_bundle(ctx.base_url, path, page, params, offset=offset, count=count)
    return body_response(ctx, bundle)


def _criteria(ctx: FhirRequest) -> str:
    criteria = ctx.request.url.query
    if not criteria:
        raise BadRequest("A conditional interaction needs search criteria in the URL")
    return criteria


def _not_modified(ctx: FhirRequest, version: StoredVersion) -> bool:
    if_none_match = ctx.header("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip() for tag in if_none_match.split(",")}
        return "*" in tags or version.etag in tags or f'"{version.version_id}"' in tags
    if_modified_since = ctx.header("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return version.last_updated.replace(microsecond=0) <= since
    return False


__all__ = ["router"]
