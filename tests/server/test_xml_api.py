"""FHIR XML over HTTP: every official XML example goes in as XML and comes back, in JSON and in XML,
semantically equal to its JSON twin; hostile XML is refused at once."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fhirbridge.engine.resource_types import ID_PATTERN
from fhirbridge.formats.json import loads
from fhirbridge.formats.xml import parse_xml
from tests.conftest import LiveServer
from tests.formats.fhir_examples import differences, json_twin, without_meta_and_narrative, xml_examples

XML = "application/fhir+xml"


@pytest.fixture
def examples_client(migration_server: LiveServer) -> Iterator[httpx.Client]:
    """The examples refer to resources of HL7's example server, not this one: loaded as a migration would."""
    migration_server.reset()
    with httpx.Client(base_url=migration_server.url, timeout=30) as http:
        yield http


def test_every_xml_example_round_trips_through_the_api(examples_client: httpx.Client) -> None:
    client = examples_client
    failures: list[str] = []
    for path in xml_examples():
        twin = without_meta_and_narrative(loads(json_twin(path).read_bytes()))
        resource_type, id = twin["resourceType"], twin.get("id")
        headers = {"Content-Type": XML, "Accept": XML}
        if id and ID_PATTERN.match(id):
            url = f"/{resource_type}/{id}"
            stored = client.put(url, content=path.read_bytes(), headers=headers)
        else:
            stored = client.post(f"/{resource_type}", content=path.read_bytes(), headers=headers)
            url = f"/{resource_type}/{parse_xml(stored.content).get('id')}"
            twin.pop("id", None)
        if stored.status_code not in (200, 201):
            failures.append(f"{path.name}: {stored.status_code} {stored.text[:200]}")
            continue
        as_json = without_meta_and_narrative(
            loads(client.get(url, headers={"Accept": "application/fhir+json"}).content)
        )
        as_xml = without_meta_and_narrative(parse_xml(client.get(url, params={"_format": "xml"}).content))
        if "id" not in twin:
            as_json.pop("id", None)
            as_xml.pop("id", None)
        for label, back in (("json", as_json), ("xml", as_xml)):
            found = differences(twin, back)
            if found:
                failures.append(f"{path.name} ({label}): {found[:3]}")
    assert not failures, "\n".join(failures)


def test_format_is_chosen_by_accept_and_format_parameter(client: httpx.Client) -> None:
    client.put("/Patient/p1", json={"resourceType": "Patient", "id": "p1", "gender": "female"})
    by_accept = client.get("/Patient/p1", headers={"Accept": XML})
    assert by_accept.headers["Content-Type"].startswith(XML)
    assert b'<gender value="female"/>' in by_accept.content
    by_param = client.get("/Patient/p1", params={"_format": "application/fhir+xml"}, headers={"Accept": "*/*"})
    assert by_param.headers["Content-Type"].startswith(XML)
    pretty = client.get("/Patient/p1", params={"_format": "json", "_pretty": "true"})
    assert pretty.text.count("\n") > 3


def test_errors_come_back_in_the_requested_format(client: httpx.Client) -> None:
    response = client.get("/Patient/nobody", headers={"Accept": XML})
    assert response.status_code == 404
    assert parse_xml(response.content)["resourceType"] == "OperationOutcome"


def test_billion_laughs_is_refused(client: httpx.Client) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">' for n in range(1, 10)
        )
        + ']><Patient xmlns="http://hl7.org/fhir"><name><family value="&lol9;"/></name></Patient>'
    )
    response = client.post("/Patient", content=bomb.encode(), headers={"Content-Type": XML})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_external_entities_are_refused(client: httpx.Client) -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<Patient xmlns="http://hl7.org/fhir"><name><family value="&xxe;"/></name></Patient>'
    )
    response = client.post("/Patient", content=xxe.encode(), headers={"Content-Type": XML})
    assert response.status_code == 400
    assert "root:" not in response.text


def test_unknown_xml_element_is_400_naming_it(client: httpx.Client) -> None:
    body = b'<Patient xmlns="http://hl7.org/fhir"><nickname value="Teo"/></Patient>'
    response = client.post("/Patient", content=body, headers={"Content-Type": XML})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.nickname"]
