"""How FHIR XML maps onto the FHIR JSON shape, element by element."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lxml import etree

from fhirbridge.formats.json import SourceDecimal, dumps, loads
from fhirbridge.formats.xml import XML_MEDIA_TYPE, parse_xml, to_xml

FHIR = "{http://hl7.org/fhir}"


def read(inner: str, resource_type: str = "Patient") -> dict[str, Any]:
    return parse_xml(f'<{resource_type} xmlns="http://hl7.org/fhir">{inner}</{resource_type}>'.encode())


def child_names(xml: bytes) -> list[str]:
    return [element.tag.removeprefix(FHIR) for element in etree.fromstring(xml)]


def test_media_type() -> None:
    assert XML_MEDIA_TYPE == "application/fhir+xml"


def test_repeating_element_is_an_array_even_when_single() -> None:
    patient = read('<name><family value="Lee"/><given value="Ann"/></name><gender value="female"/>')

    assert patient == {
        "resourceType": "Patient",
        "name": [{"family": "Lee", "given": ["Ann"]}],
        "gender": "female",
    }


def test_numbers_and_booleans_take_their_json_types() -> None:
    patient = read('<active value="true"/><multipleBirthInteger value="-2"/>')
    timing = read(
        '<dosageInstruction><timing><repeat><count value="3"/><offset value="0"/></repeat></timing>'
        "</dosageInstruction>",
        "MedicationRequest",
    )

    assert patient["active"] is True
    assert patient["multipleBirthInteger"] == -2
    assert timing["dosageInstruction"][0]["timing"]["repeat"] == {"count": 3, "offset": 0}


def test_decimal_keeps_the_text_it_was_written_with() -> None:
    values = [
        read(f'<valueQuantity><value value="{text}"/></valueQuantity>', "Observation")["valueQuantity"]["value"]
        for text in ("1.50", "2e3", "100", "-0.0")
    ]

    assert [type(value) for value in values] == [SourceDecimal, SourceDecimal, int, SourceDecimal]
    assert dumps(values) == b"[1.50,2e3,100,-0.0]"
    assert values == loads(b"[1.50,2e3,100,-0.0]")


def test_primitive_id_and_extensions_go_to_the_underscore_sibling() -> None:
    patient = read(
        '<birthDate id="bd" value="2019-03-01">'
        '<extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">'
        '<valueDateTime value="2019-03-01T07:42:00+01:00"/></extension></birthDate>'
    )

    assert patient["birthDate"] == "2019-03-01"
    assert patient["_birthDate"] == {
        "id": "bd",
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "2019-03-01T07:42:00+01:00",
            }
        ],
    }


def test_repeating_primitives_are_null_padded_where_only_one_side_has_data() -> None:
    patient = read(
        '<name><given value="Ann"/><given><extension url="http://example.org/nickname">'
        '<valueBoolean value="true"/></extension></given><given value="Lee"/></name>'
    )

    name = patient["name"][0]
    assert name["given"] == ["Ann", None, "Lee"]
    assert name["_given"] == [
        None,
        {"extension": [{"url": "http://example.org/nickname", "valueBoolean": True}]},
        None,
    ]


def test_element_id_and_extension_url_are_attributes() -> None:
    patient = read('<name id="n1"><extension url="http://example.org/x"><valueString value="y"/></extension></name>')

    assert patient["name"] == [{"id": "n1", "extension": [{"url": "http://example.org/x", "valueString": "y"}]}]
    assert b'<name id="n1"><extension url="http://example.org/x">' in to_xml(patient)


def test_nested_resources_are_wrapped_in_their_element() -> None:
    parameters = read(
        '<parameter><name value="patient"/><resource><Patient><id value="p1"/></Patient></resource></parameter>',
        "Parameters",
    )

    assert parameters["parameter"][0]["resource"] == {"resourceType": "Patient", "id": "p1"}
    assert b'<resource><Patient><id value="p1"/></Patient></resource>' in to_xml(parameters)


def test_comments_and_schema_location_carry_no_data() -> None:
    patient = parse_xml(
        b'<?xml version="1.0" encoding="UTF-8"?><!-- header -->'
        b'<Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        b' xsi:schemaLocation="http://hl7.org/fhir ../../schema/patient.xsd">'
        b'<!-- inside --><active value="true"><!-- on a primitive --></active></Patient>'
    )

    assert patient == {"resourceType": "Patient", "active": True}


def test_narrative_reads_as_the_xhtml_string_json_expects() -> None:
    patient = read(
        '<text><status value="generated"/>'
        '<h:div xmlns:h="http://www.w3.org/1999/xhtml">'
        '<h:p class="a&amp;b">Tom &amp; "Jerry" <!-- x -->&lt;3<h:br/></h:p></h:div>'
        "</text>"
    )

    assert patient["text"]["div"] == (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p class="a&amp;b">Tom &amp; &quot;Jerry&quot; &lt;3<br/></p></div>'
    )


def test_narrative_is_embedded_as_xhtml() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Ann &amp; Lee</p></div>'
    xml = to_xml({"resourceType": "Patient", "text": {"status": "generated", "div": div}})

    embedded = etree.fromstring(xml).find(f"{FHIR}text/{{http://www.w3.org/1999/xhtml}}div")
    assert embedded is not None
    assert embedded.findtext("{http://www.w3.org/1999/xhtml}p") == "Ann & Lee"


def test_elements_are_written_in_definition_order_whatever_the_json_order() -> None:
    patient = {
        "link": [{"type": "seealso", "other": {"reference": "Patient/2"}}],
        "birthDate": "2019-03-01",
        "_birthDate": {"id": "b"},
        "name": [{"given": ["Ann"], "family": "Lee"}],
        "id": "p1",
        "resourceType": "Patient",
        "active": True,
    }

    xml = to_xml(patient)

    assert child_names(xml) == ["id", "active", "name", "birthDate", "link"]
    assert b'<name><family value="Lee"/><given value="Ann"/></name>' in xml
    assert b'<link><other><reference value="Patient/2"/></other><type value="seealso"/></link>' in xml


def test_choice_element_takes_the_position_of_its_choice() -> None:
    observation = {
        "resourceType": "Observation",
        "interpretation": [{"text": "high"}],
        "valueString": "x",
        "status": "final",
    }

    assert child_names(to_xml(observation)) == ["status", "valueString", "interpretation"]


def test_values_are_escaped_and_keep_their_whitespace() -> None:
    patient = {"resourceType": "Patient", "name": [{"text": 'Ann "A" <Lee> & co\n\tline two'}]}

    xml = to_xml(patient)

    assert parse_xml(xml) == patient
    assert b"&quot;A&quot; &lt;Lee&gt; &amp; co&#10;&#9;line two" in xml


def test_decimals_are_written_as_they_were_read() -> None:
    observation = loads(b'{"resourceType": "Observation", "valueQuantity": {"value": 1.50e0}}')
    observation["component"] = [{"code": {"text": "t"}, "valueQuantity": {"value": Decimal("0.10")}}]

    xml = to_xml(observation)

    assert b'<value value="1.50e0"/>' in xml
    assert b'<value value="0.10"/>' in xml


def test_pretty_output_indents_each_element() -> None:
    xml = to_xml({"resourceType": "Patient", "name": [{"family": "Lee"}]}, pretty=True)

    assert xml.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Patient xmlns="http://hl7.org/fhir">\n'
        "  <name>\n"
        '    <family value="Lee"/>\n'
        "  </name>\n"
        "</Patient>\n"
    )


def test_compact_output_has_no_whitespace_between_elements() -> None:
    xml = to_xml({"resourceType": "Patient", "id": "p1", "active": False})

    assert xml == (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<Patient xmlns="http://hl7.org/fhir"><id value="p1"/><active value="false"/></Patient>'
    )
