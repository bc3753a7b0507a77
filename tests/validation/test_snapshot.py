"""Snapshots generated from differentials, as the FHIR snapshot rules lay them out."""

from __future__ import annotations

from fhirbridge.validation.definitions import package_definitions
from fhirbridge.validation.snapshot import generate_snapshot

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def by_id(url: str) -> dict[str, dict[str, object]]:
    definition = package_definitions().get(url)
    assert definition is not None
    return {e["id"]: e for e in definition.elements}


def test_a_new_slice_starts_from_the_base_element_not_the_constrained_one() -> None:
    practitioner = by_id(US_CORE + "us-core-practitioner")
    assert practitioner["Practitioner.identifier"]["min"] == 1
    assert practitioner["Practitioner.identifier:NPI"]["min"] == 0
    assert practitioner["Practitioner.identifier:NPI"]["patternIdentifier"] == {
        "system": "http://hl7.org/fhir/sid/us-npi"
    }


def test_constraints_below_an_unexpanded_datatype_bring_in_its_elements() -> None:
    care_plan = by_id(US_CORE + "us-core-careplan")
    assert care_plan["CarePlan.text.status"]["binding"]["strength"] == "required"  # type: ignore[index]
    assert "CarePlan.text.div" in care_plan


def test_slice_children_come_from_the_extension_definition() -> None:
    patient = by_id(US_CORE + "us-core-patient")
    race = patient["Patient.extension:race"]
    assert race["type"] == [{"code": "Extension", "profile": [US_CORE + "us-core-race"]}]


def test_differential_merges_over_the_base_and_adds_constraints() -> None:
    base = package_definitions().base_type("Goal")
    assert base is not None
    differential = [
        {
            "id": "Goal",
            "path": "Goal",
            "constraint": [{"key": "x-1", "severity": "error", "human": "h", "expression": "true"}],
        },
        {"id": "Goal.target", "path": "Goal.target", "min": 1},
        {"id": "Goal.target.measure", "path": "Goal.target.measure", "min": 1},
    ]
    snapshot = {e["id"]: e for e in generate_snapshot(differential, base.elements, package_definitions().snapshot)}
    assert snapshot["Goal.target"]["min"] == 1
    assert snapshot["Goal.target.measure"]["min"] == 1
    assert [c["key"] for c in snapshot["Goal"]["constraint"]][-1] == "x-1"
    assert len(snapshot["Goal"]["constraint"]) > 1  # the base's dom-* constraints stay
