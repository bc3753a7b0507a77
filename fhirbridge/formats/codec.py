"""One entry point for reading and writing FHIR in either wire format.

Stored resources are JSON bytes; serving them as compact JSON is a copy (the fast path), anything else
is produced from them.
"""

from __future__ import annotations

from typing import Any, Literal

from fhirbridge.formats import json as fhir_json
from fhirbridge.formats.xml import parse_xml, to_xml

Format = Literal["json", "xml"]


def decode(body: bytes, fmt: Format, *, max_depth: int = fhir_json.MAX_DEPTH) -> Any:
    if fmt == "xml":
        return parse_xml(body, max_depth=max_depth)
    return fhir_json.loads(body, max_depth=max_depth)


def encode(value: dict[str, Any], fmt: Format, *, pretty: bool = False) -> bytes:
    if fmt == "xml":
        return to_xml(value, pretty=pretty)
    return fhir_json.dumps(value, pretty=pretty)


def encode_stored(content: bytes, fmt: Format, *, pretty: bool = False) -> bytes:
    if fmt == "json" and not pretty:
        return content
    return encode(fhir_json.loads_stored(content), fmt, pretty=pretty)


__all__ = ["Format", "decode", "encode", "encode_stored"]
