"""The value sets and code systems the instruments reference are served, found by url, expanded,
validated against and looked up, over HTTP on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhirbridge.assessment import assessment_questionnaire, screening_questionnaire
from fhirbridge.engine.terminology import published_terminology
from tests.conftest import LiveServer
from tests.security.conftest import CHILD, client_as, token_for

Resource = dict[str, Any]

BASE = "http://fhirbridge.org/fhir"
ASSESSMENT = f"{BASE}/CodeSystem/care-coordination-assessment"
COMPLEXITY = f"{BASE}/CodeSystem/complexity-level"
FREQUENCY = f"{BASE}/ValueSet/cc-frequency"
FREQUENCY_CODES = ["never", "rarely", "sometimes", "often", "always"]


@pytest.fixture
def terminology(server: LiveServer) -> Iterator[httpx.Client]:
    """A client of a server that has published its terminology, as it does when it starts (the store is
    emptied between tests)."""
    server.app.services.terminology.publish()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def answer_value_sets(items: list[Resource]) -> set[str]:
    found = set()
    for item in items:
        if isinstance(item.get("answerValueSet"), str):
            found.add(item["answerValueSet"])
        found |= answer_value_sets(item.get("item", []))
    return found


def parameters(response: httpx.Response) -> dict[str, Any]:
    """A Parameters answer as name -> value (the value[x], or the parts of a part-only parameter)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    found: dict[str, Any] = {}
    for parameter in body["parameter"]:
        values = [value for key, value in parameter.items() if key.startswith("value")]
        found.setdefault(parameter["name"], []).append(values[0] if values else parameter["part"])
    return {name: values[0] if len(values) == 1 else values for name, values in found.items()}


def _all(value: Any) -> list[Any]:
    """A repeated parameter's values (``parameters`` gives a lone one as itself)."""
    return value if isinstance(value, list) and value and isinstance(value[0], list) else [value]


def codes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [concept["code"] for concept in response.json()["expansion"].get("contains", [])]


def outcome(response: httpx.Response) -> Resource:
    issue: Resource = response.json()["issue"][0]
    return issue


# -- served -------------------------------------------------------------------------------------------------


def test_every_value_set_the_instruments_reference_is_served(terminology: httpx.Client) -> None:
    referenced = answer_value_sets(assessment_questionnaire()["item"]) | answer_value_sets(
        screening_questionnaire()["item"]
    )
    assert referenced, "the instruments bind their answers to value sets"
    for url in sorted(referenced):
        found = terminology.get("/ValueSet", params={"url": url}).json()
        assert [entry["resource"]["url"] for entry in found.get("entry", [])] == [url]
        id = found["entry"][0]["resource"]["id"]
        assert terminology.get(f"/ValueSet/{id}").json()["url"] == url


def test_every_published_code_system_and_value_set_is_read_by_id_and_url(terminology: httpx.Client) -> None:
    for published in published_terminology():
        kind, id, url = published["resourceType"], published["id"], published["url"]
        read = terminology.get(f"/{kind}/{id}")
        assert read.status_code == 200, f"{kind}/{id}"
        assert read.json()["version"] == published["version"]
        found = terminology.get(f"/{kind}", params={"url": url, "version": published["version"]}).json()
        assert [entry["resource"]["id"] for entry in found["entry"]] == [id]


def test_publishing_again_changes_nothing(server: LiveServer, terminology: httpx.Client) -> None:
    server.app.services.terminology.publish()
    history = terminology.get("/ValueSet/cc-frequency/_history").json()
    assert history["total"] == 1


def test_the_capability_statement_declares_the_terminology_operations(client: httpx.Client) -> None:
    resources = {entry["type"]: entry for entry in client.get("/metadata").json()["rest"][0]["resource"]}
    assert {"expand", "validate-code"} <= {op["name"] for op in resources["ValueSet"]["operation"]}
    assert {"lookup", "validate-code"} <= {op["name"] for op in resources["CodeSystem"]["operation"]}
    assert "url" in {param["name"] for param in resources["ValueSet"]["searchParam"]}
    assert "url" in {param["name"] for param in resources["CodeSystem"]["searchParam"]}


# -- $expand ------------------------------------------------------------------------------------------------


def test_expand_by_url_and_by_id(terminology: httpx.Client) -> None:
    by_url = terminology.get("/ValueSet/$expand", params={"url": FREQUENCY})
    assert codes(by_url) == FREQUENCY_CODES
    expansion = by_url.json()["expansion"]
    assert expansion["total"] == 5
    assert expansion["contains"][0] == {"system": ASSESSMENT, "code": "never", "display": "Never"}
    assert by_url.json()["url"] == FREQUENCY
    assert codes(terminology.get("/ValueSet/cc-frequency/$expand")) == FREQUENCY_CODES
    posted = terminology.post(
        "/ValueSet/$expand",
        json={"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": FREQUENCY}]},
    )
    assert codes(posted) == FREQUENCY_CODES


