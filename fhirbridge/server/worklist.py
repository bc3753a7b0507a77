"""``GET Group/[id]/$worklist``: a caseload's worklist over HTTP (the engine: engine/operations/worklist.py).

Its parameters are few and checked strictly: a misspelt ``as-of`` silently read as today would give a
worklist for another day than the one asked for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fhirbridge.engine.operations.worklist import DEFAULT_DUE_WITHIN_DAYS, WorklistOperations
from fhirbridge.engine.resource_types import require_id
from fhirbridge.errors import BadRequest
from fhirbridge.server.context import FhirRequestDep
from fhirbridge.server.params import int_param, operation_params
from fhirbridge.server.render import body_response

router = APIRouter()

PARAMETERS = frozenset({"as-of", "due-within-days", "_format", "_pretty"})


@router.get("/Group/{id}/$worklist")
async def group_worklist(id: str, ctx: FhirRequestDep) -> Response:
    query = ctx.request.query_params
    operation_params(query, PARAMETERS, "$worklist takes as-of and due-within-days")
    as_of = date_param(query.get("as-of"), "as-of") or datetime.now(UTC).date()
    due_within = int_param(
        query.get("due-within-days"), "due-within-days", default=DEFAULT_DUE_WITHIN_DAYS, maximum=3650
    )
    worklist = await run_in_threadpool(
        WorklistOperations(ctx.engine).worklist, ctx.access, require_id(id), as_of=as_of, due_within_days=due_within
    )
    return body_response(ctx, worklist)


def date_param(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a date such as 2026-03-01, not '{value}'", expression=name) from None


__all__ = ["router"]
