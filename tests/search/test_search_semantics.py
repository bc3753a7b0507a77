"""Search semantics of the FHIR R4 search page, one behaviour per test, on both backends."""

from __future__ import annotations

import pytest

from fhirbridge.errors import BadRequest
from tests.factories import observation, patient
from tests.search.conftest import Store

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture
def people(store: Store) -> Store:
    store.put(
        patient(
            "ana",
            name=[{"family": "Núñez", "given": ["Ana", "María"]}],
            gender="female",
            birthDate="2015-03-14",
            identifier=[
                {
                    "system": "urn:mrn",
                    "value": "A1",
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                }
            ],
            telecom=[{"system": "email", "value": "ana@example.org"}],
        )
    )
    store.put(
        patient(
            "ben",
            name=[{"family": "Nunn", "given": ["Ben"]}],
            gender="male",
            birthDate="2016",
            identifier=[{"system": "urn:other", "value": "A1"}],
        )
    )
    store.put(
        patient(
            "cy",
            name=[{"family": "Ochoa", "given": ["Cy"]}],
            gender="other",
            deceasedDateTime="2020-05-01T10:00:00Z",
        )
    )
    return store


# --- token ---


def test_token_code_matches_in_any_system(people: Store) -> None:
    assert people.ids("Patient", "identifier=A1") == ["ana", "ben"]


def test_token_system_and_code(people: Store) -> None:
    assert people.ids("Patient", "identifier=urn:mrn|A1") == ["ana"]


def test_token_system_only(people: Store) -> None:
    assert people.ids("Patient", "identifier=urn:other|") == ["ben"]


def test_token_without_system(store: Store) -> None:
    store.put(
        {
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "active",
            "description": {"text": "walk"},
            "subject": {"reference": "Patient/p"},
        }
    )
    store.put(
        {
            "resourceType": "Goal",
            "id": "g2",
            "lifecycleStatus": "active",
            "description": {"coding": [{"system": "urn:s", "code": "active"}]},
            "subject": {"reference": "Patient/p"},
        }
    )
    assert store.ids("Goal", "lifecycle-status=|active") == ["g1", "g2"]
    assert store.ids("Goal", "description=|active") == []
    assert store.ids("Goal", "description=urn:s|active") == ["g2"]


def test_token_text_modifier_matches_text_and_display(store: Store) -> None:
    store.put(observation("o1", "p", code={"text": "Heart rate", "coding": [{"system": LOINC, "code": "1"}]}))
    store.put(observation("o2", "p", code={"coding": [{"system": LOINC, "code": "2", "display": "Héart beat"}]}))
    assert store.ids("Observation", "code:text=heart") == ["o1", "o2"]
    assert store.ids("Observation", "code:text=heart r") == ["o1"]


def test_token_not_modifier_includes_resources_without_value(people: Store) -> None:
    assert people.ids("Patient", "gender:not=male") == ["ana", "cy"]
    people.put(patient("dee"))
    assert people.ids("Patient", "gender:not=male,female") == ["cy", "dee"]


def test_token_of_type(people: Store) -> None:
    mr = "http://terminology.hl7.org/CodeSystem/v2-0203|MR|A1"
    assert people.ids("Patient", f"identifier:of-type={mr}") == ["ana"]
    with pytest.raises(BadRequest):
        people.ids("Patient", "identifier:of-type=A1")


def test_token_on_contact_point(people: Store) -> None:
    assert people.ids("Patient", "email=ana@example.org") == ["ana"]
    assert people.ids("Patient", "telecom=ana@example.org") == ["ana"]


def test_boolean_token(store: Store) -> None:
    store.put(patient("a", active=True))
    store.put(patient("b", active=False))
    assert store.ids("Patient", "active=true") == ["a"]
    assert store.ids("Patient", "active=false") == ["b"]


# --- string ---