def test_expand_filters_and_pages(terminology: httpx.Client) -> None:
    filtered = terminology.get("/ValueSet/cc-frequency/$expand", params={"filter": "TIMES"})
    assert codes(filtered) == ["sometimes"]
    paged = terminology.get("/ValueSet/cc-frequency/$expand", params={"count": 2, "offset": 1})
    assert codes(paged) == ["rarely", "sometimes"]
    expansion = paged.json()["expansion"]
    assert (expansion["total"], expansion["offset"]) == (5, 1)
    assert {"name": "count", "valueInteger": 2} in expansion["parameter"]
    past_the_end = terminology.get("/ValueSet/cc-frequency/$expand", params={"offset": 9})
    assert codes(past_the_end) == [] and past_the_end.json()["expansion"]["total"] == 5
    bad = terminology.get("/ValueSet/cc-frequency/$expand", params={"count": "many"})
    assert bad.status_code == 400 and outcome(bad)["expression"] == ["count"]


def test_expand_a_value_set_sent_with_the_request(terminology: httpx.Client) -> None:
    """A whole code system included, less what is excluded, and another value set imported."""
    value_set = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [{"system": COMPLEXITY}, {"valueSet": [f"{BASE}/ValueSet/cc-needs-met"]}],
            "exclude": [{"system": COMPLEXITY, "concept": [{"code": "moderate"}]}],
        },
    }
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": value_set}]}
    expanded = terminology.post("/ValueSet/$expand", json=body)
    assert codes(expanded) == ["high", "low", "met-fully", "met-partly", "met-not"]
    assert expanded.json()["expansion"]["contains"][0]["display"] == "High complexity"


def test_what_cannot_be_expanded_is_refused(terminology: httpx.Client) -> None:
    unknown = terminology.get("/ValueSet/$expand", params={"url": f"{BASE}/ValueSet/no-such"})
    assert unknown.status_code == 404 and outcome(unknown)["expression"] == ["url"]
    assert terminology.get("/ValueSet/no-such/$expand").status_code == 404
    assert terminology.get("/ValueSet/$expand").status_code == 400  # neither url nor valueSet
    by_filter = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [{"system": COMPLEXITY, "filter": [{"property": "concept", "op": "is-a", "value": "x"}]}]
        },
    }
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": by_filter}]}
    refused = terminology.post("/ValueSet/$expand", json=body)
    assert refused.status_code == 422 and outcome(refused)["code"] == "not-supported"
    other_system = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": "http://loinc.org"}]},
    }
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": other_system}]}
    assert terminology.post("/ValueSet/$expand", json=body).status_code == 422


# -- $validate-code -----------------------------------------------------------------------------------------


def test_validate_code_in_a_value_set(terminology: httpx.Client) -> None:
    valid = terminology.get(
        "/ValueSet/$validate-code", params={"url": FREQUENCY, "system": ASSESSMENT, "code": "often"}
    )
    assert parameters(valid) == {"result": True, "display": "Often"}
    outside = parameters(terminology.get("/ValueSet/cc-frequency/$validate-code", params={"code": "met-fully"}))
    assert outside["result"] is False and "met-fully" in outside["message"]
    other_system = {"url": FREQUENCY, "system": COMPLEXITY, "code": "often"}
    assert parameters(terminology.get("/ValueSet/$validate-code", params=other_system))["result"] is False
    wrong_display = {"system": ASSESSMENT, "code": "often", "display": "Never"}
    answer = parameters(terminology.get("/ValueSet/cc-frequency/$validate-code", params=wrong_display))
    assert answer["result"] is False and answer["display"] == "Often" and "Never" in answer["message"]
    same_display = {"system": ASSESSMENT, "code": "often", "display": "often"}
    assert parameters(terminology.get("/ValueSet/cc-frequency/$validate-code", params=same_display))["result"]


def test_validate_a_coding_or_a_codeable_concept(terminology: httpx.Client) -> None:
    coding = {"system": ASSESSMENT, "code": "always", "display": "Always"}
    body = {"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": coding}]}
    assert parameters(terminology.post("/ValueSet/cc-frequency/$validate-code", json=body))["result"] is True
    concept = {"coding": [{"system": "http://snomed.info/sct", "code": "12345"}, coding], "text": "Always"}
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": FREQUENCY},
            {"name": "codeableConcept", "valueCodeableConcept": concept},
        ],
    }
    assert parameters(terminology.post("/ValueSet/$validate-code", json=body))["result"] is True
    missing = terminology.get("/ValueSet/cc-frequency/$validate-code")
    assert missing.status_code == 400 and outcome(missing)["expression"] == ["code"]


