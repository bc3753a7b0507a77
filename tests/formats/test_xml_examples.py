"""Every official R4 example survives XML in both directions."""

from __future__ import annotations

from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from lxml import etree

from fhirbridge.formats.json import loads
from fhirbridge.formats.xml import parse_xml, to_xml

from .fhir_examples import differences, json_examples, json_twin, without_meta_and_narrative, xml_examples


@pytest.mark.parametrize("xml_file", xml_examples(), ids=lambda path: path.stem)
def test_xml_example_reads_as_its_json_twin(xml_file: Path) -> None:
    from_xml = parse_xml(xml_file.read_bytes())
    from_json = loads(json_twin(xml_file).read_bytes())

    assert differences(without_meta_and_narrative(from_xml), without_meta_and_narrative(from_json)) == []


def test_every_xml_example_has_a_json_twin() -> None:
    assert all(json_twin(xml_file).is_file() for xml_file in xml_examples())


@pytest.mark.parametrize("json_file", json_examples(), ids=lambda path: path.stem)
def test_json_example_comes_back_exactly_from_xml(json_file: Path) -> None:
    resource = loads(json_file.read_bytes())

    xml = to_xml(resource)

    assert differences(parse_xml(xml), resource) == []
    assert etree.fromstring(xml).tag == "{http://hl7.org/fhir}" + resource["resourceType"]


@pytest.mark.parametrize("json_file", json_examples(), ids=lambda path: path.stem)
def test_xml_written_from_json_satisfies_fhir_resources(json_file: Path) -> None:
    resource = loads(json_file.read_bytes())
    model = get_fhir_model_class(resource["resourceType"])

    parsed = model.model_validate_xml(to_xml(resource))

    assert parsed.model_dump().get("id") == resource.get("id")


def test_pretty_xml_reads_back_the_same() -> None:
    resource = loads((json_examples()[0]).read_bytes())

    pretty = to_xml(resource, pretty=True)

    assert pretty.count(b"\n") > 10
    assert differences(parse_xml(pretty), resource) == []
