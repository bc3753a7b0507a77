"""$validate over HTTP: a resource, a Parameters with a profile, and a stored instance."""

from __future__ import annotations

import httpx

from fhirbridge.config import Settings
from tests.conftest import LiveServer

US_CORE_PATIENT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"


def errors(outcome: dict[str, object]) -> list[dict[str, object]]:
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]  # type: ignore[attr-defined]


def test_validate_a_resource(client: httpx.Client) -> None:
    good = client.post("/Patient/$validate", json={"resourceType": "Patient", "gender": "female"})
    assert good.status_code == 200
    assert good.json()["resourceType"] == "OperationOutcome"
    assert not errors(good.json())
    bad = client.post("/Patient/$validate", json={"resourceType": "Patient", "gender": "sometimes"})
    assert bad.status_code == 200
    found = errors(bad.json())
    assert found and found[0]["expression"][0].startswith("Patient.gender")  # type: ignore[index]


def test_validate_against_a_named_profile(client: httpx.Client) -> None:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient", "gender": "female"}},
            {"name": "profile", "valueUri": US_CORE_PATIENT},
        ],
    }
    outcome = client.post("/Patient/$validate", json=parameters).json()
    # US Core requires identifier and name, which this patient lacks.
    text = " ".join(str(issue["diagnostics"]) for issue in errors(outcome))
    assert "Patient.identifier" in text and "Patient.name" in text


def test_validate_a_stored_instance(client: httpx.Client) -> None:
    client.put("/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    outcome = client.get("/Patient/p1/$validate", params={"profile": US_CORE_PATIENT}).json()
    assert errors(outcome)
    assert client.get("/Patient/nobody/$validate").status_code == 404


def test_profile_validation_on_write_when_enabled(repository: object) -> None:
    server = LiveServer(repository, Settings(auth_disabled=True, validate_profiles_on_write=True))  # type: ignore[arg-type]
    server.start()
    try:
        server.reset()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            claims = {"resourceType": "Patient", "meta": {"profile": [US_CORE_PATIENT]}, "gender": "female"}
            refused = http.post("/Patient", json=claims)
            assert refused.status_code == 422
            assert refused.json()["resourceType"] == "OperationOutcome"
            assert http.post("/Patient", json={"resourceType": "Patient", "gender": "female"}).status_code == 201
    finally:
        server.stop()
