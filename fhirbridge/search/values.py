"""From FHIR element values to index values, and the normalisations search values share with them.

Dates become inclusive ranges ``[low, high]`` in microseconds since the epoch (UTC): ``2024-03`` is
the whole of March, a Period is its start to its end, so matching is range arithmetic (precision and
Period overlap follow from it). Strings are indexed case- and accent-folded.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

MIN_MICROS = -(2**62)
MAX_MICROS = 2**62
STRING_LIMIT = 255

_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def normalize(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, combining marks dropped, casefolded, spaces collapsed."""
    if text.isascii():  # NFKD leaves ASCII as it is and it has no combining marks
        return " ".join(text.casefold().split())[:STRING_LIMIT]
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())[:STRING_LIMIT]


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def date_range(text: str) -> tuple[int, int] | None:
    """The inclusive microsecond range a FHIR date/dateTime/instant denotes; None if it is not one."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    zone = match["zone"]
    tz: timezone = UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        year = int(match["year"])
        if match["month"] is None:
            start = datetime(year, 1, 1, tzinfo=tz)
            end = datetime(year + 1, 1, 1, tzinfo=tz)
        elif match["day"] is None:
            month = int(match["month"])
            start = datetime(year, month, 1, tzinfo=tz)
            end = start + timedelta(days=calendar.monthrange(year, month)[1])
        elif match["hour"] is None:
            start = datetime(year, int(match["month"]), int(match["day"]), tzinfo=tz)
            end = start + timedelta(days=1)
        else:
            start = datetime(
                year,
                int(match["month"]),
                int(match["day"]),
                int(match["hour"]),
                int(match["minute"]),
                tzinfo=tz,
            )
            if match["second"] is None:
                end = start + timedelta(minutes=1)
            else:
                fraction = match["fraction"] or ""
                digits = fraction[1:7]
                start = start.replace(second=int(match["second"]), microsecond=int(digits.ljust(6, "0") or 0))
                end = (
                    start + timedelta(microseconds=10 ** (6 - len(digits))) if digits else start + timedelta(seconds=1)
                )
    except ValueError:
        return None
    return _micros(start), _micros(end) - 1


def decimal_value(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return None


def precision_range(value: Decimal) -> tuple[Decimal, Decimal]:
    """The implicit range of a decimal: ``100`` is [99.5, 100.5), ``1.50`` is [1.495, 1.505)."""
    exponent = value.as_tuple().exponent
    half = Decimal(5).scaleb(int(exponent) - 1) if isinstance(exponent, int) else Decimal(0)
    return value - half, value + half


# --- index rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    system: str | None
    code: str | None
    text: str | None = None
    type_system: str | None = None
    type_code: str | None = None


@dataclass(frozen=True)
class StringRow:
    norm: str
    exact: str


@dataclass(frozen=True)
class ReferenceRow:
    target_type: str | None
    target_id: str | None
    url: str | None


@dataclass(frozen=True)
class DateRow:
    low: int
    high: int


@dataclass(frozen=True)
class QuantityRow:
    value: float
    system: str | None
    code: str | None
    unit: str | None


@dataclass(frozen=True)
class NumberRow:
    value: float


@dataclass(frozen=True)
class UriRow:
    uri: str


@dataclass(frozen=True)
class CompositeRow:
    system: str | None
    code: str | None
    system2: str | None = None
    code2: str | None = None
    norm2: str | None = None
    low2: int | None = None
    high2: int | None = None
    value2: float | None = None


def composite_rows(first: list[TokenRow], second_type: str, second: list[Any]) -> list[CompositeRow]:
    """Pairs of the first component's codes with each value of the second component."""
    seconds: list[dict[str, Any]] = []
    for value, type_name in second:
        if second_type == "token":
            seconds += [{"system2": r.system, "code2": r.code} for r in token_rows(value, type_name) if r.code]
        elif second_type == "quantity":
            seconds += [
                {"value2": r.value, "system2": r.system, "code2": r.code or r.unit} for r in quantity_rows(value)
            ]
        elif second_type == "date":
            seconds += [{"low2": r.low, "high2": r.high} for r in date_rows(value)]
        elif second_type == "string":
            seconds += [{"norm2": r.norm} for r in string_rows(value)]
    return [CompositeRow(f.system, f.code, **s) for f in first if f.code for s in seconds]


def _text(value: Any) -> str | None:
    return normalize(value) if isinstance(value, str) and value.strip() else None


