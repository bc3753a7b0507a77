"""The narrative rules txt-1 and txt-2 (FHIR R4 Narrative), written out since FHIRPath has no
``htmlChecks()`` outside the reference implementation.

txt-1: the div is XHTML holding only the basic HTML 4.0 formatting elements and their attributes,
``<a>`` (name or href), images and style attributes kept inside the resource. R4 Narrative.div adds
that it SHALL NOT contain a head, a body, external stylesheet references, scripts, forms,
base/link/xlink, frames, iframes or objects, nor event attributes (``onclick``): the narrative is
self-contained and has no active content. So besides the lists of elements and attributes: no
attribute from another namespace (``xlink:href``), no ``javascript:``-like link, no image loaded from
elsewhere (an ``<img src>`` is a contained resource ``#id``, a ``data:image/...`` URL or a reference on
this server such as ``Binary/7``), and no style that fetches or scripts (``url(http:...)``,
``@import``, ``expression(``). txt-2: some non-whitespace content.

The div is parsed with the XML reader's hardened parser (no DTD, no entities, no network).
"""

from __future__ import annotations

import re

from lxml import etree

from fhirbridge.errors import BadRequest
from fhirbridge.formats._xml_support import parse_document

XHTML_NS = "http://www.w3.org/1999/xhtml"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# HTML 4.0 formatting elements allowed in a FHIR narrative (R4 Narrative, "xhtml" rules).
ALLOWED_ELEMENTS = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "address",
        "b",
        "big",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "ul",
        "var",
    ]
)
# Attributes of the HTML 4.0 formatting elements above (scripting ``on*`` attributes excluded).
ALLOWED_ATTRIBUTES = frozenset(
    [
        "abbr",
        "accesskey",
        "align",
        "alt",
        "axis",
        "bgcolor",
        "border",
        "cellpadding",
        "cellspacing",
        "char",
        "charoff",
        "charset",
        "cite",
        "class",
        "colspan",
        "compact",
        "coords",
        "datetime",
        "dir",
        "frame",
        "headers",
        "height",
        "href",
        "hreflang",
        "hspace",
        "id",
        "lang",
        "longdesc",
        "name",
        "nowrap",
        "rel",
        "rev",
        "rowspan",
        "rules",
        "scope",
        "shape",
        "span",
        "src",
        "start",
        "style",
        "summary",
        "tabindex",
        "title",
        "type",
        "valign",
        "value",
        "vspace",
        "width",
    ]
)


# Attributes whose value is a link the reader may follow, and those whose value is loaded with the page.
LINK_ATTRIBUTES = frozenset(["href", "cite", "longdesc"])
LOADED_ATTRIBUTES = frozenset(["src"])
# URL schemes that run code (or carry a document that may) when followed.
ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:")
# Ignored by browsers inside a URL's scheme ("java\tscript:"), so ignored here before looking at it.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*:")
_STYLE_URL = re.compile(r"url\(\s*[\"']?([^\"')]*)", re.IGNORECASE)
_STYLE_ACTIVE = ("expression(", "javascript:", "vbscript:", "@import", "behavior:", "-moz-binding")


def narrative_problems(div: str) -> list[tuple[str, str]]:
    """(constraint key, message) for each narrative rule ``div`` breaks."""
    try:
        root = parse_document(div.encode("utf-8"))
    except (BadRequest, UnicodeEncodeError) as exc:
        return [("txt-1", f"The narrative is not well-formed XHTML: {exc}")]
    problems: list[tuple[str, str]] = []
    if etree.QName(root).localname != "div" or etree.QName(root).namespace != XHTML_NS:
        problems.append(("txt-1", "The narrative must be a <div> in the XHTML namespace"))
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        qualified_name = etree.QName(element)
        name = qualified_name.localname
        if name not in ALLOWED_ELEMENTS:
            problems.append(("txt-1", f"The narrative contains the element <{name}>, which is not allowed"))
        elif qualified_name.namespace != XHTML_NS and element is not root:
            problems.append(("txt-1", f"The narrative contains <{name}> outside the XHTML namespace"))
        for attribute, value in element.attrib.items():
            problems.extend(_attribute_problems(name, etree.QName(attribute), value))
    has_image = any(etree.QName(e).localname == "img" for e in root.iter() if isinstance(e.tag, str))
    if not "".join(root.itertext()).strip() and not has_image:
        problems.append(("txt-2", "The narrative SHALL have some non-whitespace content"))
    return problems


def _attribute_problems(element: str, attribute: etree.QName, value: str) -> list[tuple[str, str]]:
    local = attribute.localname.lower()
    if attribute.namespace == XML_NS:
        return []  # xml:lang, xml:space
    if attribute.namespace is not None:
        return [("txt-1", f"The narrative contains the attribute {attribute.text}, which is not allowed")]
    if local.startswith("on"):
        return [("txt-1", f"The narrative contains the event attribute @{local} on <{element}>: no active content")]
    if local not in ALLOWED_ATTRIBUTES:
        return [("txt-1", f"The narrative contains the attribute @{local}, which is not allowed")]
    url = _plain_url(value)
    if local in LINK_ATTRIBUTES and url.startswith(ACTIVE_SCHEMES):
        return [("txt-1", f"The narrative links to '{_shown(value)}' (@{local} of <{element}>): no active content")]
    if local in LOADED_ATTRIBUTES and not _stays_inside(url):
        return [
            (
                "txt-1",
                f"The narrative loads '{_shown(value)}' (@{local} of <{element}>) from elsewhere: an image is a "
                "contained resource (#id), a data:image URL or a reference on this server",
            )
        ]
    if local == "style" and not _inline_style(value):
        return [("txt-1", f"The narrative's style '{_shown(value)}' fetches or runs something: only inline styling")]
    return []


def _plain_url(value: str) -> str:
    return _URL_NOISE.sub("", value).lower()


def _stays_inside(url: str) -> bool:
    """Whether loading a URL fetches nothing from another server: a fragment (a contained resource), an
    inline image, or a path relative to this server."""
    if url.startswith("#"):
        return True
    if url.startswith("data:"):
        return url.startswith("data:image/")
    return not url.startswith("//") and _SCHEME.match(url) is None


def _inline_style(style: str) -> bool:
    plain = _plain_url(style)
    if any(marker in plain for marker in _STYLE_ACTIVE):
        return False
    return all(_stays_inside(_plain_url(target)) for target in _STYLE_URL.findall(style))


def _shown(value: str) -> str:
    return value if len(value) <= 80 else value[:77] + "..."


__all__ = ["narrative_problems"]
