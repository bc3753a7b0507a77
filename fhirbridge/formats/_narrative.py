"""The narrative ``div``: XHTML inside FHIR XML, an XHTML string inside FHIR JSON.

Both directions go through one canonical serialisation (XHTML as the default namespace declared on
the div, no prefixes, empty elements self-closed, ``& < > "`` escaped in text), so XML read from any
producer yields the string the JSON format expects, and a JSON narrative already in that form (as the
official examples are) survives JSON -> XML -> JSON unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhirbridge.errors import BadRequest
from fhirbridge.formats._fhir_types import XHTML_NAMESPACE
from fhirbridge.formats._xml_support import ElementProblem, escape_attribute, escape_text, parse_document

_XHTML_PREFIX = "{" + XHTML_NAMESPACE + "}"
_XML_PREFIX = "{http://www.w3.org/XML/1998/namespace}"
_NAMESPACE_DECLARATION = f' xmlns="{XHTML_NAMESPACE}"'


def div_to_string(div: Any, max_depth: int) -> str:
    """The JSON string of a parsed narrative div."""
    parts: list[str] = []
    _serialise(div, parts, _NAMESPACE_DECLARATION, max_depth)
    return "".join(parts)


@lru_cache(maxsize=512)
def div_from_string(div: str, max_depth: int = 64) -> str:
    """The XHTML to embed in XML for a JSON narrative string (cached: reads repeat narratives)."""
    try:
        root = parse_document(div.encode("utf-8"))
    except (BadRequest, UnicodeEncodeError) as exc:
        raise ElementProblem(f"The narrative is not well-formed XHTML: {exc}") from None
    if _local_name(root) != "div":
        raise ElementProblem("The narrative must be a single XHTML <div>")
    return div_to_string(root, max_depth)


def _local_name(element: Any) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        raise ElementProblem("The narrative may hold only XHTML elements and text")
    if tag.startswith(_XHTML_PREFIX):
        return tag[len(_XHTML_PREFIX) :]
    if tag.startswith("{"):
        raise ElementProblem(f"The narrative may hold only XHTML elements, not {tag}")
    return tag  # an unqualified element of a JSON div written without xmlns: XHTML by intent


def _serialise(element: Any, parts: list[str], namespace_declaration: str, depth_left: int) -> None:
    if depth_left <= 0:
        raise ElementProblem("The narrative nests too deep", code="too-costly")
    name = _local_name(element)
    parts.append("<" + name + namespace_declaration)
    for attribute, value in element.attrib.items():
        if attribute.startswith(_XML_PREFIX):
            attribute = "xml:" + attribute[len(_XML_PREFIX) :]
        elif attribute.startswith("{"):
            raise ElementProblem(f"The narrative may not carry the attribute {attribute}")
        parts.append(f' {attribute}="{escape_attribute(value)}"')
    text = element.text
    if not text and len(element) == 0:
        parts.append("/>")
        return
    parts.append(">")
    if text:
        parts.append(escape_text(text))
    for child in element:
        _serialise(child, parts, "", depth_left - 1)
        if child.tail:
            parts.append(escape_text(child.tail))
    parts.append(f"</{name}>")


__all__ = ["div_from_string", "div_to_string"]
