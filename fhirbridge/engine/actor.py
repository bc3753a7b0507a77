"""Who is making a request, as far as business rules need to know (derived from the caller's Access)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """The references (``Organization/x``, ``Practitioner/y``, ...) the caller acts as."""

    references: frozenset[str] = field(default_factory=frozenset)

    def is_any_of(self, references: set[str]) -> bool:
        return bool(self.references & references)


__all__ = ["Actor"]