def token_rows(value: Any, type_name: str | None) -> list[TokenRow]:
    if isinstance(value, bool):
        return [TokenRow(None, "true" if value else "false")]
    if isinstance(value, str):
        return [TokenRow(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value or (type_name == "CodeableConcept"):
        rows = [r for coding in value.get("coding", []) for r in token_rows(coding, "Coding")]
        if value.get("text"):
            rows.append(TokenRow(None, None, _text(value["text"])))
        return rows
    if "value" in value and ("system" in value or "type" in value or "use" in value or "assigner" in value):
        # Identifier (value + optional type for :of-type) or ContactPoint (value, system is its kind).
        if type_name == "ContactPoint" or value.get("system") in {
            "phone",
            "fax",
            "email",
            "pager",
            "url",
            "sms",
        }:
            return [TokenRow(None, str(value["value"]))]
        declared = value.get("type")
        id_type: dict[str, Any] = declared if isinstance(declared, dict) else {}
        system, code = value.get("system"), str(value["value"])
        rows = [TokenRow(system, code, _text(id_type.get("text")))]
        for coding in id_type.get("coding", []):
            rows.append(TokenRow(system, code, None, coding.get("system"), _str_or_none(coding.get("code"))))
        return rows
    if "value" in value and isinstance(value["value"], str):  # ContactPoint without system
        return [TokenRow(None, value["value"])]
    if "code" in value or "system" in value:
        return [TokenRow(value.get("system"), _str_or_none(value.get("code")), _text(value.get("display")))]
    return []


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None


_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")


def string_rows(value: Any) -> list[StringRow]:
    if isinstance(value, str):
        return [StringRow(normalize(value), value[:STRING_LIMIT])] if value.strip() else []
    if not isinstance(value, dict):
        return []
    parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
    rows: list[StringRow] = []
    for part in parts:
        item = value.get(part)
        for text in item if isinstance(item, list) else [item]:
            if isinstance(text, str):
                rows.extend(string_rows(text))
    if not rows and isinstance(value.get("text"), str):
        rows.extend(string_rows(value["text"]))
    return rows


def split_reference(reference: str) -> tuple[str | None, str | None, str | None]:
    """``Patient/1`` -> (Patient, 1, None); absolute URLs and canonicals keep their URL."""
    if reference.startswith("#"):
        return None, None, None
    if "://" in reference or reference.startswith("urn:"):
        return None, None, reference.split("|")[0]
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1], None
    return None, None, reference


def reference_rows(value: Any) -> list[ReferenceRow]:
    if isinstance(value, str):  # canonical or uri
        target_type, target_id, url = split_reference(value)
        return [ReferenceRow(target_type, target_id, url)] if (target_id or url) else []
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return []
    target_type, target_id, url = split_reference(value["reference"])
    if target_id is None and url is None:
        return []
    if target_type is None and url and isinstance(value.get("type"), str):
        target_type = value["type"]
    return [ReferenceRow(target_type, target_id, url)]


def date_rows(value: Any) -> list[DateRow]:
    if isinstance(value, str):
        found = date_range(value)
        return [DateRow(*found)] if found else []
    if not isinstance(value, dict):
        return []
    if "start" in value or "end" in value:  # Period: open ends reach to the end of time
        start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
        end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
        if start is None and end is None:
            return []
        return [DateRow(start[0] if start else MIN_MICROS, end[1] if end else MAX_MICROS)]
    rows: list[DateRow] = []
    for event in value.get("event", []):  # Timing
        rows.extend(date_rows(event))
    repeat = value.get("repeat")
    if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
        rows.extend(date_rows(repeat["boundsPeriod"]))
    return rows


def quantity_rows(value: Any) -> list[QuantityRow]:
    if not isinstance(value, dict):
        return []
    if "low" in value or "high" in value:  # Range: index both bounds
        return [r for bound in (value.get("low"), value.get("high")) for r in quantity_rows(bound)]
    number = decimal_value(value.get("value"))
    if number is None:
        return []
    return [QuantityRow(float(number), value.get("system"), value.get("code"), value.get("unit"))]


def number_rows(value: Any) -> list[NumberRow]:
    number = decimal_value(value)
    if number is None and isinstance(value, dict):
        number = decimal_value(value.get("value"))
    return [NumberRow(float(number))] if number is not None else []


def uri_rows(value: Any) -> list[UriRow]:
    if isinstance(value, str) and value:
        return [UriRow(value)]
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return [UriRow(value["reference"])]
    return []


__all__ = [
    "MAX_MICROS",
    "MIN_MICROS",
    "CompositeRow",
    "DateRow",
    "NumberRow",
    "QuantityRow",
    "ReferenceRow",
    "StringRow",
    "TokenRow",
    "UriRow",
    "composite_rows",
    "date_range",
    "date_rows",
    "decimal_value",
    "normalize",
    "number_rows",
    "precision_range",
    "quantity_rows",
    "reference_rows",
    "split_reference",
    "string_rows",
    "token_rows",
    "uri_rows",
]
