"""Terminology operations over HTTP (``fhirbridge.engine.terminology``): ``$expand`` and ``$validate-code``
on ValueSet, ``$validate-code`` and ``$lookup`` on CodeSystem, by GET (primitive inputs in the query) or
by POST (a Parameters resource, for codings, CodeableConcepts and inline definitions).

Included in the operations router, so ``$name`` is never taken for an id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.engine.resource_types import require_id
from fhirbridge.engine.terminology import Terminology
from fhirbridge.engine.terminology_parameters import OperationParameters
from fhirbridge.server.context import FhirRequest, FhirRequestDep
from fhirbridge.server.deps import TerminologyDep
from fhirbridge.server.render import body_response

router = APIRouter()

Work = Callable[[Terminology, OperationParameters], dict[str, Any]]


@router.get("/ValueSet/$expand")
@router.post("/ValueSet/$expand")
async def expand(ctx: FhirRequestDep, terminology: TerminologyDep) -> Response:
    return await _run(ctx, terminology, _expand(ctx, None))


@router.get("/ValueSet/{id}/$expand")
@router.post("/ValueSet/{id}/$expand")
async def expand_instance(id: str, ctx: FhirRequestDep, terminology: TerminologyDep) -> Response:
    return await _run(ctx, terminology, _expand(ctx, require_id(id)))


@router.get("/ValueSet/$validate-code")
@router.post("/ValueSet/$validate-code")
async def validate_value_set_code(ctx: FhirRequestDep, terminology: TerminologyDep) -> Response:
    return await _run(ctx, terminology, _validate_in_value_set(ctx, None))


@router.get("/ValueSet/{id}/$validate-code")
@router.post("/ValueSet/{id}/$validate-code")
async def validate_value_set_code_instance(id: str, ctx: FhirRequestDep, terminology: TerminologyDep) -> Response:
    return await _run(ctx, terminology, _validate_in_value_set(ctx, require_id(id)))


@router.get("/CodeSystem/$validate-code")
@router.post("/CodeSystem/$validate-code")
async def validate_code_system_code(ctx: FhirRequestDep, terminology: TerminologyDep) -> Response:
    return await _run(ctx, terminology, _validate_in_code_system(ctx, None))


@router.get("/CodeSystem/{id}/$validate-code")
@router.post("/CodeSystem/{id}/$validate-code")
async def validate_code_system_code_instance(id: str, ctx: FhirRequestDep, terminology: TerminologyDep) -> Response:
    return await _run(ctx, terminology, _validate_in_code_system(ctx, require_id(id)))


@router.get("/CodeSystem/$lookup")
@router.post("/CodeSystem/$lookup")
async def lookup(ctx: FhirRequestDep, terminology: TerminologyDep) -> Response:
    def work(terminology: Terminology, parameters: OperationParameters) -> dict[str, Any]:
        coding = parameters.codings(version="version")[0]
        properties = [name for name in parameters.values.get("property", []) if isinstance(name, str)]
        return terminology.lookup(ctx.access, coding, properties)

    return await _run(ctx, terminology, work)


def _expand(ctx: FhirRequest, id: str | None) -> Work:
    def work(terminology: Terminology, parameters: OperationParameters) -> dict[str, Any]:
        value_set = terminology.target(ctx.access, "ValueSet", id, parameters)
        return terminology.expand(
            ctx.access,
            value_set,
            text=parameters.text("filter"),
            count=parameters.integer("count"),
            offset=parameters.integer("offset") or 0,
        )

    return work


def _validate_in_value_set(ctx: FhirRequest, id: str | None) -> Work:
    def work(terminology: Terminology, parameters: OperationParameters) -> dict[str, Any]:
        value_set = terminology.target(ctx.access, "ValueSet", id, parameters)
        return terminology.validate_value_set_code(ctx.access, value_set, parameters.codings())

    return work


def _validate_in_code_system(ctx: FhirRequest, id: str | None) -> Work:
    def work(terminology: Terminology, parameters: OperationParameters) -> dict[str, Any]:
        code_system = terminology.target(ctx.access, "CodeSystem", id, parameters)
        return terminology.validate_code_system_code(ctx.access, code_system, parameters.codings(system=None))

    return work


async def _run(ctx: FhirRequest, terminology: Terminology, work: Work) -> Response:
    body = await ctx.resource_body() if ctx.request.method == "POST" else None
    parameters = OperationParameters.of(ctx.request.query_params.multi_items(), body)
    return body_response(ctx, await run_in_threadpool(work, terminology, parameters))


__all__ = ["router"]
