"""What every FHIR request carries besides its path: formats, preferences, limits and the body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from fhirbridge.config import Settings
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.errors import BadRequest, PayloadTooLarge
from fhirbridge.formats.codec import decode
from fhirbridge.formats.negotiation import Format, request_format, response_format
from fhirbridge.security.access import Access
from fhirbridge.server.deps import AccessDep, EngineDep, SettingsDep
from fhirbridge.server.hosts import link_base

PREFER_RETURN = {"minimal", "representation", "OperationOutcome"}


@dataclass
class FhirRequest:
    request: Request
    settings: Settings
    engine: FhirEngine
    # What the caller may do, made once by the security middleware and passed to every engine call.
    access: Access
    fmt: Format
    pretty: bool
    prefer_return: str
    prefer_strict: bool

    @property
    def base_url(self) -> str:
        # Never the bare Host header: the caller writes it (server/hosts.py).
        return link_base(self.request.scope, self.settings)

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    async def raw_body(self) -> bytes:
        limit = self.settings.max_body_bytes
        declared = self.request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The body is larger than the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def resource_body(self) -> Any:
        fmt = request_format(self.request.headers.get("content-type"))
        body = await self.raw_body()
        if not body.strip():
            raise BadRequest("The request has no body", code="required")
        return decode(body, fmt, max_depth=self.settings.max_json_depth)


def _prefer(request: Request) -> tuple[str, bool]:
    prefer_return = "representation"
    strict = False
    for part in request.headers.get("prefer", "").split(";"):
        for token in part.split(","):
            name, _, value = token.strip().partition("=")
            value = value.strip().strip('"')
            if name == "return" and value in PREFER_RETURN:
                prefer_return = value
            elif name == "handling":
                strict = value == "strict"
    return prefer_return, strict


async def fhir_request(request: Request, settings: SettingsDep, engine: EngineDep, access: AccessDep) -> FhirRequest:
    # A coroutine function, as every dependency of ours (server/deps.py): no worker thread for header parsing.
    prefer_return, strict = _prefer(request)
    return FhirRequest(
        request=request,
        settings=settings,
        engine=engine,
        access=access,
        fmt=response_format(request.query_params.get("_format"), request.headers.get("accept")),
        pretty=request.query_params.get("_pretty") == "true",
        prefer_return=prefer_return,
        prefer_strict=strict,
    )


FhirRequestDep = Annotated[FhirRequest, Depends(fhir_request)]

__all__ = ["FhirRequest", "FhirRequestDep", "fhir_request"]
