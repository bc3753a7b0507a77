"""Anything that is not FHIR XML is a 400 whose expression names the offending element."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.errors import BadRequest
from fhirbridge.formats.xml import parse_xml, to_xml


def refusal(body: str) -> BadRequest:
    with pytest.raises(BadRequest) as refused:
        parse_xml(body.encode())
    return refused.value


def patient(inner: str) -> str:
    return f'<Patient xmlns="http://hl7.org/fhir">{inner}</Patient>'


@pytest.mark.parametrize(
    ("inner", "expression"),
    [
        ('<foo value="1"/>', "Patient.foo"),
        ('<name><family value="Lee"/><nickname value="Al"/></name>', "Patient.name[0].nickname"),
        (
            '<name><given value="A"/></name><name><given value="B"><bad/></given></name>',
            "Patient.name[1].given[0].bad",
        ),
        ('<contact><name><use value="usual"/></name><zzz/></contact>', "Patient.contact[0].zzz"),
        ('<active value="yes"/>', "Patient.active"),
        ('<multipleBirthInteger value="two"/>', "Patient.multipleBirthInteger"),
        ('<gender value="male"/><gender value="female"/>', "Patient.gender"),
        ("<birthDate/>", "Patient.birthDate"),
        ('<name colour="blue"/>', "Patient.name[0].colour"),
        ("<contained><Patient><foo/></Patient></contained>", "Patient.contained[0].foo"),
        ("<contained><Unicorn/></contained>", "Patient.contained[0]"),
        ('<x:foo xmlns:x="http://example.org/other"/>', "Patient.foo"),
        ("<name>Peter</name>", "Patient.name[0]"),
    ],
)
def test_problem_is_located(inner: str, expression: str) -> None:
    error = refusal(patient(inner))

    assert error.status == 400
    assert error.issues[0].expression == (expression,)


def test_resource_inside_a_bundle_is_located_through_the_entry() -> None:
    body = (
        '<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/>'
        '<entry><resource><Patient><active value="true"/></Patient></resource></entry>'
        '<entry><resource><Patient><foo value="1"/></Patient></resource></entry></Bundle>'
    )

    assert refusal(body).issues[0].expression == ("Bundle.entry[1].resource.foo",)


def test_extension_on_a_primitive_is_located() -> None:
    body = patient(
        '<birthDate value="2019-01-01"><extension url="http://x"><valueFoo value="1"/></extension></birthDate>'
    )

    assert refusal(body).issues[0].expression == ("Patient.birthDate.extension[0].valueFoo",)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("<Patient", "structure"),
        ("not xml at all", "structure"),
        ("", "structure"),
        ("<Patient/>", "structure"),  # no FHIR namespace
        ('<Patient xmlns="http://hl7.org/fhir/other"/>', "structure"),
        ('<Unicorn xmlns="http://hl7.org/fhir"/>', "not-supported"),
        ('<Element xmlns="http://hl7.org/fhir"/>', "not-supported"),
    ],
)
def test_document_that_is_not_a_fhir_resource_is_refused(body: str, code: str) -> None:
    assert refusal(body).issues[0].code == code


@pytest.mark.parametrize("value", ["01", "1.5", " 1", "1_000", "+1", "99999999999999999999999"])
def test_integer_must_be_written_as_fhir_says(value: str) -> None:
    error = refusal(patient(f'<multipleBirthInteger value="{value}"/>'))

    assert error.issues[0].code == "value"


@pytest.mark.parametrize("value", ["1.", ".5", "1,5", "NaN", "Infinity", "0x10", "1e"])
def test_decimal_must_be_written_as_fhir_says(value: str) -> None:
    body = (
        '<Observation xmlns="http://hl7.org/fhir">'
        f'<valueQuantity><value value="{value}"/></valueQuantity></Observation>'
    )

    assert refusal(body).issues[0].expression == ("Observation.valueQuantity.value",)


def test_narrative_must_be_xhtml() -> None:
    body = patient('<text><status value="generated"/><div><p>not xhtml</p></div></text>')

    assert refusal(body).issues[0].expression == ("Patient.text.div",)


def test_narrative_may_not_hold_other_namespaces() -> None:
    body = patient(
        '<text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">'
        '<svg xmlns="http://www.w3.org/2000/svg"/></div></text>'
    )

    assert refusal(body).issues[0].expression == ("Patient.text.div",)


def write_refusal(resource: dict[str, Any]) -> BadRequest:
    with pytest.raises(BadRequest) as refused:
        to_xml(resource)
    return refused.value


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Patient", "foo": 1}, "Patient.foo"),
        ({"resourceType": "Patient", "name": [{"family": "A"}, {"nick": "B"}]}, "Patient.name[1].nick"),
        ({"resourceType": "Patient", "name": {"family": "A"}}, "Patient.name"),
        ({"resourceType": "Patient", "name": [{"given": ["A", None]}]}, "Patient.name[0].given[1]"),
        ({"resourceType": "Patient", "_gender": {"colour": "x"}}, "Patient.gender"),
        ({"resourceType": "Patient", "gender": {"code": "male"}}, "Patient.gender"),
        (
            {"resourceType": "Patient", "text": {"status": "generated", "div": "<div>unclosed"}},
            "Patient.text.div",
        ),
        ({"resourceType": "Patient", "contained": [{"resourceType": "Unicorn"}]}, "Patient.contained[0]"),
        ({"resourceType": "Patient", "name": [{"family": "bell\x07"}]}, "Patient.name[0].family"),
        ({"resourceType": "Unicorn"}, "Unicorn"),
    ],
)
def test_writing_what_fhir_cannot_say_is_located(resource: dict[str, Any], expression: str) -> None:
    assert write_refusal(resource).issues[0].expression == (expression,)
