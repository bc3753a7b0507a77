"""Age of majority: once a youth is 18, the youth's own Consents govern what a parent's token sees of the
youth's sensitive data. Over HTTP on both backends, and the SQL filter agreeing with the Python decision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fhirbridge.config import Settings
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.policy import _of_age
from fhirbridge.security.principal import Principal
from fhirbridge.security.roles import role_claims
from fhirbridge.security.server import access_for
from fhirbridge.storage.schema import resources
from tests.conftest import LiveServer
from tests.security.conftest import client_as, store, token_for

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SHARED = "http://fhirbridge.org/fhir/CodeSystem/shared-information"
TODAY = datetime.now(UTC).date()


def years_ago(years: int, days: int = 0) -> str:
    return (date(TODAY.year - years, TODAY.month, min(TODAY.day, 28)) - timedelta(days=days)).isoformat()


def condition(id: str, child: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": id,
        "subject": {"reference": f"Patient/{child}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F41.1"}], "text": "Anxiety"},
    }


def youth_consent(id: str, *, performer: str, labels: list[str], classes: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": id,
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": ACT_CODE, "code": "IDSCL"}]}],
        "patient": {"reference": "Patient/lena"},
        "performer": [{"reference": performer}],
        "provision": {
            "type": "permit",
            "actor": [{"reference": {"reference": "RelatedPerson/lena-mother"}}],
            "securityLabel": [{"system": ACT_CODE, "code": code} for code in labels],
            "class": [{"system": SHARED, "code": code} for code in classes],
        },
    }


WORLD: list[dict[str, Any]] = [
    # Lena turned 18 ten days ago (well, within the month); Kai is 17.
    {"resourceType": "Patient", "id": "lena", "birthDate": years_ago(18, days=10)},
    {"resourceType": "Patient", "id": "kai", "birthDate": years_ago(17)},
    {"resourceType": "RelatedPerson", "id": "lena-mother", "patient": {"reference": "Patient/lena"}},
    {"resourceType": "RelatedPerson", "id": "kai-father", "patient": {"reference": "Patient/kai"}},
    condition("lena-anxiety", "lena"),
    condition("kai-anxiety", "kai"),
    {
        "resourceType": "Goal",
        "id": "lena-goal",
        "lifecycleStatus": "active",
        "description": {"text": "I book my own appointments"},
        "subject": {"reference": "Patient/lena"},
    },
    {
        "resourceType": "Observation",
        "id": "lena-substance-screen",
        "meta": {"security": [{"system": ACT_CODE, "code": "SUD"}]},
        "status": "final",
        "code": {"text": "Substance use screen"},
        "subject": {"reference": "Patient/lena"},
    },
]


def family(server: LiveServer, child: str, user: str) -> httpx.Client:
    return client_as(server, token_for("family", patient=child, user=user))


def visible_ids(http: httpx.Client, query: str) -> set[str]:
    response = http.get(query)
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


@pytest.fixture
def world(secure_server: LiveServer) -> LiveServer:
    store(secure_server, *WORLD)
    return secure_server


def test_a_parent_no_longer_sees_an_adult_youths_sensitive_data(world: LiveServer) -> None:
    with family(world, "lena", "RelatedPerson/lena-mother") as mother:
        assert mother.get("/Condition/lena-anxiety").status_code == 404
        assert mother.get("/Observation/lena-substance-screen").status_code == 404
        assert mother.get("/Goal/lena-goal").status_code == 200
        assert mother.get("/Patient/lena").status_code == 200
        assert visible_ids(mother, "/Condition?patient=lena") == set()
        bundle = mother.get("/Condition?patient=lena&_summary=count").json()
        assert bundle["total"] == 0
        everything = visible_ids(mother, "/Patient/lena/$everything")
        assert "lena-goal" in everything and "lena-anxiety" not in everything
        assert "lena-substance-screen" not in everything
    with family(world, "kai", "RelatedPerson/kai-father") as father:
        assert father.get("/Condition/kai-anxiety").status_code == 200  # Kai is 17: his parents see it all


def test_the_youth_sees_all_of_it(world: LiveServer) -> None:
    with family(world, "lena", "Patient/lena") as lena:
        assert lena.get("/Condition/lena-anxiety").status_code == 200
        assert visible_ids(lena, "/Observation?patient=lena") == {"lena-substance-screen"}


def test_the_youths_own_consent_opens_what_it_lists_to_the_parent_it_names(world: LiveServer) -> None:
    store(
        world,
        youth_consent("lena-shares-bh", performer="Patient/lena", labels=["BH"], classes=["medical-summary"]),
    )
    with family(world, "lena", "RelatedPerson/lena-mother") as mother:
        assert mother.get("/Condition/lena-anxiety").status_code == 200
        assert visible_ids(mother, "/Condition?patient=lena") == {"lena-anxiety"}
        # SUD is not listed, and the screen is a needs-assessment: still hidden.
        assert mother.get("/Observation/lena-substance-screen").status_code == 404
        assert visible_ids(mother, "/Observation?patient=lena") == set()
    # A token without a user is nobody a Consent can name: it stays limited.
    with client_as(world, token_for("family", patient="lena")) as unnamed:
        assert unnamed.get("/Condition/lena-anxiety").status_code == 404


def test_a_consent_the_parent_gave_does_not_count(world: LiveServer) -> None:
    store(
        world,
        youth_consent(
            "mother-shares-bh", performer="RelatedPerson/lena-mother", labels=["BH"], classes=["medical-summary"]
        ),
    )
    with family(world, "lena", "RelatedPerson/lena-mother") as mother:
        assert mother.get("/Condition/lena-anxiety").status_code == 404


def test_a_parent_cannot_write_what_it_may_not_see(world: LiveServer) -> None:
    with family(world, "lena", "RelatedPerson/lena-mother") as mother:
        response = mother.put(
            "/QuestionnaireResponse/lena-bh-answers",
            json={
                "resourceType": "QuestionnaireResponse",
                "id": "lena-bh-answers",
                "meta": {"security": [{"system": ACT_CODE, "code": "BH"}]},
                "status": "completed",
                "subject": {"reference": "Patient/lena"},
                "author": {"reference": "RelatedPerson/lena-mother"},
            },
        )
        assert response.status_code == 403, response.text


def test_the_sql_filter_agrees_with_the_python_decision(world: LiveServer) -> None:
    store(
        world,
        youth_consent("lena-shares-bh", performer="Patient/lena", labels=["BH"], classes=["medical-summary"]),
    )
    stored = [fhir_json.loads_stored(v.content) for v in world.repository.iter_current() if v.content is not None]
    types = sorted({str(r["resourceType"]) for r in stored})
    callers = [
        role_claims("family", patient="lena", user="RelatedPerson/lena-mother"),
        role_claims("family", patient="lena", user="Patient/lena"),
        role_claims("family", patient="lena"),
        role_claims("family", patient="kai", user="RelatedPerson/kai-father"),
    ]
    for claims in callers:
        access = access_for(world.repository, Principal.from_claims({"sub": "caller", **claims}), Settings())
        allowed = {f"{r['resourceType']}/{r['id']}" for r in stored if access.visible(r)}
        visible = access.row_filter()
        assert visible is not None
        query = sa.select(resources.c.resource_type, resources.c.id).where(
            resources.c.deleted.is_(False),
            sa.or_(*(sa.and_(resources.c.resource_type == t, visible(t, resources)) for t in types)),
        )
        with world.repository.connect() as conn:
            selected = {f"{t}/{i}" for t, i in conn.execute(query)}
        assert selected == allowed, claims
        if claims.get("fhirUser") == "RelatedPerson/lena-mother":
            assert "Condition/lena-anxiety" in allowed and "Observation/lena-substance-screen" not in allowed


@pytest.mark.parametrize(
    ("born", "today", "adult"),
    [
        (date(2008, 3, 1), date(2026, 3, 1), True),
        (date(2008, 3, 1), date(2026, 2, 28), False),
        (date(2008, 2, 29), date(2026, 2, 28), False),
        (date(2008, 2, 29), date(2026, 3, 1), True),
    ],
)
def test_the_birthday_counts(born: date, today: date, adult: bool) -> None:
    assert _of_age(born, today, 18) is adult
