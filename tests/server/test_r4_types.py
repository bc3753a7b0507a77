"""fhirbridge claims R4 (4.0.1), so it serves R4's 146 resource types, not those of the R4B models it
parses with: R4B-only types are unknown, R4-only ones are served, and the CapabilityStatement validates
against the R4 definitions."""

from __future__ import annotations

import httpx

from fhirbridge.engine.resource_types import resource_types
from fhirbridge.validation import validate_resource

MEDICINAL_PRODUCT = {
    "resourceType": "MedicinalProduct",
    "id": "levetiracetam-250",
    "name": [{"productName": "Levetiracetam 250 mg tablet"}],
}


def test_the_types_are_r4s() -> None:
    types = resource_types()
    assert len(types) == 146
    assert {"MedicinalProduct", "EffectEvidenceSynthesis", "SubstancePolymer"} <= types
    assert not {"Citation", "SubscriptionTopic", "SubscriptionStatus", "Ingredient"} & types


def test_a_type_only_r4b_has_is_not_served(client: httpx.Client) -> None:
    answer = client.put("/Citation/c1", json={"resourceType": "Citation", "id": "c1", "status": "active"})
    assert answer.status_code == 404
    assert answer.json()["issue"][0]["code"] == "not-supported"
    assert client.get("/SubscriptionTopic").status_code == 404


def test_a_type_only_r4_has_is_served_searched_and_validated(client: httpx.Client) -> None:
    assert client.put("/MedicinalProduct/levetiracetam-250", json=MEDICINAL_PRODUCT).status_code == 201
    read = client.get("/MedicinalProduct/levetiracetam-250").json()
    assert read["name"] == MEDICINAL_PRODUCT["name"]
    found = client.get("/MedicinalProduct", params={"_id": "levetiracetam-250"}).json()
    assert [entry["resource"]["id"] for entry in found["entry"]] == ["levetiracetam-250"]
    checked = client.post("/MedicinalProduct/$validate", json=MEDICINAL_PRODUCT).json()
    assert not [issue for issue in checked["issue"] if issue["severity"] in ("error", "fatal")]
    wrong = client.put("/MedicinalProduct/x", json={**MEDICINAL_PRODUCT, "id": "x", "strength": "high"})
    assert wrong.status_code == 400
    assert wrong.json()["issue"][0]["expression"] == ["MedicinalProduct.strength"]


def test_the_capability_statement_is_valid_r4(client: httpx.Client) -> None:
    capability = client.get("/metadata").json()
    assert {resource["type"] for resource in capability["rest"][0]["resource"]} == resource_types()
    errors = [issue for issue in validate_resource(capability) if issue.severity in ("error", "fatal")]
    assert not errors, errors
