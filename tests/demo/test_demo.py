"""The demo children: realistic, deterministic, keeping every rule, valid R4 through and through."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B import get_fhir_model_class

from fhirbridge.demo import WRITTEN_AS_OF, demo_bundles, demo_records
from fhirbridge.domain import problems
from fhirbridge.mappers import record_from_resources


def test_three_children_of_different_ages_and_needs() -> None:
    records = demo_records()
    assert [record.child.given_names[0] for record in records] == ["Mateo", "Jordan", "Aisha"]
    assert all(problems(record) == [] for record in records)
    jordan = records[1]
    assert any("gastrostomy" in d.description.lower() for d in jordan.diagnoses)
    assert any(need.domain == "school" for need in jordan.needs)


def test_the_demo_is_the_same_every_time() -> None:
    assert demo_bundles() == demo_bundles()


def test_every_demo_resource_is_valid_r4_with_a_narrative() -> None:
    for bundle in demo_bundles():
        get_fhir_model_class("Bundle").model_validate(bundle)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            assert resource["text"]["status"] == "generated"


def test_the_demo_reads_back_into_the_same_records() -> None:
    for record, bundle in zip(demo_records(), demo_bundles(), strict=True):
        assert record_from_resources(bundle).record == record


def test_the_demo_stays_current_whatever_the_day() -> None:
    """Dates move with today: consents in force, children the same age, the files as written on their day."""
    today = date(2031, 2, 14)
    moved, written = demo_records(today), demo_records(WRITTEN_AS_OF)
    shift = today - WRITTEN_AS_OF
    for now, then in zip(moved, written, strict=True):
        assert now.child.birth_date == then.child.birth_date + shift
        assert all(consent.valid_until is None or consent.valid_until >= today for consent in now.consents)
    assert demo_bundles(today) == demo_bundles(today)


# What a record says already happened: never after the day the files describe as today.
HAPPENED = ("at", "written_at", "reviewed_on", "signed_on", "created_at", "updated_at", "assessed_at", "identified_on")


def test_nothing_the_demo_says_happened_lies_in_its_future() -> None:
    import json
    from pathlib import Path

    import fhirbridge.demo

    def happened(value: object, path: str = "") -> list[tuple[str, str]]:
        if isinstance(value, dict):
            found = [(f"{path}.{key}", str(item)) for key, item in value.items() if key in HAPPENED and item]
            return found + [pair for key, item in value.items() for pair in happened(item, f"{path}.{key}")]
        if isinstance(value, list):
            return [pair for index, item in enumerate(value) for pair in happened(item, f"{path}[{index}]")]
        return []

    for file in sorted((Path(fhirbridge.demo.__file__).parent / "data").glob("*.json")):
        late = [
            (where, when) for where, when in happened(json.loads(file.read_text())) if when[:10] > str(WRITTEN_AS_OF)
        ]
        assert not late, f"{file.name}: {late}"
