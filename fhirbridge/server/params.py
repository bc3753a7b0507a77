"""Shared pieces of the HTTP layer: query parameter parsing and running a search as a response."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import anyio
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from fhirbridge.engine.searching import SearchService
from fhirbridge.errors import BadRequest
from fhirbridge.search import SearchResult, searchset_bytes, searchset_dict
from fhirbridge.search.elements import Shaping, shape
from fhirbridge.security.access import Access
from fhirbridge.security.search import checked_result, search_params_for
from fhirbridge.server.context import FhirRequest
from fhirbridge.server.render import body_response, media_type
from fhirbridge.storage.contract import StoredVersion
from fhirbridge.storage.driver import QueryCancellation

T = TypeVar("T")
# How often a running search looks whether its client is still there.
DISCONNECT_POLL_SECONDS = 0.2


def operation_params(query: QueryParams, allowed: frozenset[str], takes: str) -> None:
    """Refuse (400, naming it) a parameter an operation does not take, or one given twice: a misspelt or
    repeated parameter read as its default would answer another question than the one asked. ``takes``
    says what the operation takes (``"$worklist takes as-of and due-within-days"``)."""
    for name in query:
        if name not in allowed:
            raise BadRequest(f"{takes}, not '{name}'", expression=name)
        if len(query.getlist(name)) > 1:
            raise BadRequest(f"{name} may be given once", expression=name)


def int_param(value: str | None, name: str, *, default: int, maximum: int = 1_000_000_000) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) > maximum:
        raise BadRequest(f"{name} must be an integer from 0 to {maximum}, not '{value}'", expression=name)
    return int(value)


def instant_param(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a FHIR instant such as 2026-01-31T08:00:00Z", expression=name) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} must carry a time zone", expression=name)
    return moment


SUMMARY_VALUES = ("true", "false", "text", "data")


def shaped(version: StoredVersion, query: Mapping[str, str]) -> StoredVersion:
    """A read's ``_summary`` and ``_elements``: the stored version cut down to what was asked for."""
    summary = query.get("_summary", "false")
    if summary not in SUMMARY_VALUES:
        raise BadRequest(f"_summary must be one of {', '.join(SUMMARY_VALUES)} on a read", expression="_summary")
    elements = tuple(name.strip() for name in query.get("_elements", "").split(",") if name.strip())
    shaping = Shaping(summary=summary, elements=elements)
    if shaping.untouched or version.content is None:
        return version
    return replace(version, content=shape(version.content, version.resource_type, shaping))


async def run_search(
    ctx: FhirRequest,
    service: SearchService,
    resource_type: str | None,
    params: list[tuple[str, str]],
    path: str,
    *,
    compartment: tuple[str, str] | None = None,
) -> Response:
    access = ctx.access
    params, compartment = search_params_for(access, resource_type, params, compartment)
    result = await _while_connected(ctx.request, _search, service, access, resource_type, params, ctx, compartment)
    if ctx.fmt == "json" and not ctx.pretty:
        return Response(searchset_bytes(result, base_url=ctx.base_url, path=path), media_type=media_type("json"))
    return body_response(ctx, searchset_dict(result, base_url=ctx.base_url, path=path))


async def _while_connected(request: Request, work: Callable[..., T], *args: Any) -> T:
    """Run ``work(*args)`` in a worker thread; if the client goes away meanwhile, stop its queries.

    Nobody would read the answer, and a search a client gave up on (and probably sent again) would
    otherwise run to its end, holding a thread and a database connection.
    """
    cancellation = QueryCancellation()
    outcome: list[T] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as watcher:
        watcher.start_soon(_cancel_when_gone, request, cancellation)
        try:
            outcome.append(await run_in_threadpool(cancellation.run, work, *args))
        except Exception as exc:  # raised below, outside the task group (which would wrap it in a group)
            failure.append(exc)
        watcher.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return outcome[0]


async def _cancel_when_gone(request: Request, cancellation: QueryCancellation) -> None:
    while not await request.is_disconnected():
        await anyio.sleep(DISCONNECT_POLL_SECONDS)
    await anyio.to_thread.run_sync(cancellation.cancel)  # a round trip to PostgreSQL: not on the loop


def _search(
    service: SearchService,
    access: Access,
    resource_type: str | None,
    params: list[tuple[str, str]],
    ctx: FhirRequest,
    compartment: tuple[str, str] | None,
) -> SearchResult:
    visible = access.row_filter()
    result = service.search(
        resource_type, params, strict=ctx.prefer_strict, base_url=ctx.base_url, compartment=compartment, visible=visible
    )
    return checked_result(access, result)


__all__ = ["instant_param", "int_param", "operation_params", "run_search", "shaped"]
