"""Building blocks shared by every part of a child's record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["NEED_DOMAINS", "Entity", "Id", "Instant", "NeedDomain", "Retained", "Text"]

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
"""Identifies one thing in the record; unique across all records (the FHIR id it is written under)."""

Text = Annotated[str, StringConstraints(min_length=0)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a time needs a UTC offset, for example 2024-05-01T09:30:00-05:00")
    return value


Instant = Annotated[datetime, AfterValidator(_aware)]
"""A point in time with its UTC offset."""

NEED_DOMAINS: tuple[str, ...] = (
    "medical",
    "behavioral",
    "dental",
    "development",
    "school",
    "social-support",
    "financial",
    "insurance",
    "family-functioning",
    "cultural",
    "language",
)
"""The areas a comprehensive needs assessment covers (medical home guidance)."""

NeedDomain = Annotated[str, AfterValidator(lambda v: _one_of(v, NEED_DOMAINS, "need domain"))]


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


Retained = dict[str, dict[str, Any]]
"""What a partner's FHIR resources held beyond the record, per resource (``"Goal/abc"``) and element:
``{"original": <the partner's element>, "as_read": <the element as the record would write it>}``."""


class Entity(BaseModel):
    """Something in the record with its own identity."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: Id
    fhir_id: Id | None = Field(
        default=None,
        description="Id of the FHIR resource carrying this part when it differs from ``id`` (a partner's "
        "resources of different types may share an id; ids in the record are unique)",
    )
    fhir_retained: Retained | None = Field(
        default=None,
        description="Elements of a partner's FHIR resource that the record does not cover; written back "
        "unchanged as long as the record has not changed what they describe.",
    )
