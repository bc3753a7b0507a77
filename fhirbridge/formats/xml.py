"""FHIR XML (``application/fhir+xml``), both directions, through the FHIR JSON shape.

``parse_xml`` turns a FHIR XML resource into exactly the dict ``fhirbridge.formats.json.loads`` gives
for its JSON twin; ``to_xml`` writes such a dict as FHIR XML. Which elements repeat, which primitives
are JSON numbers or booleans, and the order XML requires all come from the R4 StructureDefinitions
(see ``tools/gen_fhir_types.py``).

Reading checks the structure (known elements, cardinality one where the definition says so, value
syntax of booleans, integers and decimals) but not the order of elements nor the rules a validator
checks (required elements, codes, invariants): validate the resulting dict as for JSON.

Parsing is hardened: no DTD, no entity expansion, no network, libxml2's size limits kept, and any
document with a DOCTYPE or entity declaration refused outright. Every problem a client can cause is a
``BadRequest`` whose ``expression`` names the element (``Patient.contact[0].foo``).
"""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import BadRequest
from fhirbridge.formats._xml_reader import read_resource, resource_type_of
from fhirbridge.formats._xml_support import ElementProblem, parse_document
from fhirbridge.formats._xml_writer import write_resource
from fhirbridge.formats.json import MAX_DEPTH

XML_MEDIA_TYPE = "application/fhir+xml"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def parse_xml(body: bytes, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """A FHIR XML resource as its FHIR JSON dict; BadRequest for anything that is not one."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    root = parse_document(body)
    try:
        resource_type = resource_type_of(root)
    except ElementProblem as problem:
        raise BadRequest(problem.message, code=problem.code) from None
    try:
        return read_resource(root, resource_type, 1, max_depth)
    except ElementProblem as problem:
        raise problem.to_bad_request(resource_type) from None


def to_xml(resource: dict[str, Any], *, pretty: bool = False) -> bytes:
    """FHIR XML for a resource in the FHIR JSON shape, elements in definition order."""
    out = [_DECLARATION]
    try:
        write_resource(out, resource, "\n" if pretty else "", "  " if pretty else "", root=True)
    except ElementProblem as problem:
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        raise problem.to_bad_request(resource_type if isinstance(resource_type, str) else "Resource") from None
    if pretty:
        out.append("\n")
    return "".join(out).encode("utf-8")


__all__ = ["XML_MEDIA_TYPE", "parse_xml", "to_xml"]
