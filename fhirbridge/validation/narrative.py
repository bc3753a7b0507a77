"""The narrative rules txt-1 and txt-2 (FHIR R4 Narrative), written out since FHIRPath has no
``htmlChecks()`` outside the reference implementation."""

from __future__ import annotations

from lxml import etree

XHTML_NS = "http://www.w3.org/1999/xhtml"

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


def narrative_problems(div: str) -> list[tuple[str, str]]:
    """(constraint key, message) for each narrative rule ``div`` breaks."""
    try:
        root = etree.fromstring(div.encode(), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [("txt-1", f"The narrative is not well-formed XHTML: {exc}")]
    problems: list[tuple[str, str]] = []
    if etree.QName(root).localname != "div" or etree.QName(root).namespace != XHTML_NS:
        problems.append(("txt-1", "The narrative must be a <div> in the XHTML namespace"))
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name not in ALLOWED_ELEMENTS:
            problems.append(("txt-1", f"The narrative contains the element <{name}>, which is not allowed"))
        for attribute in element.attrib:
            qualified = etree.QName(attribute)
            local = qualified.localname.lower()
            if qualified.namespace == "http://www.w3.org/XML/1998/namespace":
                continue  # xml:lang, xml:space
            if local not in ALLOWED_ATTRIBUTES:
                problems.append(
                    ("txt-1", f"The narrative contains the attribute @{local}, which is not allowed")
                )
    has_image = any(etree.QName(e).localname == "img" for e in root.iter() if isinstance(e.tag, str))
    if not "".join(root.itertext()).strip() and not has_image:
        problems.append(("txt-2", "The narrative SHALL have some non-whitespace content"))
    return problems


__all__ = ["narrative_problems"]