def test_validate_code_in_a_code_system(terminology: httpx.Client) -> None:
    valid = terminology.get("/CodeSystem/$validate-code", params={"url": COMPLEXITY, "code": "high"})
    assert parameters(valid) == {"result": True, "display": "High complexity"}
    assert parameters(terminology.get("/CodeSystem/complexity-level/$validate-code", params={"code": "high"}))["result"]
    unknown = parameters(terminology.get("/CodeSystem/complexity-level/$validate-code", params={"code": "extreme"}))
    assert unknown["result"] is False and "extreme" in unknown["message"]
    elsewhere = {"system": ASSESSMENT, "code": "high"}
    body = {"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": elsewhere}]}
    answer = parameters(terminology.post("/CodeSystem/complexity-level/$validate-code", json=body))
    assert answer["result"] is False and ASSESSMENT in answer["message"]


# -- $lookup ------------------------------------------------------------------------------------------------


def test_lookup_a_code(terminology: httpx.Client) -> None:
    found = parameters(terminology.get("/CodeSystem/$lookup", params={"system": COMPLEXITY, "code": "moderate"}))
    assert found["name"] == "ComplexityLevel"
    assert found["version"] == "1.0.0"
    assert found["display"] == "Moderate complexity"
    properties = {parts[0]["valueCode"]: parts[1] for parts in _all(found["property"])}
    assert "quarterly" in properties["definition"]["valueString"]
    coding = {"system": ASSESSMENT, "code": "often"}
    body = {"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": coding}]}
    assert parameters(terminology.post("/CodeSystem/$lookup", json=body))["display"] == "Often"


def test_lookup_of_an_unknown_code_or_system_is_not_found(terminology: httpx.Client) -> None:
    code = terminology.get("/CodeSystem/$lookup", params={"system": COMPLEXITY, "code": "extreme"})
    assert code.status_code == 404
    assert (outcome(code)["code"], outcome(code)["expression"]) == ("not-found", ["code"])
    system = terminology.get("/CodeSystem/$lookup", params={"system": f"{BASE}/CodeSystem/none", "code": "x"})
    assert system.status_code == 404 and outcome(system)["expression"] == ["system"]
    assert terminology.get("/CodeSystem/$lookup", params={"code": "high"}).status_code == 400


def test_a_value_set_stored_here_is_found_before_the_published_one(terminology: httpx.Client) -> None:
    """A practice's own version of a value set (here: a shorter answer list) is what its url names."""
    local = {
        "resourceType": "ValueSet",
        "id": "local-frequency",
        "url": f"{BASE}/ValueSet/local-frequency",
        "version": "2",
        "status": "active",
        "compose": {"include": [{"system": ASSESSMENT, "concept": [{"code": "never"}, {"code": "often"}]}]},
    }
    assert terminology.put("/ValueSet/local-frequency", json=local).status_code == 201
    expanded = terminology.get("/ValueSet/$expand", params={"url": f"{BASE}/ValueSet/local-frequency|2"})
    assert codes(expanded) == ["never", "often"]
    assert expanded.json()["expansion"]["contains"][1]["display"] == "Often"  # from the code system
    gone = terminology.get(
        "/ValueSet/$expand", params={"url": f"{BASE}/ValueSet/local-frequency", "valueSetVersion": "3"}
    )
    assert gone.status_code == 404


# -- under authentication: directory data, read as the scopes allow --------------------------------------------


def test_terminology_is_directory_data_read_as_the_scopes_allow(secure_live_server: LiveServer) -> None:
    secure_live_server.reset()
    secure_live_server.app.services.terminology.publish()
    family = client_as(secure_live_server, token_for("family", patient=CHILD))
    partner = client_as(secure_live_server, token_for("referral-partner", org="school-1"))
    with family, partner:
        # A family's token is confined to its child, and still reads the shared definitions.
        assert family.get("/ValueSet/cc-frequency").status_code == 200
        assert codes(family.get("/ValueSet/cc-frequency/$expand")) == FREQUENCY_CODES
        assert parameters(family.get("/CodeSystem/$lookup", params={"system": COMPLEXITY, "code": "low"}))["display"]
        assert family.put("/ValueSet/cc-frequency", json=family.get("/ValueSet/cc-frequency").json()).status_code == 403
        # A token without ValueSet or CodeSystem scopes reads none of them, by operation either.
        assert partner.get("/ValueSet/cc-frequency").status_code == 403
        assert partner.get("/ValueSet/$expand", params={"url": FREQUENCY}).status_code == 403
        assert partner.get("/CodeSystem/$lookup", params={"system": COMPLEXITY, "code": "low"}).status_code == 403
