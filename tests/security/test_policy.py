"""The pure parts of access control: scopes, compartments, sensitivity, consent, audit and Provenance."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.provenance import Provenance

from fhirbridge.classification import ACT_CODE, sensitivity_labels
from fhirbridge.compartment import compartment_patients, compartment_search_constraint, in_compartment
from fhirbridge.security.audit import AccessRecord, audit_event, interaction_of
from fhirbridge.security.consent import consent_grant
from fhirbridge.security.principal import Principal
from fhirbridge.security.provenance import provenance_for
from fhirbridge.security.roles import ROLES, role_claims
from fhirbridge.security.scopes import parse_scope, parse_scopes
from fhirbridge.storage.contract import StoredVersion
from tests.factories import goal, observation, task
from tests.security import records
from tests.support import EXAMPLES_JSON

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("patient/Observation.rs", "patient/Observation.rs"),
        ("user/*.cruds", "user/*.cruds"),
        ("system/Goal.read", "system/Goal.rs"),
        ("user/Task.write", "user/Task.cud"),
        ("patient/*.*", "patient/*.cruds"),
        ("user/Goal.c", "user/Goal.c"),
    ],
)
def test_smart_scopes_parse_to_permissions(text: str, expected: str) -> None:
    assert str(parse_scope(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "launch/patient",
        "user/Goal.sr",
        "user/Goal.rr",
        "user/goal.r",
        "user/Goal.x",
        "patient/Observation.rs?category=x",
    ],
)
def test_anything_else_grants_nothing(text: str) -> None:
    assert parse_scope(text) is None


def test_scopes_are_read_from_a_space_separated_claim() -> None:
    assert [str(s) for s in parse_scopes("openid fhirUser patient/*.rs user/Goal.u")] == ["patient/*.rs", "user/Goal.u"]


def test_compartment_membership_follows_the_r4_definition() -> None:
    assert in_compartment(goal("g", "ana"), "ana")
    assert not in_compartment(goal("g", "ana"), "ben")
    assert in_compartment(records.practice_child("ana"), "ana")
    assert in_compartment(task("t", "ana"), "ana")  # fhirbridge's extension: Task.for
    performer = {**observation("o", "ana"), "performer": [{"reference": "Patient/ben"}]}
    assert compartment_patients(performer) == {"ana", "ben"}
    # An absolute reference may name a patient on another server.
    assert not in_compartment({**goal("g", "x"), "subject": {"reference": "https://x.test/Patient/ana"}}, "ana")
    versioned = {**goal("g", "x"), "subject": {"reference": "Patient/ana/_history/3"}}
    assert in_compartment(versioned, "ana")


def test_official_care_plan_example_is_in_its_patients_compartment() -> None:
    plan = json.loads((EXAMPLES_JSON / "careplan-example.json").read_text())
    subject = plan["subject"]["reference"].split("/")[1]
    assert in_compartment(plan, subject)


def test_search_constraints_name_the_compartment_params() -> None:
    constraint = compartment_search_constraint("Observation", "ana")
    assert constraint is not None
    assert constraint.alternatives() == [("performer", "Patient/ana"), ("subject", "Patient/ana")]
    patient = compartment_search_constraint("Patient", "ana")
    assert patient is not None and patient.alternatives() == [("_id", "ana"), ("link", "Patient/ana")]
    assert compartment_search_constraint("Practitioner", "ana") is None
    with pytest.raises(LookupError):
        compartment_search_constraint("Bundle", "ana")


def test_sensitive_resources_are_recognised() -> None:
    assert sensitivity_labels(records.behavioral_condition("c", "ana")) == {"BH"}
    assert sensitivity_labels(records.psychosocial_answers("q", "ana")) == {"SOC"}
    assert sensitivity_labels(goal("g", "ana")) == frozenset()


def test_a_consent_grants_the_named_organization_while_active() -> None:
    consent = records.consent(
        "c", "ana", "payer-1", period={"start": "2026-01-01", "end": "2026-12-31"}, labels=("BH",)
    )
    Consent.model_validate(consent)
    grant = consent_grant(consent, "Organization/payer-1", "ana", NOW)
    assert grant is not None and grant.labels == {"BH"}
    assert consent_grant(consent, "Organization/school-1", "ana", NOW) is None
    assert consent_grant(consent, "Organization/payer-1", "ben", NOW) is None
    assert consent_grant(consent, "Organization/payer-1", "ana", datetime(2027, 1, 2, tzinfo=UTC)) is None
    assert consent_grant({**consent, "status": "inactive"}, "Organization/payer-1", "ana", NOW) is None
    assert (
        consent_grant(
            {**consent, "provision": {**consent["provision"], "type": "deny"}}, "Organization/payer-1", "ana", NOW
        )
        is None
    )


def test_a_nested_deny_withdraws_a_label() -> None:
    consent = records.consent("c", "ana", "payer-1", labels=("BH", "SOC"))
    consent["provision"]["provision"] = [{"type": "deny", "securityLabel": [{"system": ACT_CODE, "code": "SOC"}]}]
    grant = consent_grant(consent, "Organization/payer-1", "ana", NOW)
    assert grant is not None and grant.labels == {"BH"}


def test_roles_mint_the_documented_claims() -> None:
    family = role_claims("family", patient="ana")
    assert family["patient"] == "ana" and "patient/*.rs" in family["scope"].split()
    payer = role_claims("payer-case-manager", org="payer-1")
    assert payer["fhirbridge_org"] == "Organization/payer-1" and "fhirbridge_team" not in payer
    with pytest.raises(ValueError, match="--patient"):
        role_claims("family")
    assert set(ROLES) == {
        "ehr-system",
        "care-coordinator",
        "discharge-planner",
        "payer-case-manager",
        "referral-partner",
        "adult-practice",
        "family",
    }


PRINCIPAL = Principal.from_claims(
    {
        "sub": "u1",
        "client_id": "ehr-app",
        "fhirUser": "Practitioner/7",
        "fhirbridge_org": "Organization/home",
        "patient": "ana",
    }
)


def test_provenance_is_valid_r4_and_targets_the_version() -> None:
    version = StoredVersion("Goal", "g1", 3, NOW, False, b"{}", "PUT")
    provenance = provenance_for(version, PRINCIPAL)
    Provenance.model_validate(provenance)
    assert provenance["target"] == [{"reference": "Goal/g1/_history/3"}]
    assert provenance["agent"][0]["who"] == {"reference": "Practitioner/7"}
    assert provenance["agent"][0]["onBehalfOf"] == {"reference": "Organization/home"}


def test_audit_events_are_valid_r4() -> None:
    record = AccessRecord("GET", "/Goal/g1", "", 403, "10.0.0.8", PRINCIPAL, NOW)
    event = audit_event(record)
    AuditEvent.model_validate(event)
    assert event["subtype"][0]["code"] == "read"
    assert event["outcome"] == "4"
    assert event["agent"][0]["network"]["address"] == "10.0.0.8"
    assert {"reference": "Goal/g1"} in [entity.get("what") for entity in event["entity"]]
    AuditEvent.model_validate(audit_event(AccessRecord("POST", "/", "", 401, None, None, NOW)))


@pytest.mark.parametrize(
    ("method", "path", "interaction"),
    [
        ("GET", "/Goal/g1", "read"),
        ("GET", "/Goal/g1/_history/2", "vread"),
        ("GET", "/Goal/g1/_history", "history-instance"),
        ("GET", "/Goal/_history", "history-type"),
        ("GET", "/_history", "history-system"),
        ("GET", "/Goal", "search-type"),
        ("POST", "/Goal/_search", "search-type"),
        ("POST", "/Goal", "create"),
        ("PUT", "/Goal/g1", "update"),
        ("PATCH", "/Goal/g1", "patch"),
        ("DELETE", "/Goal/g1", "delete"),
        ("POST", "/", "transaction"),
        ("GET", "/Patient/ana/$everything", "operation"),
    ],
)
def test_requests_map_to_restful_interactions(method: str, path: str, interaction: str) -> None:
    assert interaction_of(method, path)[0] == interaction
