"""Every SHALL and SHOULD search (and combination) of the US Core 7.0.0 server CapabilityStatement.

The combinations are read from the CapabilityStatement itself; for each resource type there is a
``target`` matching every search value below, a ``near`` miss with the same patient and every other
value different, and a ``far`` miss of another patient.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhirbridge.search import supported_parameters
from tests.search.conftest import SHARED_DIR, Store

SCT = "http://snomed.info/sct"
TYPES = ["CarePlan", "CareTeam", "Condition", "Goal", "Patient", "QuestionnaireResponse", "ServiceRequest"]
CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ASSERTED = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def resources_of(kind: str, subject: str, which: str) -> dict[str, Any]:
    """The ``target`` (which="t") or its near miss (which="n") of one resource type."""
    t = which == "t"
    ref = {"reference": f"Patient/{subject}"}
    if kind == "CarePlan":
        return {
            "status": "active" if t else "completed",
            "intent": "plan",
            "subject": ref,
            "category": [concept(CAREPLAN_CATEGORY, "assess-plan" if t else "other")],
            "period": {"start": "2024-01-01", "end": "2024-06-30"}
            if t
            else {"start": "2019-01-01", "end": "2019-02-01"},
        }
    if kind == "CareTeam":
        return {
            "status": "active" if t else "inactive",
            "subject": ref,
            "participant": [
                {
                    "role": [concept(SCT, "116154003" if t else "223366009")],
                    "member": {"reference": "Practitioner/dr"},
                }
            ],
        }
    if kind == "Condition":
        return {
            "subject": ref,
            "clinicalStatus": concept(CLINICAL, "active" if t else "resolved"),
            "category": [concept(CONDITION_CATEGORY, "problem-list-item" if t else "encounter-diagnosis")],
            "code": concept(SCT, "44054006" if t else "38341003"),
            "encounter": {"reference": "Encounter/e1" if t else "Encounter/e2"},
            "onsetDateTime": "2023-05-01" if t else "2010-01-01",
            "abatementDateTime": "2024-01-01" if t else "2011-01-01",
            "recordedDate": "2023-05-02" if t else "2010-01-02",
            "extension": [{"url": ASSERTED, "valueDateTime": "2023-04-30" if t else "2009-12-31"}],
        }
    if kind == "Goal":
        return {
            "lifecycleStatus": "active" if t else "cancelled",
            "subject": ref,
            "description": concept(SCT, "281004" if t else "161832001"),
            "target": [{"dueDate": "2024-09-01" if t else "2012-01-01"}],
        }
    if kind == "QuestionnaireResponse":
        return {
            "status": "completed" if t else "in-progress",
            "subject": ref,
            "questionnaire": "http://example.org/Questionnaire/phq-9" if t else "http://example.org/Questionnaire/x",
            "authored": "2024-03-01T10:00:00Z" if t else "2015-03-01T10:00:00Z",
        }
    if kind == "ServiceRequest":
        return {
            "status": "active" if t else "revoked",
            "intent": "order",
            "subject": ref,
            "code": concept(SCT, "306206005" if t else "73761001"),
            "category": [concept(SCT, "386053000" if t else "409063005")],
            "authoredOn": "2024-04-01" if t else "2012-04-01",
        }
    raise AssertionError(kind)


PATIENT = {
    "name": [{"family": "Shaw", "given": ["Amy"]}],
    "gender": "female",
    "birthDate": "2012-03-04",
    "deceasedDateTime": "2024-02-02",
    "identifier": [{"system": "urn:mrn", "value": "1032702"}],
}
OTHER_PATIENT = {
    "name": [{"family": "Kim", "given": ["Bo"]}],
    "gender": "male",
    "birthDate": "1990-01-01",
    "deceasedDateTime": "2020-01-01",
    "identifier": [{"system": "urn:mrn", "value": "99"}],
}

# The search value of every parameter for the target (US Core's examples use system|code tokens).
VALUES: dict[str, dict[str, str]] = {
    "CarePlan": {
        "patient": "Patient/us1",
        "category": f"{CAREPLAN_CATEGORY}|assess-plan",
        "status": "active,draft",
        "date": "ge2024-02-01",
    },
    "CareTeam": {"patient": "us1", "status": "active", "role": f"{SCT}|116154003"},
    "Condition": {
        "patient": "us1",
        "category": "problem-list-item",
        "clinical-status": f"{CLINICAL}|active",
        "code": f"{SCT}|44054006",
        "encounter": "Encounter/e1",
        "onset-date": "ge2023-05-01",
        "abatement-date": "gt2023-12-31",
        "recorded-date": "2023-05-02",
        "asserted-date": "gt2023-01",
        "_lastUpdated": "gt2020-01-01",
    },
    "Goal": {
        "patient": "Patient/us1",
        "lifecycle-status": "active",
        "description": f"{SCT}|281004",
        "target-date": "ge2024-09-01",
    },
    "Patient": {
        "_id": "us1",
        "identifier": "urn:mrn|1032702",
        "name": "shaw",
        "family": "Shaw",
        "given": "amy",
        "gender": "female",
        "birthdate": "2012-03-04",
        "death-date": "2024-02-02",
    },
    "QuestionnaireResponse": {
        "_id": "QuestionnaireResponse-target",
        "patient": "us1",
        "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/phq-9",
        "authored": "gt2024-02-28T12:00:00Z",
    },
    "ServiceRequest": {
        "_id": "ServiceRequest-target",
        "patient": "us1",
        "code": f"{SCT}|306206005",
        "category": f"{SCT}|386053000",
        "authored": "ge2024-04-01",
        "status": "active",
    },
}


def capability() -> dict[str, Any]:
    path = SHARED_DIR / "fhir" / "us-core-7.0.0" / "capabilitystatement-us-core-server.json"
    statement = json.loads(path.read_text())
    return {r["type"]: r for r in statement["rest"][0]["resource"] if r["type"] in TYPES}


CAPABILITY = capability()


def expectation(element: dict[str, Any]) -> str:
    return next((e["valueCode"] for e in element.get("extension", []) if "expectation" in e["url"]), "MAY")


def searches() -> list[tuple[str, tuple[str, ...], str]]:
    found: list[tuple[str, tuple[str, ...], str]] = []
    for kind, resource in CAPABILITY.items():
        for param in resource.get("searchParam", []):
            found.append((kind, (param["name"],), expectation(param)))
        for combination in resource.get("extension", []):
            if not combination["url"].endswith("search-parameter-combination"):
                continue
            names = tuple(e["valueString"] for e in combination["extension"] if e["url"] == "required")
            found.append((kind, names, expectation(combination)))
    return found


SEARCHES = searches()


@pytest.fixture(scope="module")
def us_core(repository: Any) -> Any:
    from tests.search.conftest import wipe

    wipe(repository)
    store = Store(repository)
    store.put({"resourceType": "Patient", "id": "us1", **PATIENT})
    store.put({"resourceType": "Patient", "id": "us2", **OTHER_PATIENT})
    for kind in TYPES:
        if kind == "Patient":
            continue
        store.put({"resourceType": kind, "id": f"{kind}-target", **resources_of(kind, "us1", "t")})
        store.put({"resourceType": kind, "id": f"{kind}-near", **resources_of(kind, "us1", "n")})
        store.put({"resourceType": kind, "id": f"{kind}-far", **resources_of(kind, "us2", "t")})
        store.put(
            {
                "resourceType": "Provenance",
                "id": f"prov-{kind}",
                "recorded": "2024-01-01T00:00:00Z",
                "target": [{"reference": f"{kind}/{kind}-target"}],
                "agent": [{"who": {"reference": "Practitioner/dr"}}],
            }
        )
    store.put({"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Who"}]})
    yield store
    wipe(repository)


def test_the_capability_statement_is_covered() -> None:
    assert {kind for kind, _, _ in SEARCHES} == set(TYPES)
    shall_should = [s for s in SEARCHES if s[2] in ("SHALL", "SHOULD") and len(s[1]) > 1]
    assert len(shall_should) == 32
    for kind, names, _ in SEARCHES:
        supported = {p.code for p in supported_parameters(kind)}
        assert set(names) <= supported, (kind, names)


@pytest.mark.parametrize(
    ("kind", "names", "expectation"), SEARCHES, ids=lambda v: "+".join(v) if isinstance(v, tuple) else v
)
def test_us_core_search(us_core: Store, kind: str, names: tuple[str, ...], expectation: str) -> None:
    query = [(name, VALUES[kind][name]) for name in names]
    found = us_core.ids(kind, query, strict=True)
    if kind == "Patient":
        assert found == ["us1"]
        return
    expected = [f"{kind}-target"]
    if set(names) <= {"patient", "_lastUpdated"}:
        expected.append(f"{kind}-near")
    if "patient" not in names and "_id" not in names:
        expected.append(f"{kind}-far")
    assert found == sorted(expected)


@pytest.mark.parametrize("kind", TYPES)
def test_us_core_provenance_revinclude(us_core: Store, kind: str) -> None:
    first = "_id" if kind == "Patient" else "patient"
    params = [(first, "us1"), ("_revinclude", "Provenance:target")]
    result = us_core.search(kind, params, strict=True)
    included = [e.id for e in result.entries if e.mode == "include"]
    assert included == ([] if kind == "Patient" else [f"prov-{kind}"])


def test_us_core_careteam_includes(us_core: Store) -> None:
    for target in ["Practitioner", "PractitionerRole", "Patient", "RelatedPerson"]:
        params = [("patient", "us1"), ("status", "active"), ("_include", f"CareTeam:participant:{target}")]
        result = us_core.search("CareTeam", params, strict=True)
        included = [e.id for e in result.entries if e.mode == "include"]
        assert included == (["dr"] if target == "Practitioner" else [])


def test_patient_reference_forms(us_core: Store) -> None:
    for value in ["us1", "Patient/us1", "http://fhirbridge.test/fhir/Patient/us1"]:
        assert us_core.ids("Goal", [("patient", value)], strict=True) == ["Goal-near", "Goal-target"]


DATES = [
    ("CarePlan", "date", "2024-01-01", "2024-06-30"),
    ("Condition", "onset-date", "2023-05-01", "2023-05-01"),
    ("Condition", "abatement-date", "2024-01-01", "2024-01-01"),
    ("Condition", "recorded-date", "2023-05-02", "2023-05-02"),
    ("Condition", "asserted-date", "2023-04-30", "2023-04-30"),
    ("Goal", "target-date", "2024-09-01", "2024-09-01"),
    ("QuestionnaireResponse", "authored", "2024-03-01", "2024-03-01"),
    ("ServiceRequest", "authored", "2024-04-01", "2024-04-01"),
]


@pytest.mark.parametrize(("kind", "name", "start", "end"), DATES)
def test_us_core_date_comparators(us_core: Store, kind: str, name: str, start: str, end: str) -> None:
    target = f"{kind}-target"

    def found(value: str) -> bool:
        return target in us_core.ids(kind, [("patient", "us1"), (name, value)], strict=True)

    assert found(f"gt{int(start[:4]) - 1}") and not found(f"gt{int(end[:4]) + 1}")
    assert found(f"ge{end}") and not found(f"ge{int(end[:4]) + 1}")
    assert found(f"lt{int(start[:4]) + 1}") and not found(f"lt{start[:4]}-01-01")
    assert found(f"le{start}") and not found(f"le{int(start[:4]) - 1}")
