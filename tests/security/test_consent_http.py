"""Outside organizations see a child's data only while the family's consent names them."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from tests.factories import goal, organization
from tests.security import records
from tests.security.conftest import CHILD, OTHER_CHILD, PAYER, SCHOOL, client_as, store, token_for


def payer(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("payer-case-manager", org=PAYER))


def seed(server: LiveServer, *consents: dict[str, object]) -> None:
    store(
        server,
        records.practice_child(CHILD),
        records.practice_child(OTHER_CHILD),
        goal("ana-goal", CHILD),
        goal("ben-goal", OTHER_CHILD),
        records.behavioral_condition("ana-autism", CHILD),
        organization(PAYER),
        *consents,
    )


def test_without_consent_the_payer_is_refused(secure_server: LiveServer) -> None:
    seed(secure_server)
    with payer(secure_server) as http:
        response = http.get("/Goal/ana-goal")
        assert response.status_code == 404
        # Answered as if it did not exist: the payer learns nothing of Ana's record.
        assert response.json()["issue"][0]["diagnostics"] == "Goal/ana-goal is not known"
        # Directory data holds no child's data and needs no consent.
        assert http.get(f"/Organization/{PAYER}").status_code == 200


def test_an_active_consent_opens_that_child_only(secure_server: LiveServer) -> None:
    seed(secure_server, records.consent("ana-payer", CHILD, PAYER))
    with payer(secure_server) as http:
        assert http.get("/Goal/ana-goal").status_code == 200
        assert http.get(f"/Patient/{CHILD}").status_code == 200
        assert http.get("/Goal/ben-goal").status_code == 404
        goals = http.get("/Goal/_history").json()
        assert [entry["resource"]["id"] for entry in goals["entry"]] == ["ana-goal"]
        assert goals["total"] == 1


def test_a_consent_naming_another_organization_opens_nothing(secure_server: LiveServer) -> None:
    seed(secure_server, records.consent("ana-school", CHILD, SCHOOL))
    with payer(secure_server) as http:
        assert http.get("/Goal/ana-goal").status_code == 404


def test_an_expired_or_revoked_consent_opens_nothing(secure_server: LiveServer) -> None:
    seed(
        secure_server,
        records.consent("ana-old", CHILD, PAYER, period={"start": "2020-01-01", "end": "2021-01-01"}),
        records.consent("ana-revoked", CHILD, PAYER, status="inactive"),
    )
    with payer(secure_server) as http:
        assert http.get("/Goal/ana-goal").status_code == 404


def test_behavioral_health_needs_a_consent_covering_it(secure_server: LiveServer) -> None:
    seed(secure_server, records.consent("ana-payer", CHILD, PAYER))
    with payer(secure_server) as http:
        assert http.get("/Goal/ana-goal").status_code == 200
        response = http.get("/Condition/ana-autism")
        assert response.status_code == 404
        assert response.json()["issue"][0]["diagnostics"] == "Condition/ana-autism is not known"
        assert http.get("/Condition/_history").json()["total"] == 0
    store(secure_server, records.consent("ana-payer", CHILD, PAYER, labels=("BH",)))
    with payer(secure_server) as http:
        assert http.get("/Condition/ana-autism").status_code == 200


def test_revoking_consent_takes_effect_at_once(secure_server: LiveServer) -> None:
    seed(secure_server, records.consent("ana-payer", CHILD, PAYER))
    with payer(secure_server) as http:
        assert http.get("/Goal/ana-goal").status_code == 200
        store(secure_server, records.consent("ana-payer", CHILD, PAYER, status="inactive"))
        assert http.get("/Goal/ana-goal").status_code == 404


def test_the_treating_team_needs_no_consent(secure_server: LiveServer) -> None:
    seed(secure_server)
    with client_as(secure_server, token_for("care-coordinator", user="Practitioner/coordinator-1")) as http:
        assert http.get("/Condition/ana-autism").status_code == 200
