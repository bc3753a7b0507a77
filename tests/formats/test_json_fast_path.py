"""FHIR JSON parsing takes orjson's fast path only where it is exact (no non-integer numbers)."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.engine.validation import _empty_values, _has_empty_values
from fhirbridge.errors import BadRequest
from fhirbridge.formats.json import SourceDecimal, dumps, loads, loads_stored
from fhirbridge.formats.xml import to_xml

# Numbers whose text a float or a 64-bit integer would not keep.
NUMBERS_WITH_TEXT = [
    b'{"resourceType":"Observation","valueQuantity":{"value":12.50}}',
    b'{"a":[1,[2,[3,{"b":[1e3]}]]]}',
    b'{"a":-0.0}',
    b"1.10",
    b'{"valueDecimal":1180591620717411303424}',
    b'{"a":[-9223372036854775809,9223372036854775807]}',
]


@pytest.mark.parametrize("body", NUMBERS_WITH_TEXT)
def test_non_integer_numbers_keep_their_text(body: bytes) -> None:
    assert dumps(loads(body)) == body


def test_a_body_without_them_is_parsed_as_is() -> None:
    value = loads(b'{"a":1,"b":[true,null,"x",{"c":-7}],"d":"12.50"}')
    assert value == {"a": 1, "b": [True, None, "x", {"c": -7}], "d": "12.50"}
    assert not any(isinstance(v, SourceDecimal) for v in (value["a"], value["b"][3]["c"]))


@pytest.mark.parametrize("floats", [False, True])
def test_nesting_is_bounded_on_both_paths(floats: bool) -> None:
    leaf = b"1.5" if floats else b"1"
    assert loads(b"[" * 64 + leaf + b"]" * 64, max_depth=64)
    with pytest.raises(BadRequest, match="deeper than 64"):
        loads(b"[" * 65 + leaf + b"]" * 65, max_depth=64)


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a":', b"\xff", b'{"a": 1.5,}'])
def test_what_is_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        loads(body)


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "name": [{"family": "Lee"}]},
        {"resourceType": "Patient", "name": []},
        {"resourceType": "Patient", "name": [{}]},
        {"resourceType": "Patient", "name": [{"family": ""}]},
        {"resourceType": "Patient", "gender": None},
        {"resourceType": "Patient", "name": [{"given": ["Ana", None], "_given": [None, {"id": "x"}]}]},
        {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "name": ""}]},
    ],
)
def test_the_quick_empty_check_agrees_with_the_detailed_one(resource: dict[str, Any]) -> None:
    assert _has_empty_values(resource) == bool(list(_empty_values(resource, "Patient")))


@pytest.mark.parametrize(
    "stored",
    [
        *NUMBERS_WITH_TEXT,
        b'{"resourceType":"Observation","valueQuantity":{"value":12.5}}',
        b'{"a":[2e3,1e-7,0.1,100.0,-0.0]}',
        b'{"valueInteger":7,"text":"1.50"}',
    ],
)
def test_stored_json_reads_back_to_the_same_bytes(stored: bytes) -> None:
    assert dumps(loads_stored(stored)) == stored
    assert loads_stored(stored) == loads(stored)


def test_a_float_is_written_in_xml_as_json_writes_it() -> None:
    stored = b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e-7}}'
    observation = loads_stored(stored)
    assert isinstance(observation["valueQuantity"]["value"], float)
    assert b'<value value="1e-7"/>' in to_xml(observation)
