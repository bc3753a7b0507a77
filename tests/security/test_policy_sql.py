"""The access policy's two statements agree: the SQL row filter selects exactly what the Python decision
allows, over the demo children's whole store, for every role preset as each organization of the demo
and as no organization at all, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from fhirbridge.config import Settings
from fhirbridge.formats import json as fhir_json
from fhirbridge.security.principal import Principal
from fhirbridge.security.roles import ROLES, role_claims
from fhirbridge.security.server import access_for
from fhirbridge.server.cli import load_demo_into
from fhirbridge.storage.schema import resources
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer

NOW = datetime(2026, 1, 15, tzinfo=UTC)  # inside most demo consents' periods; one has ended by then


def _load(server: LiveServer) -> None:
    load_demo_into(server.repository)


def _stored(repository: SqlRepository) -> list[dict[str, object]]:
    return [fhir_json.loads_stored(v.content) for v in repository.iter_current() if v.content is not None]


def callers(repository: SqlRepository) -> list[tuple[str, dict[str, object]]]:
    organizations = sorted(r["id"] for r in _stored(repository) if r["resourceType"] == "Organization")
    practitioners = sorted(r["id"] for r in _stored(repository) if r["resourceType"] == "Practitioner")
    found: list[tuple[str, dict[str, object]]] = []
    for role in ROLES.values():
        if role.needs_patient:
            found += [(f"{role.name} of {c}", role_claims(role.name, patient=c)) for c in ("jordan", "aisha")]
            continue
        for org in organizations:
            found.append((f"{role.name} at {org}", role_claims(role.name, org=org)))
        if not role.needs_org:
            found += [(f"{role.name} as {p}", role_claims(role.name, user=f"Practitioner/{p}")) for p in practitioners]
            found.append((f"{role.name} with no user or organization", role_claims(role.name)))
    found.append(("user/*.rs without claims", {"scope": "user/*.rs"}))
    return found


@pytest.fixture
def demo_store(secure_server: LiveServer) -> SqlRepository:
    _load(secure_server)
    return secure_server.repository


@pytest.mark.parametrize("mode", ["care-team", "claim"])
def test_sql_filter_and_python_decision_select_the_same_resources(demo_store: SqlRepository, mode: str) -> None:
    stored = _stored(demo_store)
    types = sorted({str(r["resourceType"]) for r in stored})
    disagreements: list[str] = []
    for name, claims in callers(demo_store):
        principal = Principal.from_claims({"sub": "caller", **claims})
        access = access_for(demo_store, principal, Settings(treating_relationship=mode))
        access.now = NOW
        allowed = {f"{r['resourceType']}/{r['id']}" for r in stored if access.visible(r)}
        visible = access.row_filter()
        assert visible is not None
        query = sa.select(resources.c.resource_type, resources.c.id).where(
            resources.c.deleted.is_(False),
            sa.or_(*(sa.and_(resources.c.resource_type == t, visible(t, resources)) for t in types)),
        )
        with demo_store.connect() as conn:
            selected = {f"{t}/{i}" for t, i in conn.execute(query)}
        if selected != allowed:
            disagreements.append(
                f"{name}: SQL only {sorted(selected - allowed)[:5]}, Python only {sorted(allowed - selected)[:5]}"
            )
    assert not disagreements, "\n".join(disagreements)


def test_the_demo_callers_see_what_their_relation_opens(demo_store: SqlRepository) -> None:
    def seen(claims: dict[str, object]) -> set[str]:
        settings = Settings(treating_relationship="care-team")
        access = access_for(demo_store, Principal.from_claims({"sub": "c", **claims}), settings)
        access.now = NOW
        return {f"{r['resourceType']}/{r['id']}" for r in _stored(demo_store) if access.visible(r)}

    coordinator = seen(role_claims("care-coordinator", user="Practitioner/jordan-coordinator"))
    assert "Patient/jordan" in coordinator and "Patient/aisha" not in coordinator
    payer = seen(role_claims("payer-case-manager", org="jordan-medicaid"))
    # Jordan's family shares goals and referrals with the payer: goals, not diagnoses or answers.
    assert any(ref.startswith("Goal/jordan") for ref in payer)
    assert not any(ref.startswith(("Condition/", "Observation/", "QuestionnaireResponse/")) for ref in payer)
    assert not any("aisha" in ref or "mateo" in ref for ref in payer if ref.startswith("Patient/"))
    nobody = seen({"scope": "user/*.rs"})
    assert not any(ref.startswith(("Patient/", "Goal/", "Condition/")) for ref in nobody)