def test_string_default_is_case_and_accent_insensitive_prefix(people: Store) -> None:
    assert people.ids("Patient", "family=nunez") == ["ana"]
    assert people.ids("Patient", "family=NUN") == ["ana", "ben"]
    assert people.ids("Patient", "name=mar") == ["ana"]


def test_string_exact(people: Store) -> None:
    assert people.ids("Patient", "family:exact=Núñez") == ["ana"]
    assert people.ids("Patient", "family:exact=nunez") == []
    assert people.ids("Patient", "family:exact=Nun") == []


def test_string_contains(people: Store) -> None:
    assert people.ids("Patient", "family:contains=UÑ") == ["ana", "ben"]
    assert people.ids("Patient", "name:contains=cho") == ["cy"]


def test_string_with_like_wildcards_is_literal(people: Store) -> None:
    assert people.ids("Patient", "family:contains=%") == []
    assert people.ids("Patient", "family=_") == []


def test_address_string(store: Store) -> None:
    store.put(patient("a", address=[{"line": ["1 Main St"], "city": "Springfield", "postalCode": "01101"}]))
    assert store.ids("Patient", "address=spring") == ["a"]
    assert store.ids("Patient", "address-city=springfield") == ["a"]
    assert store.ids("Patient", "address-postalcode=011") == ["a"]


# --- reference ---


@pytest.fixture
def observations(store: Store) -> Store:
    store.put(patient("p1"))
    store.put(patient("p2"))
    store.put(observation("o1", "p1"))
    store.put(observation("o2", "p2"))
    store.put(observation("o3", subject={"reference": "http://elsewhere.org/fhir/Patient/p1"}))
    store.put(observation("o4", subject={"reference": "Group/p1"}))
    return store


def test_reference_by_type_and_id(observations: Store) -> None:
    assert observations.ids("Observation", "subject=Patient/p1") == ["o1"]


def test_reference_by_id_alone_matches_any_type(observations: Store) -> None:
    assert observations.ids("Observation", "subject=p1") == ["o1", "o4"]


def test_reference_type_modifier(observations: Store) -> None:
    assert observations.ids("Observation", "subject:Group=p1") == ["o4"]
    assert observations.ids("Observation", "subject:Patient=p1") == ["o1"]


def test_reference_absolute_url(observations: Store) -> None:
    assert observations.ids("Observation", "subject=http://elsewhere.org/fhir/Patient/p1") == ["o3"]
    own = "http://fhirbridge.test/fhir/Patient/p2"
    assert observations.ids("Observation", f"subject={own}") == ["o2"]


def test_patient_parameter_only_follows_patient_references(observations: Store) -> None:
    assert observations.ids("Observation", "patient=p1") == ["o1"]


def test_reference_or_and_and(observations: Store) -> None:
    assert observations.ids("Observation", "subject=Patient/p1,Patient/p2") == ["o1", "o2"]
    assert observations.ids("Observation", "subject=Patient/p1&subject=Patient/p2") == []


def test_canonical_reference(store: Store) -> None:
    store.put(
        {
            "resourceType": "QuestionnaireResponse",
            "id": "qr",
            "status": "completed",
            "questionnaire": "http://example.org/Questionnaire/phq|1.0",
            "subject": {"reference": "Patient/p"},
        }
    )
    assert store.ids("QuestionnaireResponse", "questionnaire=http://example.org/Questionnaire/phq") == ["qr"]


# --- date ---


@pytest.fixture
def dated(store: Store) -> Store:
    store.put(observation("day", "p", effectiveDateTime="2024-03-15"))
    store.put(observation("instant", "p", effectiveDateTime="2024-03-15T23:30:00+00:00"))
    store.put(observation("period", "p", effectivePeriod={"start": "2024-03-01", "end": "2024-04-10"}))
    store.put(observation("open", "p", effectivePeriod={"start": "2024-05-01"}))
    store.put(observation("none", "p"))
    return store


