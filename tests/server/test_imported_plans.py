"""A partner's plan shows the coordinator what the record cannot hold (finding 12): who contributed to it,
who keeps it, and the activities it points at outside the record; read-only, so writing the record back
as read changes nothing, and a write cannot change them.

The plan is shaped on HL7's MCC eCare Plan example ``careplan-for-bundle``
(github HL7/fhir-us-mcc ``input/fsh/carePlanexampleInstanceForBundle.fsh``, CC0): the custodian
extension, five contributors of four resource types, activities referring to ServiceRequests and a
MedicationRequest the record does not hold, and an activity with only outcomes. The people are a child's.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from fhirbridge.domain.plan import CarePlan
from fhirbridge.mappers import record_from_resources, record_to_resources

CHILD = "eli"
RECORD = f"/coordination/children/{CHILD}"
JSON = {"Content-Type": "application/json"}
CUSTODIAN = "http://hl7.org/fhir/us/mcc/StructureDefinition/custodian"
EHR = "https://ehr.example.org/fhir"
"""The partner's server: what its plan names there is not on ours."""


def mcc_plan() -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "careplan-for-bundle",
        "meta": {"profile": ["http://hl7.org/fhir/us/mcc/StructureDefinition/mccCarePlan"]},
        "extension": [
            {
                "url": CUSTODIAN,
                "valueReference": {"reference": "Practitioner/dr-carlson", "display": "Dr. John Carlson"},
            }
        ],
        "status": "active",
        "intent": "plan",
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "734163000", "display": "Care Plan"}]},
            {"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "code": "assess-plan"}]},
        ],
        "subject": {"reference": f"Patient/{CHILD}", "display": "Eli Noelle"},
        "period": {"start": "2022-05-20"},
        "created": "2022-05-20",
        "contributor": [
            {"reference": "Practitioner/dr-carlson", "display": "Dr John Carlson, Primary Care Physician"},
            {
                "reference": f"{EHR}/PractitionerRole/careCoordinator-1",
                "display": "Care-coordinator, served by Julie Smith",
            },
            {"reference": f"Patient/{CHILD}", "display": "Eli"},
            {
                "reference": f"{EHR}/PractitionerRole/dr-vince-jones",
                "display": "Nephrologist Role, served by Dr Vince Jones",
            },
            {"reference": "RelatedPerson/eli-mom", "display": "Rose Noelle, Mother"},
        ],
        "careTeam": [{"reference": "CareTeam/careteam-for-bundle", "display": "CKD focused care team"}],
        "activity": [
            {
                "reference": {"reference": f"{EHR}/ServiceRequest/dialysis-request"},
                "outcomeReference": [{"reference": "Procedure/dialysis-for-bundle"}],
            },
            {"outcomeReference": [{"reference": f"{EHR}/Procedure/ckd-app-education"}]},
            {
                "reference": {
                    "reference": "MedicationRequest/med-for-chilblains",
                    "display": "Treatment for chilblains",
                },
                "progress": [{"time": "2022-12-10", "text": "Symptoms improving"}],
            },
        ],
    }


def mcc_resources() -> list[dict[str, Any]]:
    return [
        {"resourceType": "Patient", "id": CHILD, "name": [{"family": "Noelle", "given": ["Eli"]}]},
        {
            "resourceType": "RelatedPerson",
            "id": "eli-mom",
            "patient": {"reference": f"Patient/{CHILD}"},
            "name": [{"family": "Noelle", "given": ["Rose"]}],
        },
        {"resourceType": "Practitioner", "id": "dr-carlson", "name": [{"family": "Carlson", "given": ["John"]}]},
        {
            "resourceType": "CareTeam",
            "id": "careteam-for-bundle",
            "status": "active",
            "name": "CKD focused care team",
            "subject": {"reference": f"Patient/{CHILD}"},
            "participant": [
                {"role": [{"text": "primary care physician"}], "member": {"reference": "Practitioner/dr-carlson"}}
            ],
        },
        {
            "resourceType": "Procedure",
            "id": "dialysis-for-bundle",
            "status": "completed",
            "code": {"text": "Dialysis"},
            "subject": {"reference": f"Patient/{CHILD}"},
        },
        {
            "resourceType": "MedicationRequest",
            "id": "med-for-chilblains",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Topical corticosteroid"},
            "subject": {"reference": f"Patient/{CHILD}"},
        },
        mcc_plan(),
    ]


def seeded(client: httpx.Client) -> None:
    for resource in mcc_resources():
        response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
        assert response.status_code == 201, response.text


def versions(client: httpx.Client) -> dict[str, int]:
    keys = [f"{r['resourceType']}/{r['id']}" for r in mcc_resources()]
    return {key: client.get(f"/{key}/_history").json()["total"] for key in keys}


# -- the mappers ---------------------------------------------------------------------------------------


