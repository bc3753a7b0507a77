"""Content negotiation: which FHIR format a request body is in, and which one the client wants back.

``_format`` wins over ``Accept`` (FHIR R4 3.1.0.1.10); unknown formats answer 406, unknown bodies 415.
"""

from __future__ import annotations

from typing import Literal

from fhirbridge.errors import NotAcceptable, UnsupportedMediaType

Format = Literal["json", "xml"]

JSON_MEDIA_TYPE = "application/fhir+json"
XML_MEDIA_TYPE = "application/fhir+xml"
JSON_PATCH_MEDIA_TYPE = "application/json-patch+json"

MEDIA_TYPES: dict[Format, str] = {"json": JSON_MEDIA_TYPE, "xml": XML_MEDIA_TYPE}

_FORMAT_NAMES: dict[str, Format] = {
    "json": "json",
    "application/json": "json",
    "application/fhir+json": "json",
    "application/json+fhir": "json",
    "xml": "xml",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/fhir+xml": "xml",
    "application/xml+fhir": "xml",
    # Operations with a printable form answer HTML themselves; everywhere else it means the default.
    "html": "json",
    "text/html": "json",
}


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def response_format(format_param: str | None, accept: str | None) -> Format:
    if format_param:
        chosen = _FORMAT_NAMES.get(_media_type(format_param.replace(" ", "+")))
        if chosen is None:
            raise NotAcceptable(f"_format '{format_param}' is not supported; use json or xml", expression="_format")
        return chosen
    if not accept:
        return "json"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, media.strip().lower()))
    for _, _, media in sorted(ranked):
        if media in _FORMAT_NAMES:
            return _FORMAT_NAMES[media]
        if media in {"*/*", "application/*", "text/*", "text/html"}:
            # Browsers ask for HTML first; FHIR servers answer them with the default format.
            return "xml" if media == "text/*" else "json"
    raise NotAcceptable(f"None of the accepted media types ({accept}) is a FHIR format this server writes")


def request_format(content_type: str | None) -> Format:
    if not content_type:
        return "json"
    chosen = _FORMAT_NAMES.get(_media_type(content_type))
    if chosen is None:
        raise UnsupportedMediaType(f"Content-Type '{content_type}' is not a FHIR format this server reads")
    return chosen


def wants_html(format_param: str | None, accept: str | None) -> bool:
    """Only operations with a printable form honour this: ``_format=html`` or a browser's Accept."""
    if format_param:
        return _media_type(format_param) in ("html", "text/html")
    return bool(accept) and _media_type((accept or "").split(",")[0]) == "text/html"


def is_form(content_type: str | None) -> bool:
    return content_type is not None and _media_type(content_type) == "application/x-www-form-urlencoded"


def is_json_patch(content_type: str | None) -> bool:
    return content_type is not None and _media_type(content_type) == JSON_PATCH_MEDIA_TYPE


__all__ = [
    "JSON_MEDIA_TYPE",
    "JSON_PATCH_MEDIA_TYPE",
    "MEDIA_TYPES",
    "XML_MEDIA_TYPE",
    "Format",
    "is_form",
    "is_json_patch",
    "request_format",
    "response_format",
    "wants_html",
]
