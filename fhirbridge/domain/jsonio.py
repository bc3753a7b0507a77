"""The internal JSON format: a record as the coordinator's tools read and write it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pydantic

from fhirbridge.domain.errors import Problem, ValidationError
from fhirbridge.domain.record import Record
from fhirbridge.domain.rules import check_record

__all__ = ["record_from_json", "record_json_schema", "record_to_json"]


def record_from_json(body: bytes | str, *, check: bool = True) -> Record:
    """Read a record; any structural or rule problem raises ``ValidationError`` listing them all.

    Numbers with a fraction are read as exact decimals: a partner's FHIR data kept in the record
    (``fhir_retained``) must be written back with the precision it came with.
    """
    try:
        data = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise ValidationError([Problem("", f"not JSON: {exc}")]) from exc
    try:
        record = Record.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError([_problem(error) for error in exc.errors()]) from exc
    return check_record(record) if check else record


def record_to_json(record: Record, *, indent: bool = True) -> bytes:
    """The record as internal JSON; decimals are written exactly as they were read."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(record.model_dump(mode="python", exclude_none=True), default=_exact, option=option)


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(getattr(value, "source", None) or str(value))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


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
