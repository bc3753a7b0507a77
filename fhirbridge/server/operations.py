"""FHIR operations over HTTP: each route reads its parameters, calls the engine, renders the result.

This router is included before the interaction routes, so ``$name`` is never taken for an id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.engine.interactions import resource_of
from fhirbridge.engine.operations.assessment import AssessmentOperations, response_from
from fhirbridge.engine.operations.printable import SUMMARY_CSP, summary_html
from fhirbridge.engine.operations.validate import (
    QuestionnaireLookup,
    published_questionnaire,
    validate_outcome,
    validation_input,
)
from fhirbridge.engine.referrals import worklist_criteria
from fhirbridge.engine.resource_types import require_id, require_type
from fhirbridge.engine.searching import SearchService
from fhirbridge.formats.negotiation import wants_html
from fhirbridge.server.context import FhirRequest, FhirRequestDep
from fhirbridge.server.coordination_time import router as coordination_time_router
from fhirbridge.server.deps import AssessmentOperationsDep, PatientOperationsDep, SearchDep
from fhirbridge.server.params import instant_param, int_param, run_search
from fhirbridge.server.render import body_response
from fhirbridge.server.terminology import router as terminology_router
from fhirbridge.server.worklist import router as worklist_router

router = APIRouter()
router.include_router(terminology_router)  # $expand, $validate-code, $lookup (server/terminology.py)
router.include_router(worklist_router)  # Group/[id]/$worklist (server/worklist.py)
router.include_router(coordination_time_router)  # Patient|Practitioner/[id]/$coordination-time


@router.get("/Patient/{id}/$everything")
async def patient_everything(id: str, ctx: FhirRequestDep, patients: PatientOperationsDep) -> Response:
    query = ctx.request.query_params
    count = min(max(int_param(query.get("_count"), "_count", default=ctx.settings.default_page_size), 1), 1000)
    types = {t for t in (query.get("_type") or "").split(",") if t}
    for resource_type in types:
        require_type(resource_type)
    bundle = await run_in_threadpool(
        patients.everything,
        ctx.access,
        require_id(id),
        base_url=ctx.base_url,
        since=instant_param(query.get("_since"), "_since"),
        types=types or None,
        count=count,
        offset=int_param(query.get("_offset"), "_offset", default=0),
    )
    return body_response(ctx, bundle)


@router.get("/Patient/{id}/$summary")
async def patient_summary(id: str, ctx: FhirRequestDep, patients: PatientOperationsDep) -> Response:
    document = await run_in_threadpool(
        patients.summary,
        ctx.access,
        require_id(id),
        base_url=ctx.base_url,
        accept_language=ctx.header("accept-language"),
    )
    if wants_html(ctx.request.query_params.get("_format"), ctx.header("accept")):
        return Response(
            summary_html(document),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": SUMMARY_CSP, "Vary": "Accept, Accept-Language"},
        )
    return body_response(ctx, document)


@router.get("/Patient/{id}/$transfer-summary")
async def patient_transfer_summary(id: str, ctx: FhirRequestDep, patients: PatientOperationsDep) -> Response:
    document = await run_in_threadpool(
        patients.transfer_summary,
        ctx.access,
        require_id(id),
        base_url=ctx.base_url,
        accept_language=ctx.header("accept-language"),
    )
    return body_response(ctx, document)


@router.get("/Composition/{id}/$document")
async def composition_document(id: str, ctx: FhirRequestDep, patients: PatientOperationsDep) -> Response:
    document = await run_in_threadpool(patients.document, ctx.access, require_id(id), base_url=ctx.base_url)
    return body_response(ctx, document)


@router.get("/Questionnaire/{id}/$populate")
async def questionnaire_populate(id: str, ctx: FhirRequestDep, operations: AssessmentOperationsDep) -> Response:
    subject = ctx.request.query_params.get("subject") or ""
    questionnaire = resource_of(await run_in_threadpool(ctx.engine.read, ctx.access, "Questionnaire", id))
    return body_response(ctx, await run_in_threadpool(operations.populate, ctx.access, questionnaire, subject))


@router.post("/QuestionnaireResponse/$extract")
async def response_extract(ctx: FhirRequestDep, operations: AssessmentOperationsDep) -> Response:
    response = response_from(await ctx.resource_body())
    commit = ctx.request.query_params.get("commit") == "true"
    return body_response(
        ctx, await run_in_threadpool(operations.extract, ctx.access, response, base_url=ctx.base_url, commit=commit)
    )


@router.post("/QuestionnaireResponse/{id}/$assess")
async def response_assess(id: str, ctx: FhirRequestDep, operations: AssessmentOperationsDep) -> Response:
    assessed = await run_in_threadpool(operations.assess, ctx.access, require_id(id), base_url=ctx.base_url)
    return body_response(ctx, assessed)


@router.get("/CarePlan/$overdue-reviews")
async def overdue_reviews(ctx: FhirRequestDep, operations: AssessmentOperationsDep) -> Response:
    return body_response(ctx, await run_in_threadpool(operations.overdue, ctx.access))


@router.get("/Task/$open-referrals")
async def open_referrals(ctx: FhirRequestDep, search: SearchDep) -> Response:
    return await _referral_worklist(ctx, search, "open")


@router.get("/Task/$unanswered-referrals")
async def unanswered_referrals(ctx: FhirRequestDep, search: SearchDep) -> Response:
    return await _referral_worklist(ctx, search, "unanswered")


async def _referral_worklist(ctx: FhirRequest, search: SearchService, kind: str) -> Response:
    query = ctx.request.query_params
    days = int_param(query.get("olderThanDays"), "olderThanDays", default=0, maximum=36_500)
    params = worklist_criteria(kind, days, datetime.now(UTC))
    params += [(name, value) for name, value in query.multi_items() if name in ("_count", "_cursor", "patient")]
    return await run_search(ctx, search, "Task", params, "Task")


def _questionnaires(ctx: FhirRequest, operations: AssessmentOperations) -> QuestionnaireLookup:
    """Where ``$validate`` finds the Questionnaire a response answers: those the caller may read here, then
    those fhirbridge publishes (a caller without the scope gets only the published ones, not a 403)."""
    if not ctx.access.can("Questionnaire", "r"):
        return published_questionnaire

    def known(canonical: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = operations.known_questionnaire(ctx.access, canonical)
        return found or published_questionnaire(canonical)

    return known


@router.post("/{resource_type}/$validate")
async def validate_type(resource_type: str, ctx: FhirRequestDep, operations: AssessmentOperationsDep) -> Response:
    require_type(resource_type)
    resource, profiles = validation_input(await ctx.resource_body(), ctx.request.query_params.getlist("profile"))
    questionnaires = _questionnaires(ctx, operations)
    outcome = await run_in_threadpool(
        validate_outcome, resource, profiles, expected_type=resource_type, questionnaires=questionnaires
    )
    return body_response(ctx, outcome)


@router.get("/{resource_type}/{id}/$validate")
async def validate_stored(
    resource_type: str, id: str, ctx: FhirRequestDep, operations: AssessmentOperationsDep
) -> Response:
    version = await run_in_threadpool(ctx.engine.read, ctx.access, resource_type, id)
    profiles = ctx.request.query_params.getlist("profile")
    resource = resource_of(version)
    questionnaires = _questionnaires(ctx, operations)
    outcome = await run_in_threadpool(
        validate_outcome, resource, profiles, expected_type=resource_type, questionnaires=questionnaires
    )
    return body_response(ctx, outcome)


@router.post("/{resource_type}/{id}/$validate")
async def validate_instance(
    resource_type: str, id: str, ctx: FhirRequestDep, operations: AssessmentOperationsDep
) -> Response:
    require_type(resource_type)
    require_id(id)
    resource, profiles = validation_input(await ctx.resource_body(), ctx.request.query_params.getlist("profile"))
    questionnaires = _questionnaires(ctx, operations)
    outcome = await run_in_threadpool(
        validate_outcome, resource, profiles, expected_type=resource_type, questionnaires=questionnaires
    )
    return body_response(ctx, outcome)


__all__ = ["router"]
