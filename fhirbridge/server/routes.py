"""The FHIR REST route table: each route reads the request, calls the engine, renders the result."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.engine.bundles import history_bundle
from fhirbridge.engine.capability import capability_statement
from fhirbridge.engine.interactions import resource_of
from fhirbridge.engine.operations.assessment import response_from
from fhirbridge.engine.operations.printable import summary_html
from fhirbridge.engine.operations.validate import validate_outcome, validation_input
from fhirbridge.engine.referrals import worklist_criteria
from fhirbridge.engine.resource_types import require_id, require_type
from fhirbridge.engine.searching import SearchService
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.errors import BadRequest, NotFound, UnsupportedMediaType
from fhirbridge.formats import json as fhir_json
from fhirbridge.search import searchset_bytes, searchset_dict
from fhirbridge.security.access import current_access
from fhirbridge.security.search import filter_result, search_params_for
from fhirbridge.security.smart import rest_security
from fhirbridge.server.context import FhirRequest, FhirRequestDep
from fhirbridge.server.negotiation import is_form, is_json_patch, wants_html
from fhirbridge.server.render import body_response, media_type, resource_response, version_headers, write_response
from fhirbridge.storage.contract import StoredVersion

router = APIRouter()


@router.get("/metadata")
async def capabilities(ctx: FhirRequestDep) -> Response:
    return body_response(ctx, capability_statement(ctx.base_url, security=rest_security(ctx.settings)))


@router.post("/")
async def transaction_or_batch(ctx: FhirRequestDep) -> Response:
    bundle = await ctx.resource_body()
    processor: BundleProcessor = ctx.request.app.state.bundles
    response = await run_in_threadpool(processor.process, bundle, ctx.base_url, return_preference=ctx.prefer_return)
    return body_response(ctx, response)


# -- operations (before the instance routes, so `$name` is never taken for an id) --------------------


@router.get("/Patient/{id}/$everything")
async def patient_everything(id: str, ctx: FhirRequestDep) -> Response:
    query = ctx.request.query_params
    count = min(max(_bounded_int(query.get("_count"), "_count", default=ctx.settings.default_page_size), 1), 1000)
    types = {t for t in (query.get("_type") or "").split(",") if t}
    for resource_type in types:
        require_type(resource_type)
    bundle = await run_in_threadpool(
        ctx.request.app.state.patient_operations.everything,
        require_id(id),
        base_url=ctx.base_url,
        since=_instant_param(query.get("_since"), "_since"),
        types=types or None,
        count=count,
        offset=_bounded_int(query.get("_offset"), "_offset", default=0),
    )
    return body_response(ctx, bundle)


@router.get("/Patient/{id}/$summary")
async def patient_summary(id: str, ctx: FhirRequestDep) -> Response:
    document = await run_in_threadpool(
        ctx.request.app.state.patient_operations.summary, require_id(id), base_url=ctx.base_url
    )
    if wants_html(ctx.request.query_params.get("_format"), ctx.header("accept")):
        return Response(summary_html(document), media_type="text/html; charset=utf-8")
    return body_response(ctx, document)


@router.get("/Composition/{id}/$document")
async def composition_document(id: str, ctx: FhirRequestDep) -> Response:
    document = await run_in_threadpool(
        ctx.request.app.state.patient_operations.document, require_id(id), base_url=ctx.base_url
    )
    return body_response(ctx, document)


@router.get("/Questionnaire/{id}/$populate")
async def questionnaire_populate(id: str, ctx: FhirRequestDep) -> Response:
    operations = ctx.request.app.state.assessment_operations
    subject = ctx.request.query_params.get("subject") or ""
    questionnaire = resource_of(await run_in_threadpool(ctx.engine.read, "Questionnaire", id))
    return body_response(ctx, await run_in_threadpool(operations.populate, questionnaire, subject))


@router.post("/QuestionnaireResponse/$extract")
async def response_extract(ctx: FhirRequestDep) -> Response:
    operations = ctx.request.app.state.assessment_operations
    response = response_from(await ctx.resource_body())
    commit = ctx.request.query_params.get("commit") == "true"
    return body_response(
        ctx, await run_in_threadpool(operations.extract, response, base_url=ctx.base_url, commit=commit)
    )


@router.post("/QuestionnaireResponse/{id}/$assess")
async def response_assess(id: str, ctx: FhirRequestDep) -> Response:
    operations = ctx.request.app.state.assessment_operations
    return body_response(ctx, await run_in_threadpool(operations.assess, require_id(id), base_url=ctx.base_url))


@router.get("/CarePlan/$overdue-reviews")
async def overdue_reviews(ctx: FhirRequestDep) -> Response:
    operations = ctx.request.app.state.assessment_operations
    return body_response(ctx, await run_in_threadpool(operations.overdue))


@router.get("/Task/$open-referrals")
async def open_referrals(ctx: FhirRequestDep) -> Response:
    return await _referral_worklist(ctx, "open")


@router.get("/Task/$unanswered-referrals")
async def unanswered_referrals(ctx: FhirRequestDep) -> Response:
    return await _referral_worklist(ctx, "unanswered")


async def _referral_worklist(ctx: FhirRequest, kind: str) -> Response:
    query = ctx.request.query_params
    days = _bounded_int(query.get("olderThanDays"), "olderThanDays", default=0)
    params = worklist_criteria(kind, days, datetime.now(UTC))
    params += [(name, value) for name, value in query.multi_items() if name in ("_count", "_cursor", "patient")]
    return await _search(ctx, "Task", params, "Task")


@router.post("/{resource_type}/$validate")
async def validate_type(resource_type: str, ctx: FhirRequestDep) -> Response:
    require_type(resource_type)
    resource, profiles = validation_input(await ctx.resource_body(), ctx.request.query_params.getlist("profile"))
    return body_response(
        ctx, await run_in_threadpool(validate_outcome, resource, profiles, expected_type=resource_type)
    )


@router.get("/{resource_type}/{id}/$validate")
async def validate_stored(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    version = await run_in_threadpool(ctx.engine.read, resource_type, id)
    profiles = ctx.request.query_params.getlist("profile")
    outcome = await run_in_threadpool(validate_outcome, resource_of(version), profiles, expected_type=resource_type)
    return body_response(ctx, outcome)


@router.post("/{resource_type}/{id}/$validate")
async def validate_instance(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    require_type(resource_type)
    require_id(id)
    resource, profiles = validation_input(await ctx.resource_body(), ctx.request.query_params.getlist("profile"))
    return body_response(
        ctx, await run_in_threadpool(validate_outcome, resource, profiles, expected_type=resource_type)
    )


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
    version = await run_in_threadpool(ctx.engine.vread, resource_type, id, version_id)
    return resource_response(ctx, version)


# -- search -------------------------------------------------------------------------------------------


@router.get("/{resource_type}")
async def search_type(resource_type: str, ctx: FhirRequestDep) -> Response:
    require_type(resource_type)
    return await _search(ctx, resource_type, list(ctx.request.query_params.multi_items()), resource_type)


@router.post("/{resource_type}/_search")
async def search_type_post(resource_type: str, ctx: FhirRequestDep) -> Response:
    require_type(resource_type)
    if not is_form(ctx.header("content-type")):
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded parameters")
    body = (await ctx.raw_body()).decode("utf-8", errors="replace")
    params = list(ctx.request.query_params.multi_items()) + parse_qsl(body, keep_blank_values=True)
    return await _search(ctx, resource_type, params, resource_type)


@router.get("/")
async def search_system(ctx: FhirRequestDep) -> Response:
    return await _search(ctx, None, list(ctx.request.query_params.multi_items()), "")


# -- instance interactions ----------------------------------------------------------------------------


@router.get("/{compartment_type}/{id}/{resource_type}")
async def compartment_search(compartment_type: str, id: str, resource_type: str, ctx: FhirRequestDep) -> Response:
    require_type(compartment_type)
    require_type(resource_type)
    require_id(id)
    if compartment_type != "Patient":
        raise NotFound(f"Compartment searches are supported for Patient, not {compartment_type}")
    params = list(ctx.request.query_params.multi_items())
    path = f"{compartment_type}/{id}/{resource_type}"
    return await _search(ctx, resource_type, params, path, compartment=(compartment_type, id))


@router.post("/{resource_type}")
async def create(resource_type: str, ctx: FhirRequestDep) -> Response:
    resource = await ctx.resource_body()
    result = await run_in_threadpool(
        ctx.engine.create, resource_type, resource, if_none_exist=ctx.header("if-none-exist")
    )
    return write_response(ctx, result)


@router.get("/{resource_type}/{id}")
async def read(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    version = await run_in_threadpool(ctx.engine.read, resource_type, id)
    if _not_modified(ctx, version):
        return Response(status_code=304, headers=version_headers(version))
    return resource_response(ctx, version)


@router.put("/{resource_type}/{id}")
async def update(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    resource = await ctx.resource_body()
    result = await run_in_threadpool(ctx.engine.update, resource_type, id, resource, if_match=ctx.header("if-match"))
    return write_response(ctx, result)


@router.put("/{resource_type}")
async def conditional_update(resource_type: str, ctx: FhirRequestDep) -> Response:
    criteria = _criteria(ctx)
    resource = await ctx.resource_body()
    result = await run_in_threadpool(ctx.engine.conditional_update, resource_type, criteria, resource)
    return write_response(ctx, result)


@router.patch("/{resource_type}/{id}")
async def patch(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    if not is_json_patch(ctx.header("content-type")):
        raise UnsupportedMediaType("PATCH takes a JSON Patch body (application/json-patch+json)")
    operations = fhir_json.loads(await ctx.raw_body(), max_depth=ctx.settings.max_json_depth)
    result = await run_in_threadpool(ctx.engine.patch, resource_type, id, operations, if_match=ctx.header("if-match"))
    return write_response(ctx, result)


@router.delete("/{resource_type}/{id}")
async def delete(resource_type: str, id: str, ctx: FhirRequestDep) -> Response:
    result = await run_in_threadpool(ctx.engine.delete, resource_type, id, if_match=ctx.header("if-match"))
    headers = version_headers(result.version) if result.version is not None else {}
    return Response(status_code=204, headers=headers)


@router.delete("/{resource_type}")
async def conditional_delete(resource_type: str, ctx: FhirRequestDep) -> Response:
    criteria = _criteria(ctx)
    await run_in_threadpool(ctx.engine.conditional_delete, resource_type, criteria)
    return Response(status_code=204)


# -- helpers ------------------------------------------------------------------------------------------


async def _search(
    ctx: FhirRequest,
    resource_type: str | None,
    params: list[tuple[str, str]],
    path: str,
    *,
    compartment: tuple[str, str] | None = None,
) -> Response:
    service: SearchService = ctx.request.app.state.search
    access = current_access()
    params, compartment = search_params_for(access, resource_type, params, compartment)
    result = await run_in_threadpool(
        service.search, resource_type, params, strict=ctx.prefer_strict, base_url=ctx.base_url, compartment=compartment
    )
    result = await run_in_threadpool(filter_result, access, result)
    if ctx.fmt == "json" and not ctx.pretty:
        return Response(searchset_bytes(result, base_url=ctx.base_url, path=path), media_type=media_type("json"))
    return body_response(ctx, searchset_dict(result, base_url=ctx.base_url, path=path))


async def _history(ctx: FhirRequest, resource_type: str | None, id: str | None, path: str) -> Response:
    query = ctx.request.query_params
    count = _bounded_int(query.get("_count"), "_count", default=ctx.settings.default_page_size)
    count = min(max(count, 1), ctx.settings.max_page_size)
    offset = _bounded_int(query.get("_offset"), "_offset", default=0)
    till = query.get("_till")
    since = _instant_param(query.get("_since"), "_since")
    at = _instant_param(query.get("_at"), "_at")
    page = await run_in_threadpool(
        ctx.engine.history,
        resource_type,
        id,
        since=since,
        at=at,
        count=count,
        offset=offset,
        till_seq=_bounded_int(till, "_till", default=0) if till else None,
    )
    params = {name: value for name, value in (("_since", query.get("_since")), ("_at", query.get("_at"))) if value}
    bundle = history_bundle(ctx.base_url, path, page, params, offset=offset, count=count)
    return body_response(ctx, bundle)


def _bounded_int(value: str | None, name: str, *, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer, not '{value}'", expression=name)
    return int(value)


def _instant_param(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a FHIR instant such as 2026-01-31T08:00:00Z", expression=name) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} must carry a time zone", expression=name)
    return moment


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
