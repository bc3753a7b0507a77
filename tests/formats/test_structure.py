"""The structure check on write (fhirbridge.formats.structure) against the fhir.resources models.

It replaced the models on the write path, so it must refuse whatever they refuse, on every real FHIR
resource in ../shared/fhir and on those resources broken in the ways clients break them. Where the two
disagree it is the models that stray from R4, and each such case is listed here with the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhirbridge.engine.validation import check_resource
from fhirbridge.errors import BadRequest, FhirError, Unprocessable
from fhirbridge.formats._fhir_types import is_resource_type, type_info
from fhirbridge.formats.json import loads
from fhirbridge.formats.structure import Fault, structure_problems
from fhirbridge.formats.xml import parse_xml
from tests.factories import goal
from tests.formats.fhir_examples import SHARED_DIR

# Where the models and R4 part ways; each entry must still disagree, so the list cannot go stale.
MODELS_STRAY = {
    # R4 JSON carries a choice primitive's id and extensions in ``_valueString``; the models refuse it.
    "Questionnaire-CardiologyForm.json": "accepts",
    "bundle-resolve-deep-profile.json": "accepts",
    "ext-ctxt-bad-ext.xml": "accepts",
    "ext-ctxt-good-ext.xml": "accepts",
    # ``_id``: a resource id may carry extensions like any primitive.
    "patient-id-extensions.json": "accepts",
    # R4 limits an id to 64 characters; the models set no length.
    "patient-id-bad-3.json": "refuses",
    "contained-resource.json": "refuses",
    "questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json": "refuses",
    # ``"meta": null``: refused before the structure check on write (no nulls), the models skip it.
    "bundle-sig-2.json": "refuses",
}


def _shared_resources() -> Iterator[tuple[str, dict[str, Any]]]:
    files = sorted((SHARED_DIR / "fhir").rglob("*.json")) + sorted((SHARED_DIR / "fhir").rglob("*.xml"))
    assert len(files) > 1000, f"the FHIR examples are missing from {SHARED_DIR / 'fhir'}"
    for file in files:
        try:
            resource = loads(file.read_bytes()) if file.suffix == ".json" else parse_xml(file.read_bytes())
        except FhirError:
            continue  # not a resource (a test manifest) or deliberately unreadable
        if isinstance(resource, dict) and is_resource_type(str(resource.get("resourceType"))):
            yield file.name, resource


SHARED = list(_shared_resources())


def _models_accept(resource: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, ValueError, TypeError, KeyError):
        return False
    return True


def _we_accept(resource: dict[str, Any]) -> bool:
    problems = structure_problems(resource)
    assert problems is not None
    return not problems


def test_the_check_agrees_with_the_models_on_every_shared_resource() -> None:
    disagreements = {}
    for name, resource in SHARED:
        ours, theirs = _we_accept(resource), _models_accept(resource)
        if ours != theirs:
            disagreements[name] = "accepts" if ours else "refuses"
    assert disagreements == MODELS_STRAY
    assert len(SHARED) > 1200


# Ways a client breaks a valid resource; each returns the broken copy, or None where it does not apply.
Breakage = Callable[[dict[str, Any]], dict[str, Any] | None]


def _unknown_at_root(resource: dict[str, Any]) -> dict[str, Any]:
    return {**resource, "colour": "blue"}


def _unknown_nested(resource: dict[str, Any]) -> dict[str, Any] | None:
    for key, value in resource.items():
        if isinstance(value, dict) and key not in ("text",):
            return {**resource, key: {**value, "colour": "blue"}}
    return None


def _required_removed(resource: dict[str, Any]) -> dict[str, Any] | None:
    for element in type_info(resource["resourceType"]).elements.values():
        if element.required and element.name in resource and f"_{element.name}" not in resource:
            broken = dict(resource)
            del broken[element.name]
            return broken
    return None


def _single_as_array(resource: dict[str, Any]) -> dict[str, Any] | None:
    for key, value in resource.items():
        element = type_info(resource["resourceType"]).elements.get(key)
        if element is not None and not element.repeats and isinstance(value, dict):
            return {**resource, key: [value]}
    return None


def _array_as_single(resource: dict[str, Any]) -> dict[str, Any] | None:
    for key, value in resource.items():
        if isinstance(value, list) and value and isinstance(value[0], dict) and key != "contained":
            return {**resource, key: value[0]}
    return None


def _bad_date(resource: dict[str, Any]) -> dict[str, Any] | None:
    for key, value in resource.items():
        element = type_info(resource["resourceType"]).elements.get(key)
        if element is not None and element.type_key in ("date", "dateTime") and isinstance(value, str):
            return {**resource, key: "2021-13-01"}
    return None


def _two_choices(resource: dict[str, Any]) -> dict[str, Any] | None:
    elements = type_info(resource["resourceType"]).elements
    for key in resource:
        element = elements.get(key)
        if element is None:
            continue
        for other in elements.values():
            if other.position == element.position and other.name != key and other.type_key == "string":
                return {**resource, other.name: "also"}
    return None


def _string_as_number(resource: dict[str, Any]) -> dict[str, Any] | None:
    for key, value in resource.items():
        element = type_info(resource["resourceType"]).elements.get(key)
        if element is not None and element.type_key == "string" and isinstance(value, str) and key != "id":
            return {**resource, key: 42}
    return None


BREAKAGES: list[Breakage] = [
    _unknown_at_root,
    _unknown_nested,
    _required_removed,
    _single_as_array,
    _array_as_single,
    _bad_date,
    _two_choices,
    _string_as_number,
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.__name__.strip("_"))
def test_what_the_models_refuse_in_a_broken_resource_is_refused(breakage: Breakage) -> None:
    tried = 0
    for name, resource in SHARED:
        if name in MODELS_STRAY or not _models_accept(resource):
            continue
        broken = breakage(copy.deepcopy(resource))
        if broken is None:
            continue
        tried += 1
        if tried > 300:  # enough of every kind of resource; the rest adds time, not cases
            break
        if not _models_accept(broken):
            assert not _we_accept(broken), f"{name}: the models refuse it broken by {breakage.__name__}, we do not"
    assert tried >= 20, f"{breakage.__name__} applied to {tried} resources only"


def _problems(resource: dict[str, Any]) -> list[tuple[Fault, str]]:
    problems = structure_problems(resource)
    assert problems is not None
    return [(problem.fault, problem.path) for problem in problems]


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        # The JSON format's own kinds, which the models coerce.
        ({"extension": [{"url": "http://example.org/x", "valueBoolean": "true"}]}, "Goal.extension[0].valueBoolean"),
        ({"target": [{"detailInteger": "3"}]}, "Goal.target[0].detailInteger"),
        ({"target": [{"detailQuantity": {"value": "1.5"}}]}, "Goal.target[0].detailQuantity.value"),
        ({"extension": [{"url": "http://example.org/x", "valuePositiveInt": 0}]}, "Goal.extension[0].valuePositiveInt"),
        ({"extension": [{"url": "http://example.org/x", "valueInteger": 2**31}]}, "Goal.extension[0].valueInteger"),
        # Dates must be dates of the calendar.
        ({"startDate": "2021-02-30"}, "Goal.startDate"),
        ({"statusDate": "2021-02-01T10:00:00"}, "Goal.statusDate"),
        # A resource where one is not expected, and a resource of no known type where one is.
        ({"description": {"resourceType": "CodeableConcept", "text": "x"}}, "Goal.description.resourceType"),
        ({"contained": [{"resourceType": "Spaceship"}]}, "Goal.contained[0].resourceType"),
        ({"note": [None]}, "Goal.note[0]"),
        ({"_lifecycleStatus": [{"id": "a"}]}, "Goal._lifecycleStatus"),
    ],
)
def test_values_r4_does_not_allow_are_refused_by_name(elements: dict[str, Any], expected: str) -> None:
    assert [path for _, path in _problems(goal(**elements))] == [expected]


def test_a_required_primitive_may_carry_only_its_extensions() -> None:
    resource = goal(_lifecycleStatus={"extension": [{"url": "http://example.org/why", "valueString": "unknown"}]})
    del resource["lifecycleStatus"]
    assert _problems(resource) == []
    del resource["_lifecycleStatus"]
    assert _problems(resource) == [(Fault.REQUIRED, "Goal.lifecycleStatus")]


def test_a_required_choice_is_named_as_the_choice() -> None:
    extension = {"url": "http://example.org/x", "extension": [{"url": "part"}]}
    assert _problems(goal(modifierExtension=[extension])) == []
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    observation["component"] = [{"code": {"text": "y"}}]
    assert _problems(observation) == []
    deceased = {"resourceType": "Patient", "deceasedBoolean": False, "deceasedDateTime": "2020"}
    assert _problems(deceased) == [(Fault.INVALID, "Patient.deceasedDateTime")]


def test_resources_inside_bundles_and_containers_are_checked_as_their_own_type() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "active": "yes"}}, {"resource": goal(colour="blue")}],
    }
    assert _problems(bundle) == [
        (Fault.INVALID, "Bundle.entry[0].resource.active"),
        (Fault.UNKNOWN, "Bundle.entry[1].resource.colour"),
    ]


def test_base64_must_decode() -> None:
    binary = {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVs\nbG8="}
    assert _problems(binary) == []
    assert _problems({**binary, "data": "aGVsbG8"}) == [(Fault.INVALID, "Binary.data")]


def test_check_resource_refuses_unknown_elements_as_400_and_bad_values_as_422() -> None:
    with pytest.raises(BadRequest) as unknown:
        check_resource(goal(colour="blue", startDate="never"))
    assert [issue.expression for issue in unknown.value.issues] == [("Goal.colour",), ("Goal.startDate",)]
    with pytest.raises(Unprocessable) as invalid:
        check_resource(goal(startDate="never"))
    assert [(issue.code, issue.expression) for issue in invalid.value.issues] == [("value", ("Goal.startDate",))]


def test_types_r4_does_not_define_are_left_to_their_model() -> None:
    # SubscriptionStatus arrived with R4B: the R4 table does not have it, its model checks it.
    assert structure_problems({"resourceType": "SubscriptionStatus", "type": "heartbeat"}) is None
    with pytest.raises(FhirError):
        check_resource({"resourceType": "SubscriptionStatus", "type": "heartbeat", "colour": "blue"})
