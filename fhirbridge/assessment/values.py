"""Small readers of FHIR values the assessment modules share: dates, codings, references."""

from __future__ import annotations

from datetime import date
from typing import Any

Resource = dict[str, Any]


def day_of(value: Any) -> date:
    """A date for ordering: a partial date (``2026-03``, ``2026``) counts from its first day; none, the
    earliest day there is."""
    text = str(value or "")
    if len(text) >= 10:
        return date.fromisoformat(text[:10])
    if len(text) == 7:
        return date.fromisoformat(text + "-01")
    if len(text) == 4:
        return date(int(text), 1, 1)
    return date.min


def exact_date(value: Any) -> date | None:
    """The day of a date or date-time that names one; None for anything else (partial, absent, invalid)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def codings(concept: Any) -> list[Resource]:
    """The codings of a CodeableConcept (none when it is not one)."""
    if not isinstance(concept, dict):
        return []
    return [coding for coding in concept.get("coding") or [] if isinstance(coding, dict)]


def reference_to(resource: Resource | None) -> str | None:
    """``Type/id`` of a resource that has an id."""
    if resource is None or not resource.get("id"):
        return None
    return f"{resource['resourceType']}/{resource['id']}"


__all__ = ["codings", "day_of", "exact_date", "reference_to"]