def test_an_mcc_plan_reads_its_contributors_custodian_and_outside_activities() -> None:
    (plan,) = record_from_resources(mcc_resources()).record.care_plans
    assert plan.custodian is not None
    assert (plan.custodian.reference, plan.custodian.display, plan.custodian.party_id) == (
        "Practitioner/dr-carlson",
        "Dr. John Carlson",
        "dr-carlson",
    )
    assert [(c.resource_type, c.party_id) for c in plan.contributors] == [
        ("Practitioner", "dr-carlson"),
        ("PractitionerRole", None),
        ("Patient", CHILD),
        ("PractitionerRole", None),
        ("RelatedPerson", "eli-mom"),
    ]
    assert [(a.reference, a.resource_type, a.display) for a in plan.outside_activities] == [
        (f"{EHR}/ServiceRequest/dialysis-request", "ServiceRequest", None),
        ("MedicationRequest/med-for-chilblains", "MedicationRequest", "Treatment for chilblains"),
    ]
    assert plan.activities == []


def test_the_read_only_parts_are_never_written_the_partners_plan_is() -> None:
    record = record_from_resources(mcc_resources()).record
    plan = record.care_plans[0]
    plan.contributors = plan.contributors[:1]
    plan.custodian = None
    plan.outside_activities = []
    (written,) = [r for r in record_to_resources(record) if r["resourceType"] == "CarePlan"]
    assert written == mcc_plan()


def test_a_plan_fhirbridge_writes_has_no_read_only_parts() -> None:
    fresh = CarePlan(id="plan-1", title="Plan of care")
    assert (fresh.contributors, fresh.custodian, fresh.outside_activities) == ([], None, [])


# -- over the record API ------------------------------------------------------------------------------


def test_the_record_api_shows_the_partners_plan_read_only(client: httpx.Client) -> None:
    seeded(client)
    (plan,) = client.get(f"{RECORD}/care_plans").json()
    assert plan["custodian"] == {
        "reference": "Practitioner/dr-carlson",
        "resource_type": "Practitioner",
        "display": "Dr. John Carlson",
        "party_id": "dr-carlson",
    }
    assert [c["display"] for c in plan["contributors"]][1] == "Care-coordinator, served by Julie Smith"
    assert [a["reference"] for a in plan["outside_activities"]] == [
        f"{EHR}/ServiceRequest/dialysis-request",
        "MedicationRequest/med-for-chilblains",
    ]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["CarePlan"]["properties"]
    assert all(schema[name]["readOnly"] for name in ("contributors", "custodian", "outside_activities"))


def test_writing_the_record_back_as_read_succeeds_and_changes_nothing(client: httpx.Client) -> None:
    seeded(client)
    before = versions(client)
    record = client.get(RECORD)
    again = client.put(RECORD, content=record.content, headers={**JSON, "If-Match": record.headers["ETag"]})
    assert again.status_code == 200, again.text
    assert again.json() == record.json()
    assert versions(client) == before  # the first write adds only the child's organizations List
    once_more = client.put(RECORD, content=again.content, headers={**JSON, "If-Match": again.headers["ETag"]})
    assert once_more.headers["ETag"] == again.headers["ETag"]
    stored = client.get("/CarePlan/careplan-for-bundle").json()
    assert {k: v for k, v in stored.items() if k != "meta"} == {k: v for k, v in mcc_plan().items() if k != "meta"}


def test_a_write_changing_the_read_only_parts_leaves_them_as_the_plan_has_them(client: httpx.Client) -> None:
    seeded(client)
    before = versions(client)
    plans = client.get(f"{RECORD}/care_plans").json()
    shown = copy.deepcopy(plans)
    plans[0]["contributors"] = []
    plans[0]["custodian"] = {"reference": "Practitioner/someone-else", "display": "Someone else"}
    plans[0]["outside_activities"] = plans[0]["outside_activities"][:1]
    written = client.put(f"{RECORD}/care_plans", json=plans)
    assert written.status_code == 200, written.text
    assert written.json() == shown
    assert versions(client) == before


def test_a_coordinators_change_to_the_plan_keeps_the_partners_parts(client: httpx.Client) -> None:
    seeded(client)
    plans = client.get(f"{RECORD}/care_plans").json()
    plans[0]["notes"] = ["Family asks for morning appointments"]
    assert client.put(f"{RECORD}/care_plans", json=plans).status_code == 200
    stored = client.get("/CarePlan/careplan-for-bundle").json()
    assert stored["note"] == [{"text": "Family asks for morning appointments"}]
    assert (stored["extension"], stored["contributor"]) == (mcc_plan()["extension"], mcc_plan()["contributor"])
    assert [a.get("reference") for a in stored["activity"]] == [a.get("reference") for a in mcc_plan()["activity"]]
    (plan,) = client.get(f"{RECORD}/care_plans").json()
    assert len(plan["contributors"]) == 5 and len(plan["outside_activities"]) == 2
