"""Base R4 rules: structure, cardinality, primitives, bindings, invariants, with FHIRPath locations."""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import Issue
from fhirbridge.validation import validate_resource
from tests.factories import goal


def errors(resource: dict[str, Any], **kwargs: Any) -> list[Issue]:
    return [i for i in validate_resource(resource, **kwargs) if i.severity in ("error", "fatal")]


def where(issues: list[Issue]) -> set[str]:
    return {path for issue in issues for path in issue.expression}


def test_a_minimal_goal_has_no_errors() -> None:
    assert errors(goal()) == []


def test_unknown_element_is_a_structure_error_at_its_path() -> None:
    found = errors(goal(target=[{"measure": {"text": "steps"}, "colour": "red"}]))
    assert where(found) == {"Goal.target[0].colour"}
    assert found[0].code == "structure"


def test_missing_required_element_names_the_rule() -> None:
    resource = goal()
    del resource["subject"]
    found = errors(resource)
    assert [i.diagnostics for i in found] == ["Goal.subject: minimum required = 1, but only found 0"]


def test_too_many_occurrences() -> None:
    found = errors(goal(subject=[{"reference": "Patient/a"}, {"reference": "Patient/b"}]))
    assert found


def test_required_binding_on_a_code() -> None:
    found = errors(goal(status="finished"))
    assert where(found) == {"Goal.lifecycleStatus"}
    assert found[0].code == "code-invalid"


def test_primitive_json_types_are_checked() -> None:
    found = errors({"resourceType": "Patient", "active": "yes"})
    assert where(found) == {"Patient.active"}


def test_malformed_date() -> None:
    assert where(errors(goal(startDate="2024-13-01"))) == {"Goal.startDate"}


def test_choice_type_not_allowed() -> None:
    assert "Goal.startString" in where(errors(goal(startString="soon")))


def test_invariant_failure_is_reported_with_its_key() -> None:
    # gol-1: a target with a detail needs a measure.
    found = errors(goal(target=[{"detailQuantity": {"value": 3}}]))
    assert any("gol-1" in i.diagnostics and i.expression == ("Goal.target[0]",) for i in found)


def test_reference_to_a_type_the_element_does_not_allow() -> None:
    found = errors(goal(subject={"reference": "Practitioner/p1"}))
    assert where(found) == {"Goal.subject"}


def test_unknown_extension_is_an_error_like_the_reference_validator() -> None:
    found = errors(goal(extension=[{"url": "http://example.org/ext/nothing", "valueString": "x"}]))
    assert where(found) == {"Goal.extension[0]"}


def test_known_core_extension_with_a_wrong_value_type() -> None:
    acceptance = {
        "url": "http://hl7.org/fhir/StructureDefinition/goal-acceptance",
        "extension": [{"url": "status", "valueString": "agreed"}],
    }
    assert errors(goal(extension=[acceptance]))


def test_element_without_value_or_children_breaks_ele_1() -> None:
    found = errors(goal(description={}))
    assert any("ele-1" in i.diagnostics for i in found)


def test_nested_bundle_entries_are_validated_with_their_path() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": goal(status="bogus")}],
    }
    assert "Bundle.entry[0].resource.lifecycleStatus" in where(errors(bundle))


def test_unknown_profile_in_meta_is_a_warning_but_requested_one_is_an_error() -> None:
    url = "http://example.org/StructureDefinition/unknown"
    declared = validate_resource(goal(meta={"profile": [url]}))
    assert [i.severity for i in declared if "unknown" in i.diagnostics] == ["warning"]
    assert any("unknown" in i.diagnostics for i in errors(goal(), profiles=[url]))


def test_not_a_resource() -> None:
    assert errors({"name": "x"})[0].severity == "fatal"