def test_date_equality_uses_precision(dated: Store) -> None:
    assert dated.ids("Observation", "date=2024-03-15") == ["day", "instant"]
    assert dated.ids("Observation", "date=2024-03") == ["day", "instant"]
    assert dated.ids("Observation", "date=2024") == ["day", "instant", "period"]


def test_date_time_zone(dated: Store) -> None:
    assert dated.ids("Observation", "date=2024-03-16T01:30:00%2B02:00") == ["instant"]


def test_date_prefixes(dated: Store) -> None:
    assert dated.ids("Observation", "date=gt2024-04-01") == ["open", "period"]
    assert dated.ids("Observation", "date=lt2024-03-02") == ["period"]
    assert dated.ids("Observation", "date=ge2024-04-10") == ["open", "period"]
    assert dated.ids("Observation", "date=le2024-03-15") == ["day", "instant", "period"]
    assert dated.ids("Observation", "date=sa2024-04-20") == ["open"]
    assert dated.ids("Observation", "date=eb2024-03-16") == ["day", "instant"]
    assert dated.ids("Observation", "date=ne2024-03-15") == ["open", "period"]


def test_date_range_by_and(dated: Store) -> None:
    assert dated.ids("Observation", "date=ge2024-03-10&date=le2024-03-20") == ["day", "instant", "period"]


def test_date_approximately(dated: Store) -> None:
    assert "day" in dated.ids("Observation", "date=ap2024-03-16")


def test_period_overlaps_a_search_range(dated: Store) -> None:
    # A period overlapping the searched month is found by range prefixes, not by equality.
    assert dated.ids("Observation", "date=ge2024-04&date=le2024-04") == ["period"]


def test_bad_date_is_rejected_even_when_lenient(dated: Store) -> None:
    with pytest.raises(BadRequest) as caught:
        dated.ids("Observation", "date=yesterday")
    assert caught.value.issues[0].expression == ("date",)


def test_last_updated(store: Store) -> None:
    store.put(patient("a"))
    assert store.ids("Patient", "_lastUpdated=gt2000-01-01") == ["a"]
    assert store.ids("Patient", "_lastUpdated=lt2000-01-01") == []


# --- number, quantity, uri ---


def test_quantity(store: Store) -> None:
    ucum = "http://unitsofmeasure.org"
    store.put(observation("w1", "p", valueQuantity={"value": 12.5, "unit": "kg", "system": ucum, "code": "kg"}))
    store.put(observation("w2", "p", valueQuantity={"value": 30, "unit": "kg", "system": ucum, "code": "kg"}))
    assert store.ids("Observation", "value-quantity=12.5") == ["w1"]
    assert store.ids("Observation", "value-quantity=gt20|http://unitsofmeasure.org|kg") == ["w2"]
    assert store.ids("Observation", "value-quantity=lt100||kg") == ["w1", "w2"]
    assert store.ids("Observation", "value-quantity=30||g") == []
    assert store.ids("Observation", "value-quantity=ap13") == ["w1"]


def test_number_uses_precision(store: Store) -> None:
    store.put(
        {
            "resourceType": "RiskAssessment",
            "id": "r1",
            "status": "final",
            "subject": {"reference": "Patient/p"},
            "prediction": [{"probabilityDecimal": 0.82}],
        }
    )
    assert store.ids("RiskAssessment", "probability=0.8") == ["r1"]
    assert store.ids("RiskAssessment", "probability=0.80") == []
    assert store.ids("RiskAssessment", "probability=gt0.5") == ["r1"]
    with pytest.raises(BadRequest):
        store.ids("RiskAssessment", "probability=high")


def test_uri_exact_below_above(store: Store) -> None:
    store.put(
        {
            "resourceType": "Questionnaire",
            "id": "q",
            "status": "active",
            "url": "http://example.org/fhir/Questionnaire/phq9",
        }
    )
    assert store.ids("Questionnaire", "url=http://example.org/fhir/Questionnaire/phq9") == ["q"]
    assert store.ids("Questionnaire", "url=http://example.org/fhir") == []
    assert store.ids("Questionnaire", "url:below=http://example.org/fhir") == ["q"]
    assert store.ids("Questionnaire", "url:above=http://example.org/fhir/Questionnaire/phq9/extra") == ["q"]


