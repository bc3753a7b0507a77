"""What a search returns: includes, sort, paging, totals, _summary/_elements, compartments, bundles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhirbridge.errors import BadRequest
from fhirbridge.search import match_ids, searchset_bytes
from tests.factories import care_plan, patient
from tests.search.conftest import BASE_URL, Store


@pytest.fixture
def family(store: Store) -> Store:
    for id, name, birth in [
        ("p1", "Adams", "2010"),
        ("p2", "Baker", "2012-06"),
        ("p3", "Clark", None),
        ("p4", "Baker", "2011"),
    ]:
        store.put(patient(id, family=name, birth_date=birth))
    store.put(care_plan("cp1", "p1", careTeam=[{"reference": "CareTeam/t1"}]))
    store.put(care_plan("cp2", "p2"))
    store.put(
        {
            "resourceType": "CareTeam",
            "id": "t1",
            "subject": {"reference": "Patient/p1"},
            "participant": [{"member": {"reference": "Practitioner/dr"}}],
        }
    )
    store.put({"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Who"}]})
    store.put(
        {
            "resourceType": "Provenance",
            "id": "prov1",
            "target": [{"reference": "CarePlan/cp1"}],
            "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": "Practitioner/dr"}}],
        }
    )
    return store


def entries(result: Any) -> list[tuple[str, str, str]]:
    return [(e.resource_type, e.id, e.mode) for e in result.entries]


def test_include(family: Store) -> None:
    result = family.search("CarePlan", "_id=cp1&_include=CarePlan:subject")
    assert entries(result) == [("CarePlan", "cp1", "match"), ("Patient", "p1", "include")]


def test_include_with_target_type(family: Store) -> None:
    assert entries(family.search("CarePlan", "_id=cp1&_include=CarePlan:care-team:Group"))[1:] == []


def test_revinclude(family: Store) -> None:
    result = family.search("CarePlan", "_revinclude=Provenance:target")
    assert entries(result) == [
        ("CarePlan", "cp1", "match"),
        ("CarePlan", "cp2", "match"),
        ("Provenance", "prov1", "include"),
    ]


def test_include_iterate(family: Store) -> None:
    result = family.search("CarePlan", "_id=cp1&_include=CarePlan:care-team&_include:iterate=CareTeam:participant")
    assert entries(result) == [
        ("CarePlan", "cp1", "match"),
        ("CareTeam", "t1", "include"),
        ("Practitioner", "dr", "include"),
    ]
    without = family.search("CarePlan", "_id=cp1&_include=CarePlan:care-team&_include=CareTeam:participant")
    assert ("Practitioner", "dr", "include") not in entries(without)


def test_unknown_include_is_rejected_in_every_mode(family: Store) -> None:
    # Leaving it out would answer without the resources the client asked to be included.
    for strict in (True, False):
        with pytest.raises(BadRequest) as caught:
            family.search("CarePlan", "_include=CarePlan:nonsense", strict=strict)
        assert caught.value.issues[0].expression == ("_include",)


def test_sort_by_several_keys(family: Store) -> None:
    ids = [e.id for e in family.search("Patient", "_sort=family,-birthdate").matches]
    assert ids == ["p1", "p2", "p4", "p3"]
    ids = [e.id for e in family.search("Patient", "_sort=-family,birthdate").matches]
    assert ids == ["p3", "p4", "p2", "p1"]


def test_sort_puts_missing_values_last(family: Store) -> None:
    assert [e.id for e in family.search("Patient", "_sort=birthdate").matches] == ["p1", "p4", "p2", "p3"]
    assert [e.id for e in family.search("Patient", "_sort=-birthdate").matches] == ["p2", "p4", "p1", "p3"]


def walk(store: Store, query: str) -> list[list[str]]:
    pages = []
    result = store.search("Patient", query)
    pages.append([e.id for e in result.matches])
    while result.next_cursor:
        result = store.search("Patient", f"{query}&_cursor={result.next_cursor}")
        pages.append([e.id for e in result.matches])
    return pages


def test_paging_walks_every_match_once(family: Store) -> None:
    assert walk(family, "_count=3") == [["p1", "p2", "p3"], ["p4"]]
    assert walk(family, "_count=2&_sort=-birthdate") == [["p2", "p4"], ["p1", "p3"]]


def test_previous_page(family: Store) -> None:
    first = family.search("Patient", "_count=2&_sort=family")
    second = family.search("Patient", f"_count=2&_sort=family&_cursor={first.next_cursor}")
    assert first.previous_cursor is None
    back = family.search("Patient", f"_count=2&_sort=family&_cursor={second.previous_cursor}")
    assert [e.id for e in back.matches] == [e.id for e in first.matches]
    assert back.previous_cursor is None and back.next_cursor is not None


def test_paging_stays_stable_while_others_write(family: Store) -> None:
    first = family.search("Patient", "_count=2")
    family.put(patient("p0", family="Aaron"))  # created after the first page: not part of this walk
    family.delete("Patient", "p1")  # already served: the next pages do not shift
    rest = family.search("Patient", f"_count=2&_cursor={first.next_cursor}")
    assert [e.id for e in first.matches] == ["p1", "p2"]
    assert [e.id for e in rest.matches] == ["p3", "p4"]
    assert rest.next_cursor is None


def test_bad_cursor(family: Store) -> None:
    with pytest.raises(BadRequest):
        family.search("Patient", "_cursor=not-a-cursor")


def test_total(family: Store) -> None:
    assert family.search("Patient", "_count=1").total == 4
    assert family.search("Patient", "_count=1&_total=none").total is None
    result = family.search("Patient", "_summary=count")
    assert result.total == 4 and result.entries == []


def test_total_whether_counted_or_taken_from_a_single_page(family: Store) -> None:
    # One page holds everything: the total is the page's own length; several pages: it is counted.
    assert family.search("Patient", "_count=10").total == 4
    assert family.search("Patient", "family=Nobody").total == 0
    first = family.search("Patient", "_count=3")
    assert first.total == 4
    family.put(patient("p0", family="Aaron"))  # after the first page: outside this walk's snapshot
    second = family.search("Patient", f"_count=3&_cursor={first.next_cursor}")
    assert second.total == 4 and [e.id for e in second.matches] == ["p4"]
    assert family.search("Patient", "_count=10").total == 5


def test_summary_true_keeps_summary_elements(store: Store) -> None:
    store.put(
        {
            "resourceType": "Patient",
            "id": "a",
            "text": {"status": "generated", "div": "<div>x</div>"},
            "name": [{"family": "Adams"}],
            "photo": [{"contentType": "image/png"}],
            "gender": "female",
        }
    )
    content = json.loads(store.search("Patient", "_summary=true").entries[0].content)
    assert set(content) == {"resourceType", "id", "meta", "name", "gender"}
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"} in (
        content["meta"]["tag"]
    )
    content = json.loads(store.search("Patient", "_summary=data").entries[0].content)
    assert "text" not in content and "photo" in content
    content = json.loads(store.search("Patient", "_summary=text").entries[0].content)
    assert set(content) == {"resourceType", "id", "meta", "text"}


def test_elements(store: Store) -> None:
    store.put(care_plan("cp", "p", description="walk daily", period={"start": "2024-01-01"}))
    content = json.loads(store.search("CarePlan", "_elements=description").entries[0].content)
    assert set(content) == {"resourceType", "id", "meta", "description", "status", "intent", "subject"}


def test_unchanged_content_is_served_as_stored(store: Store) -> None:
    store.put(
        {
            "resourceType": "Observation",
            "id": "o",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": 1.50},
        }
    )
    with store.repo.connect() as conn:
        from fhirbridge.storage.schema import resources

        stored = conn.execute(resources.select()).first()
    assert stored is not None
    assert store.search("Observation", "").entries[0].content == bytes(stored.content)


def test_compartment_search(family: Store) -> None:
    assert family.ids("CarePlan", "", compartment=("Patient", "p1")) == ["cp1"]
    assert family.ids("CareTeam", "", compartment=("Patient", "p1")) == ["t1"]
    assert family.ids("CarePlan", "status=completed", compartment=("Patient", "p1")) == []
    assert family.ids("Practitioner", "", compartment=("Patient", "p1")) == []


def test_system_search_with_common_parameters(family: Store) -> None:
    assert family.ids(None, "_id=p1,cp1") == ["cp1", "p1"]
    assert family.search(None, "family=adams").ignored == ["family"]


def test_match_ids_for_conditional_interactions(family: Store) -> None:
    with family.repo.connect() as conn:
        assert match_ids(conn, "Patient", [("family", "baker")]) == ["p2", "p4"]
        assert match_ids(conn, "Patient", [("family", "baker"), ("birthdate", "2011")]) == ["p4"]
        assert match_ids(conn, "Patient", [("family", "nobody")]) == []
        with pytest.raises(BadRequest):
            match_ids(conn, "Patient", [("shoe-size", "9")])
        with pytest.raises(BadRequest):
            match_ids(conn, "Patient", [])


def test_searchset_bundle(family: Store) -> None:
    result = family.search("Patient", "family=baker&_count=1&unknown=1")
    bundle = json.loads(searchset_bytes(result, base_url=BASE_URL, path="Patient"))
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["self"] == f"{BASE_URL}/Patient?family=baker&_count=1"
    assert links["next"].startswith(f"{BASE_URL}/Patient?family=baker&_count=1&_cursor=")
    assert "previous" not in links
    assert bundle["entry"][0]["fullUrl"] == f"{BASE_URL}/Patient/p2"
    assert bundle["entry"][0]["search"] == {"mode": "match"}
    assert bundle["entry"][-1]["search"] == {"mode": "outcome"}
