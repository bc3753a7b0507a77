"""Whose access a Subscription's notifications go out under: its owner, recorded by the server.

A notification carries a child's data to the Subscription's endpoint long after the request that set
it up, with no caller to ask. So every write of a Subscription records its owner, the caller who
created it or last changed it (whoever chose its criteria and its endpoint), in a server-set extension
of the stored Subscription; delivery (``delivery.py``) makes that owner's ``Access`` and sends only
what the owner may read.

The extension holds the verified claims access is decided on (subject, client, scopes, ``patient``,
``fhirUser``, organization, treating team), never a token. A client cannot set it: whatever a body
says there is dropped and replaced by the caller's own principal. The server's own writes (marking a
Subscription as in error) keep the owner there was; so do writes with authentication off, which have
no principal to record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirbridge.security.access import Access
from fhirbridge.security.principal import ORG_CLAIM, TEAM_CLAIM, TREATING_TEAM, Principal

Resource = dict[str, Any]
# As whom a Subscription with this owner (None: it has none) is delivered; None: as nobody, not at all.
OwnerAccess = Callable[[Principal | None], Access | None]

OWNER = "http://fhirbridge.org/fhir/StructureDefinition/subscription-owner"
# The claims an owner's access is decided on, as the extension keeps them (each a valueString).
OWNER_CLAIMS = ("sub", "client_id", "scope", "patient", "fhirUser", ORG_CLAIM, TEAM_CLAIM)


def owner_extension(principal: Principal) -> dict[str, Any]:
    """The extension that makes ``principal`` a Subscription's owner."""
    claims = {
        "sub": principal.subject,
        "client_id": principal.client_id,
        "scope": " ".join(str(scope) for scope in principal.scopes),
        "patient": principal.patient,
        "fhirUser": principal.fhir_user,
        ORG_CLAIM: principal.organization,
        TEAM_CLAIM: TREATING_TEAM if principal.treating else None,
    }
    parts = [{"url": name, "valueString": value} for name, value in claims.items() if value]
    return {"url": OWNER, "extension": parts}


def owner_of(subscription: Resource) -> Principal | None:
    """The owner recorded on a stored Subscription, or None when it has none."""
    extension = _owner_extension(subscription)
    if extension is None:
        return None
    claims: dict[str, Any] = {}
    for part in extension.get("extension") or []:
        if isinstance(part, dict) and part.get("url") in OWNER_CLAIMS and isinstance(part.get("valueString"), str):
            claims[str(part["url"])] = part["valueString"]
    return Principal.from_claims(claims)


def record_owner(access: Access, previous: Resource | None, subscription: Resource) -> None:
    """Make the caller ``subscription``'s owner, before it is stored; with no principal (the server's own
    work, authentication off) the owner ``previous`` had stays. What the body said is dropped."""
    if access.principal is not None:
        owner: dict[str, Any] | None = owner_extension(access.principal)
    else:
        owner = _owner_extension(previous or {})
    others = [extension for extension in subscription.get("extension") or [] if not _is_owner(extension)]
    extensions = [*others, owner] if owner is not None else others
    if extensions:
        subscription["extension"] = extensions
    else:
        subscription.pop("extension", None)


def _owner_extension(subscription: Resource) -> dict[str, Any] | None:
    return next((extension for extension in subscription.get("extension") or [] if _is_owner(extension)), None)


def _is_owner(extension: Any) -> bool:
    return isinstance(extension, dict) and extension.get("url") == OWNER


__all__ = ["OWNER", "OWNER_CLAIMS", "OwnerAccess", "owner_extension", "owner_of", "record_owner"]
