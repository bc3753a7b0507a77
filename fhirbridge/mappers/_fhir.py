"""Small FHIR-shaped helpers every mapper uses: canonical URLs, references, codings, dates, narratives."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, get_args

__all__ = [
    "BASE",
    "US_CORE",
    "Resource",
    "clean",
    "codeable",
    "codes",
    "coding",
    "date_text",
    "extension",
    "extension_values",
    "first_code",
    "instant_text",
    "narrative",
    "parse_date",
    "parse_instant",
    "pick",
    "profile",
    "reference",
    "reference_parts",
    "resource_id",
    "string",
    "strings",
    "system_url",
    "text_of",
]

Resource = dict[str, Any]

BASE = "http://fhirbridge.org/fhir"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"
XHTML = "http://www.w3.org/1999/xhtml"


def resource_id(entity: Any) -> str:
    """The id of the FHIR resource that carries a part of the record."""
    return str(entity.fhir_id or entity.id)


def profile(name: str) -> str:
    return f"{BASE}/StructureDefinition/{name}"


def system_url(name: str) -> str:
    """A fhirbridge code system (``CodeSystem/...``) or identifier system (``sid/...``)."""
    return f"{BASE}/{name}"


def reference(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def reference_parts(ref: Any) -> tuple[str, str] | None:
    """``(type, id)`` of a literal reference, relative or absolute; None for anything else."""
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    parts = ref["reference"].split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return parts[-2], parts[-1]


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    value = {"system": system, "code": code}
    if display:
        value["display"] = display
    return value


def codeable(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text:
        concept["text"] = text
    return concept


def codes(concepts: Any) -> list[tuple[str | None, str]]:
    """Every (system, code) in a CodeableConcept or a list of them."""
    items = concepts if isinstance(concepts, list) else [concepts]
    found: list[tuple[str | None, str]] = []
    for concept in items:
        if isinstance(concept, dict):
            for entry in concept.get("coding", []) or []:
                if isinstance(entry, dict) and isinstance(entry.get("code"), str):
                    found.append((entry.get("system"), entry["code"]))
    return found


def first_code(concepts: Any, system: str) -> str | None:
    return next((code for sys, code in codes(concepts) if sys == system), None)


def text_of(concept: Any) -> str | None:
    """What a person reads for a CodeableConcept: its text, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for entry in concept.get("coding", []) or []:
        if isinstance(entry, dict) and isinstance(entry.get("display"), str):
            return str(entry["display"])
    for entry in concept.get("coding", []) or []:
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            return str(entry["code"])
    return None


def extension(url: str, **value: Any) -> dict[str, Any]:
    return {"url": url, **value}


def extension_values(element: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(element, dict):
        return []
    return [ext for ext in element.get("extension", []) or [] if isinstance(ext, dict) and ext.get("url") == url]


def instant_text(value: datetime) -> str:
    """A FHIR dateTime with offset; fractions of a second only when there are some."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_instant(value: Any) -> datetime | None:
    """A dateTime with a time and an offset; partial dates and local times have no exact instant."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    offset = parsed.utcoffset() or timedelta(0)
    return parsed.replace(tzinfo=timezone(offset)) if offset else parsed.replace(tzinfo=UTC)


def date_text(value: date) -> str:
    return value.isoformat()


def parse_date(value: Any) -> date | None:
    """A full date; a dateTime counts only when it is a whole day (partial dates have no exact day)."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def narrative(title: str, rows: list[tuple[str, Any]]) -> dict[str, str]:
    """A generated XHTML narrative: a heading and a table of the non-empty facts, escaped."""
    cells = []
    for label, value in rows:
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, list):
            shown = "<ul>" + "".join(f"<li>{_escape(_shown(item))}</li>" for item in value) + "</ul>"
        else:
            shown = _escape(_shown(value))
        cells.append(f"<tr><th>{_escape(label)}</th><td>{shown}</td></tr>")
    table = f"<table>{''.join(cells)}</table>" if cells else ""
    div = f'<div xmlns="{XHTML}"><p><b>{_escape(title)}</b></p>{table}</div>'
    return {"status": "generated", "div": div}


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _shown(value: Any) -> str:
    """Dates as people read them: 14 May 2025; times with their offset: 14 May 2025 11:00 (UTC-06:00)."""
    if isinstance(value, datetime):
        offset = value.strftime("%z")
        zone = "UTC" if offset in ("+0000", "") else f"UTC{offset[:3]}:{offset[3:]}"
        return f"{value.day} {value:%B %Y %H:%M} ({zone})"
    if isinstance(value, date):
        return f"{value.day} {value:%B %Y}"
    return str(value)


def clean(resource: Resource) -> Resource:
    """Drop empty elements (None, [], {}): FHIR forbids them and they carry nothing."""
    cleaned: Resource = _clean(resource)
    return cleaned


def pick(value: Any, allowed: Any, default: Any = None) -> Any:
    """``value`` when it is one of the codes of the Literal type ``allowed``, else ``default``."""
    return value if isinstance(value, str) and value in get_args(allowed) else default


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {key: _clean(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item is not None and item != [] and item != {}}
    if isinstance(value, list):
        items = [_clean(item) for item in value]
        return [item for item in items if item is not None and item != [] and item != {}]
    return value


def strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def string(value: Any) -> str | None:
    return value if isinstance(value, str) else None