# --- :missing, common parameters ---


def test_missing(people: Store) -> None:
    assert people.ids("Patient", "birthdate:missing=true") == ["cy"]
    assert people.ids("Patient", "birthdate:missing=false") == ["ana", "ben"]
    assert people.ids("Patient", "death-date:missing=false") == ["cy"]
    assert people.ids("Patient", "email:missing=true") == ["ben", "cy"]


def test_id_tag_profile_security(store: Store) -> None:
    store.put(
        patient(
            "a",
            meta={
                "tag": [{"system": "urn:t", "code": "study"}],
                "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"],
                "security": [{"system": "urn:sec", "code": "R"}],
            },
        )
    )
    store.put(patient("b"))
    assert store.ids("Patient", "_id=a,b") == ["a", "b"]
    assert store.ids("Patient", "_tag=urn:t|study") == ["a"]
    assert store.ids("Patient", "_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient") == ["a"]
    assert store.ids("Patient", "_security=R") == ["a"]


def test_escaped_comma_is_part_of_the_value(store: Store) -> None:
    store.put(patient("a", name=[{"family": "Smith,Jones"}]))
    assert store.ids("Patient", r"family=smith\,jones") == ["a"]
    assert store.ids("Patient", "family=smith,jones") == ["a"]


def test_deleted_and_updated_resources(store: Store) -> None:
    store.put(patient("a", gender="male"))
    store.put(patient("b", gender="male"))
    store.delete("Patient", "b")
    assert store.ids("Patient", "gender=male") == ["a"]
    store.put(patient("a", gender="female"))
    assert store.ids("Patient", "gender=male") == []
    assert store.ids("Patient", "gender=female") == ["a"]
    assert store.ids("Patient", "") == ["a"]


# --- chaining ---


def test_chained_search(observations: Store) -> None:
    observations.put(patient("p1", name=[{"family": "Lopez"}], identifier=[{"system": "urn:mrn", "value": "7"}]))
    assert observations.ids("Observation", "subject:Patient.name=lopez") == ["o1"]
    assert observations.ids("Observation", "patient.identifier=urn:mrn|7") == ["o1"]
    assert observations.ids("Observation", "subject.name=lopez") == ["o1"]


def test_reverse_chain(observations: Store) -> None:
    observations.put(observation("o5", "p2", status="cancelled"))
    assert observations.ids("Patient", "_has:Observation:patient:status=cancelled") == ["p2"]
    assert observations.ids("Patient", "_has:Observation:subject:_id=o1") == ["p1"]


# --- unknown parameters ---


def test_unknown_parameter_is_ignored_when_lenient(people: Store) -> None:
    result = people.search("Patient", "gender=male&shoe-size=9")
    assert [e.id for e in result.matches] == ["ben"]
    assert result.applied == [("gender", "male")]
    assert result.ignored == ["shoe-size"]


def test_unknown_parameter_is_rejected_when_strict(people: Store) -> None:
    with pytest.raises(BadRequest) as caught:
        people.search("Patient", "gender=male&shoe-size=9", strict=True)
    assert caught.value.issues[0].expression == ("shoe-size",)


def test_unsupported_modifier_is_refused_in_every_mode(people: Store) -> None:
    # R4 3.1.1.5: a server SHALL reject a modifier it does not support, lenient or not.
    for strict in (True, False):
        with pytest.raises(BadRequest) as caught:
            people.search("Patient", "gender:contains=ma", strict=strict)
        assert caught.value.issues[0].expression == ("gender:contains",)


