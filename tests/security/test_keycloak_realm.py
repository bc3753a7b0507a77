"""The example Keycloak realm (docs/keycloak-realm.json) gives tokens fhirbridge understands.

No Keycloak runs here: the test reads the realm's protocol mappers and client scopes, makes the access
token each client and user would get from them (as Keycloak fills the claims: a user attribute mapper
copies the attribute, a hard-coded mapper its value, the audience mapper ``aud``, the client scopes that
are included in the token scope ``scope``), signs it RS256 with a key served from a real JWKS URL, and
checks what fhirbridge makes of it. So a claim renamed in the code, or a scope the parser no longer
takes, breaks the recipe visibly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from fhirbridge.security.principal import ORG_CLAIM, ROLE_CLAIM, TEAM_CLAIM, Principal
from fhirbridge.security.scopes import parse_scope
from fhirbridge.security.tokens import TokenVerifier
from tests.security.identity_provider import IdentityProvider, SigningKey
from tests.support import REPO_ROOT

REALM: dict[str, Any] = json.loads((REPO_ROOT / "docs" / "keycloak-realm.json").read_text())
ISSUER = "https://auth.example.org/realms/fhirbridge"
READ_CLAIMS = {"patient", "fhirUser", ORG_CLAIM, TEAM_CLAIM, ROLE_CLAIM}
KEY = SigningKey("realm-key")


@pytest.fixture(scope="module")
def verifier() -> Iterator[TokenVerifier]:
    provider = IdentityProvider(KEY)
    yield TokenVerifier(issuer=ISSUER, audience=audience(), jwks=provider.url, max_lifetime=3600)
    provider.close()


def scopes_by_name() -> dict[str, dict[str, Any]]:
    return {scope["name"]: scope for scope in REALM["clientScopes"]}


def audience() -> str:
    mappers = scopes_by_name()["fhirbridge"]["protocolMappers"]
    (mapper,) = [m for m in mappers if m["protocolMapper"] == "oidc-audience-mapper"]
    value: str = mapper["config"]["included.custom.audience"]
    return value


def keycloak_token(client_id: str, username: str | None = None) -> str:
    """The access token Keycloak would issue to this client (for this user), from the realm's mappers."""
    client = next(c for c in REALM["clients"] if c["clientId"] == client_id)
    scopes = [scopes_by_name()[name] for name in client["defaultClientScopes"]]
    user = next((u for u in REALM["users"] if u["username"] == username), None)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": username or f"service-account-{client_id}",
        "azp": client_id,
        "iat": now,
        "exp": now + REALM["accessTokenLifespan"],
        "scope": " ".join(s["name"] for s in scopes if s["attributes"].get("include.in.token.scope") == "true"),
    }
    mappers = [m for s in scopes for m in s.get("protocolMappers", [])] + client.get("protocolMappers", [])
    for mapper in mappers:
        config = mapper["config"]
        if mapper["protocolMapper"] == "oidc-audience-mapper":
            claims["aud"] = config["included.custom.audience"]
        elif mapper["protocolMapper"] == "oidc-hardcoded-claim-mapper":
            claims[config["claim.name"]] = config["claim.value"]
        elif mapper["protocolMapper"] == "oidc-usermodel-attribute-mapper" and user is not None:
            values = user.get("attributes", {}).get(config["user.attribute"])
            if values:
                claims[config["claim.name"]] = values[0]
    return jwt.encode(claims, KEY.private, algorithm="RS256", headers={"kid": KEY.kid})


def test_every_claim_fhirbridge_reads_has_a_mapper() -> None:
    mapped = {
        m["config"]["claim.name"]
        for m in scopes_by_name()["fhirbridge"]["protocolMappers"]
        if "claim.name" in m["config"]
    }
    assert mapped >= READ_CLAIMS
    assert REALM["defaultSignatureAlgorithm"] == "RS256"
    assert REALM["accessTokenLifespan"] <= 3600


def test_every_smart_scope_of_the_realm_is_one_fhirbridge_grants() -> None:
    for scope in REALM["clientScopes"]:
        if scope["attributes"].get("include.in.token.scope") == "true":
            assert parse_scope(scope["name"]) is not None, scope["name"]
    for client in REALM["clients"]:
        assert "fhirbridge" in client["defaultClientScopes"], client["clientId"]


def test_the_ehr_service_account_is_a_treating_back_end_service(verifier: TokenVerifier) -> None:
    principal = verifier.verify(keycloak_token("ehr-medical-home"))
    assert principal.client_id == "ehr-medical-home"
    assert principal.organization == "Organization/medical-home"
    assert principal.treating and not principal.consent_required
    assert [str(scope) for scope in principal.scopes] == ["system/*.cruds"]


def test_a_coordinator_acts_as_a_practitioner_of_the_medical_home(verifier: TokenVerifier) -> None:
    principal = verifier.verify(keycloak_token("care-coordination-app", "coordinator.rivera"))
    assert (principal.fhir_user, principal.organization, principal.role) == (
        "Practitioner/dana-rivera",
        "Organization/medical-home",
        "care-coordinator",
    )
    assert not principal.treating  # from the data (care-team mode), not from the token


def test_a_payer_sees_by_consent(verifier: TokenVerifier) -> None:
    principal = verifier.verify(keycloak_token("payer-portal", "case.manager.okafor"))
    assert principal.organization == "Organization/jordan-medicaid" and principal.consent_required
    assert {scope.context for scope in principal.scopes} == {"user"}


def test_a_parent_is_confined_to_their_child(verifier: TokenVerifier) -> None:
    principal: Principal = verifier.verify(keycloak_token("family-app", "parent.jordan"))
    assert principal.patient == "jordan"
    assert principal.fhir_user == "RelatedPerson/jordan-parent"
    assert {scope.context for scope in principal.scopes} == {"patient"}
