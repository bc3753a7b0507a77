"""Search says no to what it cannot do (R4 3.1.1.5), and only ignores what it does not know.

A modifier the server does not support, a chain through a parameter that does not exist, an unknown
``_include``, ``_revinclude`` or ``_sort`` are refused with 400 in every mode: ignoring them would
answer a different question than the one asked (``Goal?subject.foo=x`` would return every Goal). An
unknown plain parameter keeps the lenient default (ignored, and reported in the Bundle) unless the
client asks ``Prefer: handling=strict``. Requests beyond the caps on parameters and values are 400.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.errors import BadRequest
from fhirbridge.search import match_ids
from fhirbridge.search.engine import SearchLimits
from tests.factories import goal, patient
from tests.search.conftest import Store


@pytest.fixture
def goals(store: Store) -> Store:
    store.put(patient("ana", family="Ruiz", gender="female"))
    store.put(goal("g1", "ana"))
    store.put(goal("g2", "other"))
    return store


def refused(store: Store, resource_type: str | None, query: str | list[tuple[str, str]], **options: Any) -> str:
    """The expression of the 400 the search answers, in lenient mode unless told otherwise."""
    with pytest.raises(BadRequest) as caught:
        store.search(resource_type, query, **options)
    issue = caught.value.issues[0]
    assert issue.code in ("not-supported", "too-costly", "invalid"), issue
    assert len(issue.expression) == 1
    return issue.expression[0]


@pytest.mark.parametrize(
    ("resource_type", "name", "value"),
    [
        ("Patient", "gender:contains", "fe"),  # token
        ("Patient", "gender:in", "http://hl7.org/fhir/ValueSet/administrative-gender"),
        ("Patient", "gender:below", "fe"),
        ("Patient", "name:text", "ruiz"),  # string
        ("Patient", "birthdate:exact", "2015"),  # date
        ("Goal", "subject:Spaceship", "x"),  # reference to a type it cannot point at
        ("Goal", "subject:above", "Patient/ana"),
        ("Patient", "_id:exact", "ana"),
        ("Patient", "_lastUpdated:exact", "2020"),
        ("RiskAssessment", "probability:exact", "0.5"),  # number
        ("Observation", "value-quantity:exact", "5"),  # quantity
        ("Observation", "code-value-quantity:exact", "x$5"),  # composite
    ],
)
def test_an_unsupported_modifier_is_refused_even_when_lenient(
    goals: Store, resource_type: str, name: str, value: str
) -> None:
    assert refused(goals, resource_type, [(name, value)]) == name
    assert refused(goals, resource_type, [(name, value)], strict=True) == name


@pytest.mark.parametrize(
    "name",
    [
        "subject.foo",  # Goal?subject.foo=x returned every Goal
        "subject:Patient.foo",
        "subject.name.foo",  # a chain through a string parameter
        "foo.name",  # a chain from a parameter Goal does not have
        "lifecycle-status.name",  # a chain through a token
        "subject:Patient.general-practitioner:Practitioner.foo",
        "_has:Observation:nonsense:code",  # reverse chains through what does not exist
        "_has:Spaceship:patient:code",
        "_has:Observation:patient:foo",
        "_has:Observation:code:status",  # code is not a reference
    ],
)
def test_a_chain_through_what_does_not_exist_is_refused(goals: Store, name: str) -> None:
    resource_type = "Patient" if name.startswith("_has") else "Goal"
    assert refused(goals, resource_type, [(name, "x")]) == name


def test_a_chain_that_exists_still_works(goals: Store) -> None:
    assert goals.ids("Goal", "subject:Patient.name=ruiz") == ["g1"]
    assert goals.ids("Goal", "subject.gender=female") == ["g1"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_include", "Goal:nonsense"),
        ("_include", "Goal:lifecycle-status"),  # not a reference
        ("_include", "*"),
        ("_include", "Goal:subject:patient"),  # a target type is a type
        ("_include:iterate", "Spaceship:crew"),
        ("_revinclude", "Observation:nonsense"),
        ("_revinclude", "Goal"),
        ("_sort", "shoe-size"),
        ("_sort", "-shoe-size"),
        ("_sort", "lifecycle-status,nonsense"),
        ("_sort", ""),
    ],
)
def test_unknown_includes_and_sorts_are_refused_even_when_lenient(goals: Store, name: str, value: str) -> None:
    assert refused(goals, "Goal", [(name, value)]) == name


def test_unknown_plain_parameters_are_ignored_and_reported_when_lenient(goals: Store) -> None:
    result = goals.search("Goal", "subject=Patient/ana&shoe-size=9&shoe-size:exact=10")
    assert [e.id for e in result.matches] == ["g1"]
    assert result.ignored == ["shoe-size", "shoe-size:exact"]
    assert result.applied == [("subject", "Patient/ana")]
    assert refused(goals, "Goal", "subject=Patient/ana&shoe-size=9", strict=True) == "shoe-size"


def test_known_but_unsupported_parameters_keep_the_lenient_default(goals: Store) -> None:
    assert goals.search("Goal", "_text=walk&_content=walk").ignored == ["_text", "_content"]
    assert refused(goals, "Goal", "_text=walk", strict=True) == "_text"


def test_conditional_matches_stay_strict(goals: Store) -> None:
    with goals.repo.connect() as conn:
        assert match_ids(conn, "Goal", [("subject", "Patient/ana")]) == ["g1"]
        for name in ("shoe-size", "subject.foo", "lifecycle-status:contains"):
            with pytest.raises(BadRequest) as caught:
                match_ids(conn, "Goal", [(name, "x")])
            assert caught.value.issues[0].expression == (name,)


# --- caps --------------------------------------------------------------------------------------------


def test_parameters_beyond_the_cap_are_refused_naming_the_first_one_over(goals: Store) -> None:
    limits = SearchLimits(max_parameters=3, max_values=100)
    assert goals.ids("Goal", "subject=Patient/ana&_id=g1,g2&_count=5", limits=limits) == ["g1"]
    query = "subject=Patient/ana&_id=g1&_count=5&lifecycle-status=active"
    assert refused(goals, "Goal", query, limits=limits) == "lifecycle-status"
    # Format parameters are the HTTP layer's, not the search's.
    assert goals.ids("Goal", "subject=Patient/ana&_id=g1&_count=5&_format=json", limits=limits) == ["g1"]


def test_values_beyond_the_cap_are_refused_naming_the_parameter(goals: Store) -> None:
    limits = SearchLimits(max_parameters=10, max_values=4)
    assert goals.ids("Goal", "_id=g1,g2,g3&lifecycle-status=active", limits=limits) == ["g1", "g2"]
    assert refused(goals, "Goal", "_id=g1,g2,g3&lifecycle-status=active,proposed", limits=limits) == (
        "lifecycle-status"
    )
    assert refused(goals, "Goal", "_id=g1&_sort=_id,-_lastUpdated,lifecycle-status,-target-date", limits=limits) == (
        "_sort"
    )
    includes = ",".join(["Goal:subject"] * 4)
    assert refused(goals, "Goal", f"_id=g1&_include={includes}", limits=limits) == "_include"
    # An escaped comma is part of a value, not a separator.
    assert goals.ids("Goal", "_id=g1,g2,g3&subject=Patient/a\\,b", limits=limits) == []


def test_more_than_ten_sort_keys_are_refused(goals: Store) -> None:
    assert goals.ids("Goal", "_sort=" + ",".join(["_id", "-_lastUpdated"] * 5)) == ["g1", "g2"]
    assert refused(goals, "Goal", "_sort=" + ",".join(["_id"] * 11)) == "_sort"


def test_conditional_matches_keep_to_the_caps(goals: Store) -> None:
    limits = SearchLimits(max_parameters=2, max_values=10)
    criteria = [("subject", "Patient/ana"), ("_id", "g1"), ("lifecycle-status", "active")]
    with goals.repo.connect() as conn, pytest.raises(BadRequest) as caught:
        match_ids(conn, "Goal", criteria, limits=limits)
    assert caught.value.issues[0].expression == ("lifecycle-status",)


# --- over HTTP ---------------------------------------------------------------------------------------


def test_over_http_a_refusal_names_the_parameter(client: httpx.Client) -> None:
    for name, value in [("subject.foo", "x"), ("lifecycle-status:contains", "act"), ("_include", "Goal:foo")]:
        response = client.get("/Goal", params={name: value})
        assert response.status_code == 400, response.text
        issue = response.json()["issue"][0]
        assert issue["expression"] == [name]
        assert issue["code"] == "not-supported"
        assert client.get("/metadata").status_code == 200


def test_over_http_an_ignored_parameter_is_reported_in_the_bundle(client: httpx.Client) -> None:
    assert client.put("/Patient/ana", json=patient("ana")).status_code == 201
    assert client.put("/Goal/g1", json=goal("g1", "ana")).status_code == 201
    bundle = client.get("/Goal", params={"shoe-size": "9"}).json()
    matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert [e["resource"]["id"] for e in matches] == ["g1"]
    assert len(outcomes) == 1
    issue = outcomes[0]["resource"]["issue"][0]
    assert (issue["severity"], issue["code"], issue["expression"]) == ("warning", "not-supported", ["shoe-size"])
    assert "shoe-size" not in bundle["link"][0]["url"]
    strict = client.get("/Goal", params={"shoe-size": "9"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["shoe-size"]
