"""Who is making the current request, as far as business rules need to know.

The HTTP layer (after authentication) sets ``current_actor`` for the duration of a request; engine rules
read it. It is a context variable so it follows the request into worker threads and never leaks between
requests.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """The references (``Organization/x``, ``Practitioner/y``, ...) the caller acts as."""

    references: frozenset[str] = field(default_factory=frozenset)

    def is_any_of(self, references: set[str]) -> bool:
        return bool(self.references & references)


current_actor: ContextVar[Actor | None] = ContextVar("fhirbridge_actor", default=None)

__all__ = ["Actor", "current_actor"]
