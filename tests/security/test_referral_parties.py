"""With authentication on, only the referral's performer accepts it and only its requester cancels it."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.factories import care_team
from tests.security import records
from tests.security.conftest import CHILD, client_as, store, token_for


def referral(status: str) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": "referral-pt",
        "status": status,
        "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": "ServiceRequest/physical-therapy"},
        "for": {"reference": f"Patient/{CHILD}"},
        "requester": {"reference": "Organization/medical-home"},
        "owner": {"reference": "Organization/pt-clinic"},
    }


def test_each_party_makes_only_its_own_moves(secure_server: LiveServer) -> None:
    # The physical therapy clinic is on Ana's care team: both organizations treat her.
    team = care_team("ana-team", CHILD, "Organization/pt-clinic")
    store(secure_server, records.practice_child(CHILD), team, referral("requested"))
    medical_home = client_as(secure_server, token_for("ehr-system", org="medical-home"))
    pt_clinic = client_as(secure_server, token_for("ehr-system", org="pt-clinic"))
    with medical_home, pt_clinic:
        refused = medical_home.put("/Task/referral-pt", json=referral("accepted"))
        assert refused.status_code == 403
        assert refused.json()["issue"][0]["expression"] == ["Task.owner"]
        assert pt_clinic.put("/Task/referral-pt", json=referral("accepted")).status_code == 200
        cancelled = {**referral("cancelled"), "statusReason": {"text": "Family moved away"}}
        assert pt_clinic.put("/Task/referral-pt", json=cancelled).status_code == 403
        assert medical_home.put("/Task/referral-pt", json=cancelled).status_code == 200
