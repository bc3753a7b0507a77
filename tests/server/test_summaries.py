"""A discharge planner's "give me everything about this child": $everything, $summary, $document."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.formats.xml import parse_xml
from tests.factories import put

CHILD = "Patient/child-1"


def ids(bundle: dict[str, Any]) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])}


def test_everything_returns_the_compartment_and_what_it_references(client: httpx.Client, record: None) -> None:
    bundle = client.get("/Patient/child-1/$everything").json()
    assert ids(bundle) == {
        "Patient/child-1",
        "Condition/cp",
        "Goal/g1",
        "CarePlan/plan",
        "CarePlan/emergency",
        "Task/referral",
        "ServiceRequest/ortho",
        "Practitioner/dr-pcp",
    }


def test_everything_filters_by_type_and_pages(client: httpx.Client, record: None) -> None:
    goals = client.get("/Patient/child-1/$everything", params={"_type": "Goal,CarePlan"}).json()
    assert ids(goals) == {"Goal/g1", "CarePlan/plan", "CarePlan/emergency"}
    first = client.get("/Patient/child-1/$everything", params={"_count": 4}).json()
    assert first["total"] == 8 and len(first["entry"]) == 4
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    rest = client.get(following).json()
    assert ids(first) | ids(rest) == ids(client.get("/Patient/child-1/$everything").json())
    assert client.get("/Patient/nobody/$everything").status_code == 404


def test_summary_is_a_document_with_a_section_per_part_of_the_plan(client: httpx.Client, record: None) -> None:
    document = client.get("/Patient/child-1/$summary").json()
    assert document["type"] == "document"
    composition = document["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["type"]["coding"][0]["code"] == "60591-5"
    sections = {s["title"]: s for s in composition["section"]}
    assert [e["reference"] for e in sections["Problems"]["entry"]] == ["Condition/cp"]
    assert {e["reference"] for e in sections["Working care plan"]["entry"]} == {"CarePlan/plan", "Goal/g1"}
    assert [e["reference"] for e in sections["Emergency treatment plan"]["entry"]] == ["CarePlan/emergency"]
    assert [e["reference"] for e in sections["Open referrals"]["entry"]] == ["ServiceRequest/ortho", "Task/referral"]
    assert "emptyReason" in sections["Allergies and intolerances"]
    assert all("<div" in s["text"]["div"] for s in composition["section"])
    assert "Cerebral palsy" in sections["Problems"]["text"]["div"]
    assert "Goal/other" not in ids(document)


def test_summary_in_xml_and_html(client: httpx.Client, record: None) -> None:
    xml = client.get("/Patient/child-1/$summary", headers={"Accept": "application/fhir+xml"})
    assert parse_xml(xml.content)["type"] == "document"
    page = client.get("/Patient/child-1/$summary", params={"_format": "html"})
    assert page.headers["Content-Type"].startswith("text/html")
    for heading in ("Working care plan", "Emergency treatment plan", "Care team", "Open referrals"):
        assert heading in page.text


def test_document_of_a_stored_composition(client: httpx.Client, record: None) -> None:
    composition = client.get("/Patient/child-1/$summary").json()["entry"][0]["resource"]
    put(client, composition)
    document = client.get(f"/Composition/{composition['id']}/$document").json()
    assert document["type"] == "document"
    assert {"Patient/child-1", "Condition/cp", "CarePlan/emergency"} <= ids(document)


def test_functional_status_is_summarised_where_known(client: httpx.Client, record: None) -> None:
    before = client.get("/Patient/child-1/$summary").json()["entry"][0]["resource"]
    # Nothing recorded: no section at all (IPS makes it optional), rather than one saying "none".
    assert not [s for s in before["section"] if s["code"]["coding"][0]["code"] == "47420-5"]
    category = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}
    functional = {
        "coding": [
            {
                "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-category",
                "code": "functional-status",
            }
        ]
    }
    mobility = {
        "resourceType": "Observation",
        "id": "mobility",
        "status": "final",
        "category": [category, functional],
        "code": {"text": "Mobility"},
        "subject": {"reference": CHILD},
        "effectiveDateTime": "2026-11-02",
        "valueString": "Walks with a posterior walker indoors; wheelchair for distances",
    }
    put(client, mobility)
    put(client, {**mobility, "id": "old-mobility", "status": "entered-in-error", "valueString": "Crawls"})
    composition = client.get("/Patient/child-1/$summary").json()["entry"][0]["resource"]
    section = next(s for s in composition["section"] if s["code"]["coding"][0]["code"] == "47420-5")
    assert [entry["reference"] for entry in section["entry"]] == ["Observation/mobility"]
    assert "Mobility: Walks with a posterior walker indoors; wheelchair for distances" in section["text"]["div"]
    assert "Crawls" not in section["text"]["div"]
