"""The internal JSON format: a record as the coordinator's tools read and write it."""

from __future__ import annotations

from typing import Any

import pydantic

from fhirbridge.domain.errors import Problem, ValidationError
from fhirbridge.domain.record import Record
from fhirbridge.domain.rules import check_record

__all__ = ["record_from_json", "record_json_schema", "record_to_json"]


def record_from_json(body: bytes | str, *, check: bool = True) -> Record:
    """Read a record; any structural or rule problem raises ``ValidationError`` listing them all."""
    try:
        record = Record.model_validate_json(body)
    except pydantic.ValidationError as exc:
        raise ValidationError([_problem(error) for error in exc.errors()]) from exc
    return check_record(record) if check else record


def record_to_json(record: Record, *, indent: int | None = 2) -> bytes:
    return record.model_dump_json(indent=indent, exclude_none=True).encode()


def record_json_schema() -> dict[str, Any]:
    """JSON Schema of the internal format, for publication in OpenAPI."""
    return Record.model_json_schema()


def _problem(error: Any) -> Problem:
    path = ""
    for part in error.get("loc", ()):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "missing":
        message = "is required"
    elif error.get("type") == "extra_forbidden":
        message = "is not a field of the record format"
    return Problem(path, message)
