"""Pediatric to adult care, end to end over HTTP on both backends, as deployed (care-team mode): the
readiness questionnaire served and answered by the youth, the transition plan written on /coordination
and read back as FHIR, and the transfer summary the adult practice reads with the youth's consent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from fhirbridge.server.cli import load_demo_into
from tests.conftest import LiveServer
from tests.security.conftest import client_as, token_for

CHILD = "noor"
RECORD = f"/coordination/children/{CHILD}"
PRACTICE = "lakeside-peds"
ADULT = "harbor-adult-medicine"
COORDINATOR = "Practitioner/coordinator-ray"
READINESS = "http://fhirbridge.org/fhir/Questionnaire/transition-readiness"
SCALE_SYSTEM = "http://fhirbridge.org/fhir/CodeSystem/transition-readiness"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SHARED = "http://fhirbridge.org/fhir/CodeSystem/shared-information"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
JSON = {"Content-Type": "application/json"}


def ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), response.text
    return response.json()


def readiness_answers(questionnaire: dict[str, Any], answer: str) -> dict[str, Any]:
    """Every readiness question answered ``answer``, and the youth's own goals in words."""
    items = []
    for group in questionnaire["item"]:
        if group["type"] == "group":
            answered = [
                {
                    "linkId": q["linkId"],
                    "text": q["text"],
                    "answer": [{"valueCoding": {"system": SCALE_SYSTEM, "code": answer}}],
                }
                for q in group["item"]
            ]
            items.append({"linkId": group["linkId"], "text": group["text"], "item": answered})
        else:
            items.append(
                {"linkId": group["linkId"], "text": group["text"], "answer": [{"valueString": "Refill my own inhaler"}]}
            )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "noor-readiness",
        "questionnaire": READINESS,
        "status": "completed",
        "subject": {"reference": f"Patient/{CHILD}"},
        "author": {"reference": f"Patient/{CHILD}"},
        "authored": datetime.now(UTC).isoformat(timespec="seconds"),
        "item": items,
    }


def register(ehr: httpx.Client) -> None:
    for resource in (
        {"resourceType": "Organization", "id": PRACTICE, "name": "Lakeside Pediatrics"},
        {"resourceType": "Organization", "id": ADULT, "name": "Harbor Adult Medicine"},
        {
            "resourceType": "Patient",
            "id": CHILD,
            "name": [{"given": ["Noor"], "family": "Haddad"}],
            "birthDate": "2009-04-02",
            "managingOrganization": {"reference": f"Organization/{PRACTICE}"},
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "noor-peanut",
            "patient": {"reference": f"Patient/{CHILD}"},
            "code": {"text": "Peanut"},
        },
    ):
        ok(ehr.put(f"/{resource['resourceType']}/{resource['id']}", json=resource), 200, 201)


