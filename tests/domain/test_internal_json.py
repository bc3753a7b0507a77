"""The internal JSON format reads back every record it writes."""

from __future__ import annotations

from hypothesis import given, settings

from fhirbridge.domain import Record, record_from_json, record_to_json
from tests.domain.strategies import records


@settings(max_examples=30, deadline=None)
@given(records())
def test_internal_json_round_trips_any_record(record: Record) -> None:
    assert record_from_json(record_to_json(record), check=False) == record
