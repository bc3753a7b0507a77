"""SMART App Launch scopes (v2 ``cruds`` and v1 ``read``/``write``/``*``), parsed and checked.

A clinical scope is ``<context>/<type or *>.<permissions>``: the context is ``patient`` (only the
child in the token's ``patient`` claim), ``user`` (what the user may see) or ``system`` (a back-end
service). v2 permissions are a subset of ``cruds`` in that order; v1 ``read`` is ``rs``, ``write``
is ``cud`` and ``*`` is all five. A v2 scope with search parameters (``patient/Observation.rs?category=...``)
narrows access in a way this server does not evaluate, so it grants nothing rather than too much.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Context = Literal["patient", "user", "system"]
# create, read (read, vread, instance history), update (update, patch), delete, search (search, type
# and system history).
PERMISSIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": PERMISSIONS}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Z][A-Za-z]*|\*)\.([a-z*]+)$")


@dataclass(frozen=True)
class Scope:
    context: Context
    resource_type: str  # a type name or "*"
    permissions: frozenset[str]

    def grants(self, resource_type: str, permission: str) -> bool:
        return permission in self.permissions and self.resource_type in ("*", resource_type)

    def __str__(self) -> str:
        return f"{self.context}/{self.resource_type}.{''.join(p for p in PERMISSIONS if p in self.permissions)}"


def parse_scope(text: str) -> Scope | None:
    """One clinical scope, or None for anything else (``openid``, ``launch/patient``, malformed)."""
    match = _SCOPE.match(text)
    if match is None:
        return None
    context, resource_type, permissions = match.groups()
    if permissions in _V1:
        letters = _V1[permissions]
    elif _is_v2(permissions):
        letters = permissions
    else:
        return None
    return Scope(context, resource_type, frozenset(letters))  # type: ignore[arg-type]


def _is_v2(permissions: str) -> bool:
    # Letters in cruds order, each at most once: "rs" yes, "sr" and "rr" no (SMART v2 3.0.2).
    positions = [PERMISSIONS.find(letter) for letter in permissions]
    return bool(positions) and -1 not in positions and positions == sorted(set(positions))


def parse_scopes(text: str | list[str] | None) -> tuple[Scope, ...]:
    """The clinical scopes of a space-separated ``scope`` claim (or a ``scp`` list)."""
    if text is None:
        return ()
    items = text.split() if isinstance(text, str) else [item for item in text if isinstance(item, str)]
    return tuple(scope for scope in (parse_scope(item) for item in items) if scope is not None)


def granting_contexts(scopes: tuple[Scope, ...], resource_type: str, permission: str) -> frozenset[Context]:
    """The contexts (patient, user, system) under which the scopes grant ``permission`` on the type."""
    return frozenset(scope.context for scope in scopes if scope.grants(resource_type, permission))


__all__ = ["PERMISSIONS", "Context", "Scope", "granting_contexts", "parse_scope", "parse_scopes"]
