"""Properties that hold for any value: strings and narratives survive XML, from any thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from hypothesis import given, settings
from hypothesis import strategies as st

from fhirbridge.formats._xml_support import escape_text
from fhirbridge.formats.json import loads
from fhirbridge.formats.xml import parse_xml, to_xml

from .fhir_examples import differences, json_examples

# Everything XML 1.0 can carry (no C0 controls but tab, newline and carriage return; no surrogates;
# no U+FFFE/U+FFFF).
xml_text = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"],
        exclude_characters=[chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + ["\ufffe", "\uffff"],
    ),
    min_size=1,
)


@settings(max_examples=200, deadline=None)
@given(family=xml_text, given_names=st.lists(xml_text, min_size=1, max_size=3), identifier_id=xml_text)
def test_any_string_comes_back_unchanged(family: str, given_names: list[str], identifier_id: str) -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"id": identifier_id, "value": family}],
        "name": [{"family": family, "given": given_names}],
    }

    assert parse_xml(to_xml(patient)) == patient


@settings(max_examples=200, deadline=None)
@given(text=xml_text)
def test_any_narrative_text_comes_back_unchanged(text: str) -> None:
    div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p title="t">{escape_text(text)}</p></div>'
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}

    assert parse_xml(to_xml(patient)) == patient


def test_threads_can_read_and_write_at_once() -> None:
    resources = [loads(path.read_bytes()) for path in json_examples()[:20]]

    def round_trip(index: int) -> list[str]:
        resource = resources[index % len(resources)]
        return differences(parse_xml(to_xml(resource)), resource)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(found == [] for found in pool.map(round_trip, range(200)))
