"""Turning engine results into HTTP responses: bodies in the negotiated format and FHIR headers."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

from fastapi import Response

from fhirbridge.engine.interactions import InteractionResult
from fhirbridge.errors import FhirError, information_outcome
from fhirbridge.formats.codec import encode, encode_stored
from fhirbridge.formats.negotiation import MEDIA_TYPES, Format
from fhirbridge.server.context import FhirRequest
from fhirbridge.storage.contract import StoredVersion


def media_type(fmt: Format) -> str:
    return f"{MEDIA_TYPES[fmt]}; charset=utf-8"


@lru_cache(maxsize=4096)
def http_date(moment: datetime) -> str:
    """An HTTP date (``Last-Modified``); cached, as the same versions are read again and again."""
    return format_datetime(moment, usegmt=True)


def version_headers(version: StoredVersion) -> dict[str, str]:
    return {"ETag": version.etag, "Last-Modified": http_date(version.last_updated)}


def location(ctx: FhirRequest, version: StoredVersion) -> str:
    return f"{ctx.base_url}/{version.resource_type}/{version.id}/_history/{version.version_id}"


def resource_response(ctx: FhirRequest, version: StoredVersion, status: int = 200) -> Response:
    assert version.content is not None
    body = encode_stored(version.content, ctx.fmt, pretty=ctx.pretty)
    return Response(body, status_code=status, media_type=media_type(ctx.fmt), headers=version_headers(version))


def body_response(
    ctx: FhirRequest, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        encode(body, ctx.fmt, pretty=ctx.pretty), status_code=status, media_type=media_type(ctx.fmt), headers=headers
    )


def write_response(ctx: FhirRequest, result: InteractionResult) -> Response:
    """Answer a create, update or patch as ``Prefer: return=`` asks."""
    version = result.version
    assert version is not None
    headers = version_headers(version)
    if result.status in (200, 201):
        headers["Location"] = location(ctx, version)
    if ctx.prefer_return == "minimal":
        return Response(status_code=result.status, headers=headers)
    if ctx.prefer_return == "OperationOutcome":
        outcome = information_outcome(f"{version.resource_type}/{version.id} version {version.version_id} stored")
        return body_response(ctx, outcome, result.status, headers)
    response = resource_response(ctx, version, result.status)
    response.headers.update(headers)
    return response


def error_response(error: FhirError, fmt: Format = "json", *, pretty: bool = False) -> Response:
    return Response(
        encode(error.operation_outcome(), fmt, pretty=pretty), status_code=error.status, media_type=media_type(fmt)
    )


__all__ = [
    "body_response",
    "error_response",
    "http_date",
    "location",
    "resource_response",
    "version_headers",
    "write_response",
]
