"""The parameters advertised for each type are exactly those a strict search accepts."""

from __future__ import annotations

import pytest

from fhirbridge.errors import BadRequest
from fhirbridge.search import searchable_types, supported_parameters
from fhirbridge.search.definitions import SearchParamInfo
from tests.search.conftest import Store

ISSUE_TYPES = [
    "Patient",
    "RelatedPerson",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "CareTeam",
    "CarePlan",
    "Goal",
    "Condition",
    "Observation",
    "Questionnaire",
    "QuestionnaireResponse",
    "ServiceRequest",
    "Task",
    "RiskAssessment",
    "Consent",
    "Composition",
    "DocumentReference",
    "Provenance",
    "AuditEvent",
    "Subscription",
]
SAMPLE = {
    "token": "x",
    "string": "x",
    "reference": "Patient/x",
    "date": "ge2024",
    "number": "1",
    "quantity": "1",
    "uri": "http://x",
}
SECOND = {"token": "x", "quantity": "1", "date": "2024", "string": "x"}


def sample(info: SearchParamInfo) -> str:
    if info.type == "composite":
        return f"a${SECOND[info.components[1][1]]}"
    return SAMPLE[info.type]


def test_every_type_of_the_project_has_its_standard_parameters() -> None:
    assert set(ISSUE_TYPES) <= set(searchable_types())
    codes = {p.code for p in supported_parameters("CarePlan")}
    assert {
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_security",
        "patient",
        "category",
        "date",
        "status",
        "subject",
        "care-team",
        "activity-code",
    } <= codes
    assert supported_parameters("CarePlan")[0].to_capability()["type"]


def test_unknown_types_have_the_common_parameters() -> None:
    assert {p.code for p in supported_parameters("Basic")} == {
        "_id",
        "_lastUpdated",
        "_profile",
        "_security",
        "_source",
        "_tag",
    }


@pytest.mark.parametrize("resource_type", searchable_types())
def test_every_advertised_parameter_is_accepted(store: Store, resource_type: str) -> None:
    for info in supported_parameters(resource_type):
        store.search(resource_type, [(info.code, sample(info)), ("_total", "none")], strict=True)
        store.search(resource_type, [(f"{info.code}:missing", "true"), ("_total", "none")], strict=True)


def test_composite_without_a_token_first_is_not_advertised(store: Store) -> None:
    assert "relationship" not in {p.code for p in supported_parameters("DocumentReference")}
    with pytest.raises(BadRequest):
        store.search("DocumentReference", [("relationship", "DocumentReference/x$replaces")], strict=True)
