"""Every error a client can cause is an OperationOutcome with the right status, never a 500."""

from __future__ import annotations

import httpx
import pytest


def outcome(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


def test_malformed_json_is_400(client: httpx.Client) -> None:
    outcome(client.post("/Patient", content=b"{not json", headers={"Content-Type": "application/fhir+json"}), 400)


def test_unknown_element_is_400_naming_it(client: httpx.Client) -> None:
    body = outcome(client.post("/Patient", json={"resourceType": "Patient", "nickname": "Teo"}), 400)
    assert body["issue"][0]["expression"] == ["Patient.nickname"]  # type: ignore[index]


def test_invalid_value_is_422_naming_the_element(client: httpx.Client) -> None:
    body = outcome(client.post("/Patient", json={"resourceType": "Patient", "birthDate": "yesterday"}), 422)
    assert body["issue"][0]["expression"] == ["Patient.birthDate"]  # type: ignore[index]


def test_missing_required_element_is_422(client: httpx.Client) -> None:
    body = outcome(client.post("/Observation", json={"resourceType": "Observation", "code": {"text": "x"}}), 422)
    assert body["issue"][0]["expression"] == ["Observation.status"]  # type: ignore[index]


def test_empty_array_is_422(client: httpx.Client) -> None:
    body = outcome(client.post("/Patient", json={"resourceType": "Patient", "name": []}), 422)
    assert body["issue"][0]["expression"] == ["Patient.name"]  # type: ignore[index]


def test_id_mismatch_and_bad_id(client: httpx.Client) -> None:
    outcome(client.put("/Patient/a1", json={"resourceType": "Patient", "id": "b2"}), 400)
    outcome(client.put("/Patient/a1", json={"resourceType": "Patient"}), 400)
    outcome(client.put("/Patient/bad_id!", json={"resourceType": "Patient", "id": "bad_id!"}), 400)
    outcome(client.get("/Patient/" + "x" * 65), 400)


def test_type_mismatch_is_400(client: httpx.Client) -> None:
    outcome(client.post("/Patient", json={"resourceType": "Goal"}), 400)


def test_unknown_type_and_id_are_404(client: httpx.Client) -> None:
    outcome(client.get("/Spaceship/1"), 404)
    outcome(client.get("/Patient/does-not-exist"), 404)
    outcome(client.get("/Patient/does-not-exist/_history/1"), 404)


def test_method_not_allowed_is_405(client: httpx.Client) -> None:
    outcome(client.post("/Patient/123"), 405)


def test_formats_406_and_415(client: httpx.Client) -> None:
    outcome(client.get("/metadata", headers={"Accept": "image/png"}), 406)
    outcome(client.get("/metadata?_format=yaml"), 406)
    outcome(client.post("/Patient", content=b"name=x", headers={"Content-Type": "text/plain"}), 415)


def test_body_over_limit_is_413(client: httpx.Client) -> None:
    big = b'{"resourceType":"Patient","name":[{"text":"' + b"x" * (3 * 1024 * 1024) + b'"}]}'
    outcome(client.post("/Patient", content=big, headers={"Content-Type": "application/fhir+json"}), 413)


def test_deeply_nested_json_is_400(client: httpx.Client) -> None:
    deep = b'{"resourceType":"Patient","extension":' + b"[" * 200 + b"]" * 200 + b"}"
    outcome(client.post("/Patient", content=deep, headers={"Content-Type": "application/fhir+json"}), 400)


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b'"Patient"', b'{"resourceType": 5}'])
def test_nonsense_bodies_are_400(client: httpx.Client, body: bytes) -> None:
    outcome(client.post("/Patient", content=body, headers={"Content-Type": "application/fhir+json"}), 400)


def test_bad_history_parameters_are_400(client: httpx.Client) -> None:
    outcome(client.get("/Patient/_history?_count=many"), 400)
    outcome(client.get("/_history?_since=last-week"), 400)


def test_out_of_range_numbers_and_versions_are_400(client: httpx.Client) -> None:
    outcome(client.get("/Task/$open-referrals", params={"olderThanDays": "99999999999"}), 400)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "GET", "url": "Patient/p1/_history/x"}}],
    }
    outcome(client.post("/", json=bundle), 400)
