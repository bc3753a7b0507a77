"""Each request's reads are its caller's: with read replicas, a caller reads what it wrote (storage/replicas.py).

Installed inside the security middleware, on both paths (plain reads and the framework's), only when the
store has replicas. The caller is the token's client and subject: a client's next request may reach
another worker, which finds the caller's read position in the database under the same name.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp

from fhirbridge.security.access import Access
from fhirbridge.security.middleware import ACCESS_KEY
from fhirbridge.storage.replicas import reading_for

# Requests without a verified caller (authentication off) read as one client together.
ANONYMOUS = ""


def caller_name(access: Any) -> str:
    principal = access.principal if isinstance(access, Access) else None
    if principal is None:
        return ANONYMOUS
    return f"{principal.client_id}\n{principal.subject}"


class ReadsForCaller:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with reading_for(caller_name(scope.get(ACCESS_KEY))):
            await self.app(scope, receive, send)


__all__ = ["ReadsForCaller", "caller_name"]