def test_the_transition_from_readiness_to_the_adult_practice(secure_server: LiveServer) -> None:
    ehr = client_as(secure_server, token_for("ehr-system", org=PRACTICE))
    coordinator = client_as(secure_server, token_for("care-coordinator", org=PRACTICE, user=COORDINATOR))
    youth = client_as(secure_server, token_for("family", patient=CHILD, user=f"Patient/{CHILD}"))
    adult = client_as(secure_server, token_for("adult-practice", org=ADULT))
    # As the server does when it starts (the test store was emptied since).
    secure_server.app.services.terminology.publish()
    secure_server.app.services.assessment_operations.publish_instruments()
    with ehr, coordinator, youth, adult:
        register(ehr)

        # The instrument, its code system and its answer scale are served and valid.
        questionnaire = ok(youth.get("/Questionnaire/transition-readiness"))
        assert questionnaire["url"] == READINESS
        assert ok(coordinator.get("/CodeSystem/transition-readiness"))["content"] == "complete"
        expansion = ok(coordinator.get("/ValueSet/transition-readiness-scale/$expand"))["expansion"]
        assert [c["code"] for c in expansion["contains"]] == ["not-yet", "learning", "with-help", "on-my-own"]
        outcome = ok(coordinator.post("/Questionnaire/$validate", json=questionnaire))
        assert not [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")], outcome

        # The youth answers it; an answer off the scale is refused, naming the item.
        wrong = readiness_answers(questionnaire, "sometimes")
        refused = youth.put("/QuestionnaireResponse/noor-readiness", json=wrong)
        assert refused.status_code == 422, refused.text
        assert any(i.get("expression") for i in refused.json()["issue"])
        ok(youth.put("/QuestionnaireResponse/noor-readiness", json=readiness_answers(questionnaire, "with-help")), 201)

        # The coordinator writes the plan of care and the transition plan with the youth's own goal.
        current = coordinator.get(RECORD)
        record = ok(current)
        record["care_teams"] = [
            {
                "id": "noor-team",
                "name": "Lakeside team",
                "members": [
                    {
                        "id": "coordinator-ray",
                        "name": "Ray Ito",
                        "role": "care-coordinator",
                        "organization_id": PRACTICE,
                    }
                ],
            }
        ]
        record["goals"] = [
            {"id": "noor-own-refills", "description": "I refill my inhaler myself", "expressed_by_id": CHILD},
            {"id": "noor-team-goal", "description": "Warm handoff to adult care", "expressed_by_id": "coordinator-ray"},
        ]
        plan = {
            "id": "noor-transition",
            "target_transfer_age": 18,
            "target_transfer_date": "2027-06-01",
            "receiving_providers": [
                {
                    "name": "Harbor Adult Medicine",
                    "reference": f"Organization/{ADULT}",
                    "specialty": "Adult primary care",
                }
            ],
            "goal_ids": ["noor-team-goal"],
            "readiness_response_id": "noor-readiness",
            "author_id": "coordinator-ray",
        }
        record["transition_plans"] = [plan]
        refused = coordinator.put(RECORD, json=record, headers={**JSON, "If-Match": current.headers["ETag"]})
        assert refused.status_code == 422, refused.text
        assert ["transition_plans[0].goal_ids[0]"] in [i.get("expression") for i in refused.json()["issue"]]
        plan["goal_ids"] = ["noor-own-refills"]
        ok(coordinator.put(RECORD, json=record, headers={**JSON, "If-Match": current.headers["ETag"]}))

        part = ok(coordinator.get(f"{RECORD}/transition_plans"))
        assert part[0]["receiving_providers"][0]["reference"] == f"Organization/{ADULT}"
        assert part[0]["readiness_response_id"] == "noor-readiness"
        care_plan = ok(ehr.get("/CarePlan/noor-transition"))
        kinds = {c["code"] for concept in care_plan["category"] for c in concept["coding"]}
        assert "transition-plan" in kinds
        assert care_plan["supportingInfo"] == [{"reference": "QuestionnaireResponse/noor-readiness"}]
        # The record read back still holds the readiness answers (kept as they came), not as a needs assessment.
        again = ok(coordinator.get(RECORD))
        assert again["assessments"] == []
        assert "noor-readiness" in [r["id"] for r in again["fhir_other_resources"]]

        # Without the youth's consent the adult practice sees nothing of Noor.
        assert adult.get(f"/Patient/{CHILD}/$transfer-summary").status_code == 404
        consent = {
            "resourceType": "Consent",
            "id": "noor-shares-with-adult-practice",
            "status": "active",
            "scope": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
            },
            "category": [{"coding": [{"system": ACT_CODE, "code": "IDSCL"}]}],
            "patient": {"reference": f"Patient/{CHILD}"},
            "performer": [{"reference": f"Patient/{CHILD}"}],
            "provision": {
                "type": "permit",
                "actor": [
                    {
                        "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                        "reference": {"reference": f"Organization/{ADULT}"},
                    }
                ],
                "class": [
                    {"system": SHARED, "code": code}
                    for code in ("care-plan", "goals", "medical-summary", "needs-assessment", "care-team")
                ],
            },
        }
        ok(coordinator.put(f"/Consent/{consent['id']}", json=consent), 201)

        document = ok(adult.get(f"/Patient/{CHILD}/$transfer-summary"))
        assert document["type"] == "document"
        composition = document["entry"][0]["resource"]
        assert composition["type"]["coding"][0]["code"] == "18761-7"
        sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
        transition = sections["transition-plan"]
        assert {e["reference"] for e in transition["entry"]} == {"CarePlan/noor-transition", "Goal/noor-own-refills"}
        for words in ("Harbor Adult Medicine (Adult primary care)", "I refill my inhaler myself", "18"):
            assert words in transition["text"]["div"]
        readiness = sections["transition-readiness"]
        assert readiness["entry"] == [{"reference": "QuestionnaireResponse/noor-readiness"}]
        assert "Does this with some help" not in readiness["text"]["div"]  # answered codes without display
        assert "with-help" in readiness["text"]["div"]
        assert "Peanut" in sections["48765-2"]["text"]["div"]
        held = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in document["entry"][1:]}
        assert {
            "CarePlan/noor-transition",
            "QuestionnaireResponse/noor-readiness",
            "AllergyIntolerance/noor-peanut",
        } <= held

        # A consent that leaves out the readiness answers leaves them out of the document too.
        consent["provision"]["class"] = [{"system": SHARED, "code": "care-plan"}]
        ok(coordinator.put(f"/Consent/{consent['id']}", json=consent))
        narrower = ok(adult.get(f"/Patient/{CHILD}/$transfer-summary"))
        held = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in narrower["entry"][1:]}
        assert "QuestionnaireResponse/noor-readiness" not in held and "CarePlan/noor-transition" in held
        assert (
            "emptyReason"
            in {s["code"]["coding"][0]["code"]: s for s in narrower["entry"][0]["resource"]["section"]}[
                "transition-readiness"
            ]
        )

        assert adult.get("/Patient/nobody/$transfer-summary").status_code == 404


def test_the_demo_youth_moving_to_adult_care(secure_server: LiveServer) -> None:
    """``make serve``'s Aisha: her adult practice reads her transfer summary with her consent; her
    sensitive diagnoses stay out of it (her consent lists no sensitivity label)."""
    load_demo_into(secure_server.repository)
    with client_as(secure_server, token_for("adult-practice", org="aisha-adult-practice")) as adult:
        document = ok(adult.get("/Patient/aisha/$transfer-summary"))
    sections = {s["code"]["coding"][0]["code"]: s for s in document["entry"][0]["resource"]["section"]}
    assert "Northside Adult Primary Care" in sections["transition-plan"]["text"]["div"]
    assert "I can book my own appointments" in sections["transition-plan"]["text"]["div"]
    assert sections["transition-readiness"]["entry"] == [{"reference": "QuestionnaireResponse/aisha-readiness-1"}]
    assert "Does this on my own" in sections["transition-readiness"]["text"]["div"]
    held = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in document["entry"][1:]}
    assert "Condition/aisha-dx-anxiety" not in held  # ICD-10 F: behavioral health, not consented