def test_written_out_invariants_agree_with_fhirpath() -> None:
    from fhirbridge.validation import invariants

    samples = [
        {"url": "http://x", "valueString": "a"},
        {"url": "http://x", "extension": [{"url": "y", "valueCode": "b"}]},
        {"url": "http://x", "extension": [{"url": "y"}], "valueBoolean": True},
        {"url": "http://x"},
        {"reference": "Patient/1"},
        {"reference": "#p1"},
        {"resourceType": "Patient", "text": {"status": "generated", "div": "<div>x</div>"}},
        {"resourceType": "Patient", "contained": [{"resourceType": "Patient", "id": "p1", "contained": []}]},
        {"fullUrl": "http://a/Patient/1/_history/2", "resource": {"resourceType": "Patient"}},
        {"fullUrl": "urn:uuid:1"},
    ]
    patient = {"resourceType": "Patient", "contained": [{"resourceType": "Patient", "id": "p1"}]}

    def type_of(sample: dict[str, Any]) -> str:
        kinds = {
            "url": "Extension",
            "reference": "Reference",
            "resourceType": "Patient",
            "fullUrl": "Bundle.entry",
        }
        return next(kind for key, kind in kinds.items() if key in sample)

    for expression, shortcut in invariants.SHORTCUTS.items():
        for sample in samples:
            fast = shortcut(sample)
            if fast is None:
                continue
            invariants.SHORTCUTS.pop(expression)
            try:
                slow = invariants.holds(expression, sample, type_of(sample), patient, patient)
            finally:
                invariants.SHORTCUTS[expression] = shortcut
            assert fast == slow, (expression, sample)


def test_every_written_out_invariant_is_one_the_definitions_use() -> None:
    from fhirbridge.validation import invariants
    from fhirbridge.validation.definitions import package_definitions

    definitions = package_definitions()
    used = {
        constraint["expression"]
        for name in ("Patient", "Bundle", "Reference", "Extension")
        for element in definitions.base_type(name).elements  # type: ignore[union-attr]
        for constraint in element.get("constraint", [])
    }
    assert set(invariants.SHORTCUTS) <= used


def test_narrative_with_script_or_unknown_attribute_breaks_txt_1() -> None:
    for div in (
        '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>Plan</div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="steal()">Plan</p></div>',
    ):
        found = errors(goal(text={"status": "generated", "div": div}))
        assert [i.expression for i in found] == [("Goal.text.div",)]
        assert "txt-1" in found[0].diagnostics


def test_empty_narrative_breaks_txt_2() -> None:
    found = errors(goal(text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"> </div>'}))
    assert any("txt-2" in i.diagnostics for i in found)


def test_reference_resolved_in_a_bundle_must_match_its_type() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "http://example.org/fhir/Goal/g1",
                "resource": goal("g1", "p1"),
            },
            {
                "fullUrl": "http://example.org/fhir/Patient/p1",
                "resource": {"resourceType": "Organization", "id": "p1"},
            },
        ],
    }
    found = errors(bundle)
    assert "Bundle.entry[0].resource.subject" in where(found)


def test_reference_resolved_in_a_bundle_must_conform_to_a_target_profile() -> None:
    us_core_patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "http://hospital.example.org/mrn", "value": "12345"}],
        "name": [{"family": "Martin", "given": ["Ava"]}],
        "gender": "female",
    }
    fhirbridge_goal = goal(
        "g1",
        "p1",
        meta={"profile": ["http://fhirbridge.org/fhir/StructureDefinition/fhirbridge-goal"]},
    )

    def bundle(patient: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "http://example.org/fhir/Goal/g1", "resource": fhirbridge_goal},
                {"fullUrl": "http://example.org/fhir/Patient/p1", "resource": patient},
            ],
        }

    assert errors(bundle(us_core_patient)) == []
    anonymous = {k: v for k, v in us_core_patient.items() if k != "name"}  # US Core Patient needs a name
    found = errors(bundle(anonymous))
    assert any("Unable to find a profile match" in i.diagnostics for i in found)


def test_require_valid_raises_unprocessable_with_every_issue() -> None:
    import pytest

    from fhirbridge.errors import Unprocessable
    from fhirbridge.validation import require_valid

    assert all(i.severity != "error" for i in require_valid(goal()))
    with pytest.raises(Unprocessable) as raised:
        require_valid(goal(status="bogus"))
    assert raised.value.status == 422
    assert ("Goal.lifecycleStatus",) in [i.expression for i in raised.value.issues]