def test_long_values_are_indexed_without_failing_the_write(store: Store) -> None:
    long_value = "é" * 3000
    store.put(
        patient(
            "a",
            identifier=[{"system": "urn:" + "x" * 3000, "value": long_value}],
            name=[{"family": "Ng" + "a" * 400}],
            generalPractitioner=[{"reference": "Practitioner/" + "p" * 80}],
        )
    )
    assert store.ids("Patient", "family=ngaaa") == ["a"]
    assert store.ids("Patient", "identifier:missing=false") == ["a"]


def test_choice_elements_only_match_data_type_suffixes(store: Store) -> None:
    store.put(
        {
            "resourceType": "Goal",
            "id": "g",
            "lifecycleStatus": "active",
            "description": {"text": "x"},
            "subject": {"reference": "Patient/p"},
            "startDate": "2024-01-01",
        }
    )
    assert store.ids("Goal", "start-date=2024-01-01") == ["g"]


def test_composite_code_value_quantity(store: Store) -> None:
    systolic = {"coding": [{"system": LOINC, "code": "8480-6"}]}
    diastolic = {"coding": [{"system": LOINC, "code": "8462-4"}]}
    store.put(
        observation(
            "bp",
            "p",
            code={"coding": [{"system": LOINC, "code": "85354-9"}]},
            component=[
                {
                    "code": systolic,
                    "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
                },
                {
                    "code": diastolic,
                    "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
                },
            ],
        )
    )
    assert store.ids("Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt100") == ["bp"]
    assert store.ids("Observation", "component-code-value-quantity=8462-4$gt100") == []
    assert store.ids("Observation", "combo-code-value-quantity=8462-4$lt90||mm[Hg]") == ["bp"]
    assert store.ids("Observation", "code-value-quantity=8480-6$gt100") == []
    with pytest.raises(BadRequest):
        store.ids("Observation", "component-code-value-quantity=8480-6")


def test_composite_code_value_concept_and_date(store: Store) -> None:
    smoker = {"coding": [{"system": "http://snomed.info/sct", "code": "77176002"}]}
    store.put(
        observation(
            "s",
            "p",
            code={"coding": [{"system": LOINC, "code": "72166-2"}]},
            valueCodeableConcept=smoker,
        )
    )
    store.put(
        observation(
            "d",
            "p",
            code={"coding": [{"system": LOINC, "code": "11778-8"}]},
            valueDateTime="2024-10-01",
        )
    )
    assert store.ids("Observation", "code-value-concept=72166-2$http://snomed.info/sct|77176002") == ["s"]
    assert store.ids("Observation", "code-value-concept=72166-2$1") == []
    assert store.ids("Observation", "code-value-date=11778-8$ge2024-09") == ["d"]
    assert store.ids("Observation", "code-value-date=11778-8$lt2024-09") == []


def test_reference_identifier_modifier(store: Store) -> None:
    store.put(observation("o1", "p", performer=[{"identifier": {"system": "urn:npi", "value": "123"}}]))
    store.put(observation("o2", "p", performer=[{"reference": "Practitioner/x"}]))
    assert store.ids("Observation", "performer:identifier=urn:npi|123") == ["o1"]
    assert store.ids("Observation", "performer:identifier=123") == ["o1"]
    assert store.ids("Observation", "performer:identifier=urn:other|123") == []


def test_system_search_by_type(store: Store) -> None:
    store.put(patient("a", gender="male"))
    store.put(observation("o", "a"))
    store.put(
        {
            "resourceType": "Goal",
            "id": "g",
            "lifecycleStatus": "active",
            "description": {"text": "x"},
            "subject": {"reference": "Patient/a"},
        }
    )
    assert store.ids(None, "_type=Patient,Observation") == ["a", "o"]
    assert store.ids(None, "_type=Patient&gender=male") == ["a"]
    assert store.search(None, "_type=Patient,Goal&gender=male").ignored == ["gender"]
    with pytest.raises(BadRequest):
        store.ids("Patient", "_type=Patient")
