"""Lossless both ways: record -> FHIR -> record gives the record back, and FHIR we wrote -> record -> FHIR
gives the same resources; every resource written is valid R4."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings

from fhirbridge.domain import Record
from fhirbridge.mappers import record_from_resources, record_to_bundle, record_to_resources
from tests.domain.strategies import records

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validate_r4(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@FAST
@given(records())
def test_a_record_comes_back_exactly_from_its_fhir(record: Record) -> None:
    result = record_from_resources(record_to_bundle(record))
    assert result.record == record
    assert [entry for entry in result.report if entry.resource != "record"] == []


@FAST
@given(records())
def test_fhir_we_wrote_comes_back_as_the_same_resources(record: Record) -> None:
    written = record_to_resources(record)
    assert record_to_resources(record_from_resources(written).record) == written


@settings(max_examples=15, deadline=None)
@given(records())
def test_every_resource_written_is_valid_r4_with_a_generated_narrative(record: Record) -> None:
    bundle = record_to_bundle(record)
    validate_r4(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        validate_r4(resource)
        assert resource["text"]["status"] == "generated"
        assert resource["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
