"""A transaction retried after losing a race starts again from the request exactly as it came."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.config import Settings
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.access import SYSTEM_ACCESS
from fhirbridge.server.app import create_app
from fhirbridge.storage.sql import RetryableWrite, SqlRepository, SqlWriteTransaction
from tests.conftest import LiveServer

BUNDLE = b"""{
  "resourceType": "Bundle", "type": "transaction",
  "entry": [
    {"fullUrl": "urn:uuid:7d1e4a52-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient", "name": [{"family": "Okafor"}]},
     "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:7d1e4a52-0000-4000-8000-000000000002",
     "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                  "subject": {"reference": "urn:uuid:7d1e4a52-0000-4000-8000-000000000001"},
                  "valueQuantity": {"value": 14.20, "unit": "kg"}},
     "request": {"method": "POST", "url": "Observation"}}
  ]
}"""


def test_a_retried_transaction_stores_each_entry_once_with_its_references(
    server: LiveServer, repository: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(auth_disabled=True, subscription_delivery=False), repository)
    original_put = SqlWriteTransaction.put
    calls: list[str] = []

    def put_losing_the_first_race(self: SqlWriteTransaction, resource_type: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(resource_type)
        version = original_put(self, resource_type, *args, **kwargs)
        if len(calls) == 2:  # both entries written and their references rewritten: then lose the race
            raise RetryableWrite
        return version

    monkeypatch.setattr(SqlWriteTransaction, "put", put_losing_the_first_race)
    response = app.services.bundles.process(SYSTEM_ACCESS, fhir_json.loads(BUNDLE), "http://fhirbridge.test")
    assert calls == ["Patient", "Observation", "Patient", "Observation"]
    patient_url, observation_url = (entry["response"]["location"] for entry in response["entry"])
    patient_id = patient_url.split("/")[1]
    observations = [v for v in repository.iter_current("Observation")]
    assert len(observations) == 1 and len(list(repository.iter_current("Patient"))) == 1
    stored = observations[0].content
    assert stored is not None
    assert f'"subject":{{"reference":"Patient/{patient_id}"}}'.encode() in stored
    assert b'"value":14.20' in stored  # the retry starts from the request's own text
    assert observation_url.startswith(f"Observation/{observations[0].id}/")
