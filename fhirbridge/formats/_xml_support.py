"""What reading and writing FHIR XML share: the hardened parser, escaping, and located problems.

The parser never loads a DTD, never resolves an entity, never touches the network and keeps libxml2's
size and depth limits (no ``huge_tree``). A document that carries a DOCTYPE or an entity declaration
is refused before libxml2 sees it: FHIR XML has no use for either, and refusing them outright closes
billion-laughs and external-entity attacks whatever the parser's options.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree

from fhirbridge.errors import BadRequest


class ElementProblem(Exception):
    """A problem with one element, located as it propagates up: each level adds its step."""

    def __init__(self, message: str, *, code: str = "structure", step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.steps: list[str] = [step] if step else []

    def to_bad_request(self, root: str) -> BadRequest:
        expression = ".".join([root, *reversed(self.steps)])
        return BadRequest(f"{self.message} (at {expression})", expression=expression, code=self.code)


_parsers = threading.local()  # an lxml parser must not be used by two threads at once


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            encoding="utf-8",  # FHIR bodies are UTF-8; a declared encoding cannot reopen the door
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _parsers.parser = parser
    return parser


_DECLARATIONS = (b"<!DOCTYPE", b"<!ENTITY")


def parse_document(body: bytes) -> Any:
    """The root element of a well-formed XML document without DTD; BadRequest otherwise."""
    if any(declaration in body for declaration in _DECLARATIONS):
        raise BadRequest("XML with a DOCTYPE or entity declaration is not accepted", code="security")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise BadRequest(f"The body is not well-formed XML: {exc}", code="structure") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BadRequest("XML with a DOCTYPE or entity declaration is not accepted", code="security")
    return root


# Characters that need care in an attribute value: the markup characters, the whitespace an XML
# parser would normalise to a space, and the characters XML 1.0 cannot carry at all.
_XML_ILLEGAL = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_ATTRIBUTE_SPECIAL = re.compile(f'[&<>"\t\n\r{_XML_ILLEGAL}]')
_TEXT_SPECIAL = re.compile(f'[&<>"\r{_XML_ILLEGAL}]')
_ILLEGAL = re.compile(f"[{_XML_ILLEGAL}]")


def escape_attribute(value: str) -> str:
    if _ATTRIBUTE_SPECIAL.search(value) is None:
        return value
    _refuse_illegal(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def escape_text(value: str) -> str:
    # '"' is escaped in text too: the FHIR JSON examples write narratives that way.
    if _TEXT_SPECIAL.search(value) is None:
        return value
    _refuse_illegal(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


def _refuse_illegal(value: str) -> None:
    if _ILLEGAL.search(value) is not None:
        raise ElementProblem("The value contains a character that XML 1.0 cannot carry", code="value")


__all__ = ["ElementProblem", "escape_attribute", "escape_text", "parse_document"]
