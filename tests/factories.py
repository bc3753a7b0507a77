"""Resources and requests the tests share: one definition each, imported from here rather than from
another test module."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"


def new_patient(family: str = "Rivera") -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "name": [{"family": family, "given": ["Mateo"]}],
        "birthDate": "2019-04-02",
        "gender": "male",
    }


def create(client: httpx.Client, resource: dict[str, object]) -> httpx.Response:
    response = client.post(f"/{resource['resourceType']}", json=resource, headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 201, response.text
    return response


def put(client: httpx.Client, resource: dict[str, Any]) -> None:
    response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text
