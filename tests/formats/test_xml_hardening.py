"""Hostile XML is refused at once, without reading files, touching the network or expanding entities."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhirbridge.errors import BadRequest
from fhirbridge.formats import _xml_support
from fhirbridge.formats.xml import parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>
<div xmlns="http://www.w3.org/1999/xhtml">&lol9;</div></text></Patient>"""


def external_entity(url: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY secret SYSTEM "{url}">]>'
        # In the narrative: XML forbids external entities in attribute values, so only element
        # content can show whether the parser would have read the file.
        '<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
        '<div xmlns="http://www.w3.org/1999/xhtml">&secret;</div></text></Patient>'
    ).encode()


def external_dtd(url: str) -> bytes:
    return f'<?xml version="1.0"?><!DOCTYPE Patient SYSTEM "{url}"><Patient xmlns="http://hl7.org/fhir"/>'.encode()


@pytest.fixture
def listening_url() -> Iterator[tuple[str, socket.socket]]:
    """A local port that records whether anyone connected to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/secret.dtd", server
    server.close()


def nobody_connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    return secret


@pytest.fixture(params=["declarations refused up front", "parser alone"])
def defence(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each attack is tried against the whole defence and against the hardened parser alone."""
    if request.param == "parser alone":
        monkeypatch.setattr(_xml_support, "_DECLARATIONS", ())
    return str(request.param)


def refuse_quickly(body: bytes) -> BadRequest:
    started = time.perf_counter()
    with pytest.raises(BadRequest) as refused:
        parse_xml(body)
    assert time.perf_counter() - started < 0.5
    return refused.value


def test_billion_laughs_is_refused_at_once(defence: str) -> None:
    error = refuse_quickly(BILLION_LAUGHS)

    assert error.status == 400
    assert "lol" not in str(error)


def test_external_file_entity_is_refused_without_reading_the_file(defence: str, secret_file: Path) -> None:
    error = refuse_quickly(external_entity(secret_file.as_uri()))

    assert "TOP-SECRET-MARKER" not in str(error)


def test_etc_passwd_entity_is_refused(defence: str) -> None:
    error = refuse_quickly(external_entity("file:///etc/passwd"))

    assert "root:" not in str(error)


def test_external_http_entity_is_refused_without_network(
    defence: str, listening_url: tuple[str, socket.socket]
) -> None:
    url, server = listening_url

    refuse_quickly(external_entity(url))

    assert nobody_connected(server)


def test_external_dtd_is_not_fetched(defence: str, listening_url: tuple[str, socket.socket]) -> None:
    url, server = listening_url

    refuse_quickly(external_dtd(url))

    assert nobody_connected(server)


def test_doctype_without_entities_is_refused() -> None:
    error = refuse_quickly(b'<!DOCTYPE Patient><Patient xmlns="http://hl7.org/fhir"/>')

    assert error.issues[0].code == "security"


def test_another_encoding_cannot_smuggle_a_doctype_past_the_check() -> None:
    body = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE Patient><Patient xmlns="http://hl7.org/fhir"/>'

    refuse_quickly(body.encode("utf-16"))


def test_undeclared_entity_is_not_well_formed() -> None:
    error = refuse_quickly(b'<Patient xmlns="http://hl7.org/fhir"><id value="&nbsp;"/></Patient>')

    assert error.issues[0].code == "structure"


def test_xinclude_is_not_processed(secret_file: Path) -> None:
    body = (
        '<Patient xmlns="http://hl7.org/fhir" xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="{secret_file.as_uri()}" parse="text"/></Patient>'
    ).encode()

    error = refuse_quickly(body)

    assert "TOP-SECRET-MARKER" not in str(error)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = 70
    body = (
        b'<Patient xmlns="http://hl7.org/fhir">'
        + b'<extension url="http://example.org/nested">' * depth
        + b"</extension>" * depth
        + b"</Patient>"
    )

    error = refuse_quickly(body)

    assert error.issues[0].code == "too-costly"


def test_nesting_beyond_libxml2_limits_is_refused() -> None:
    depth = 10_000
    body = b'<Patient xmlns="http://hl7.org/fhir">' + b"<extension>" * depth + b"</extension>" * depth + b"</Patient>"

    refuse_quickly(body)


def test_the_depth_limit_can_be_raised_for_trusted_documents() -> None:
    depth = 70
    body = (
        b'<Patient xmlns="http://hl7.org/fhir">'
        + b'<extension url="http://example.org/nested">' * depth
        + b"</extension>" * depth
        + b"</Patient>"
    )

    assert parse_xml(body, max_depth=100)["extension"][0]["url"] == "http://example.org/nested"
