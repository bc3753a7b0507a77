"""``/.well-known/smart-configuration`` per SMART App Launch 2.x: complete when the OAuth endpoints are
configured, and advertising no launch capability the server cannot serve when they are not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.security.smart import smart_configuration
from tests.security.conftest import AUDIENCE, ISSUER, SECRET

AUTHORIZE = "https://auth.example.org/realms/fhirbridge/protocol/openid-connect/auth"
TOKEN = "https://auth.example.org/realms/fhirbridge/protocol/openid-connect/token"
JWKS = "https://auth.example.org/realms/fhirbridge/protocol/openid-connect/certs"
# The metadata SMART App Launch 2.x calls REQUIRED of every document.
REQUIRED = ("token_endpoint", "grant_types_supported", "capabilities", "code_challenge_methods_supported")
LAUNCH = ("launch-ehr", "launch-standalone", "client-public", "context-standalone-patient", "sso-openid-connect")


def configuration(**values: Any) -> dict[str, Any]:
    from fhirbridge.config import Settings

    keys = {"jwt_secret": SECRET, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    return smart_configuration(Settings(**{**keys, **values}))


def assert_complete(document: dict[str, Any]) -> None:
    for name in REQUIRED:
        assert document.get(name), name
    assert "S256" in document["code_challenge_methods_supported"]
    assert "plain" not in document["code_challenge_methods_supported"]
    if {"launch-ehr", "launch-standalone"} & set(document["capabilities"]):
        assert document["authorization_endpoint"].startswith("https://")
    if "sso-openid-connect" in document["capabilities"]:
        assert document["issuer"] and document["jwks_uri"]
    else:
        assert "issuer" not in document  # omitted without sso-openid-connect
    for name, value in document.items():
        if name.endswith(("_endpoint", "_uri")):
            assert value.startswith("https://"), name  # endpoint URLs SHALL be absolute


def test_with_both_endpoints_the_document_is_complete_for_a_standalone_launch() -> None:
    document = configuration(oauth_authorize_url=AUTHORIZE, oauth_token_url=TOKEN)
    assert_complete(document)
    assert document["authorization_endpoint"] == AUTHORIZE and document["token_endpoint"] == TOKEN
    assert document["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert document["response_types_supported"] == ["code"]
    # The "Patient Access for Standalone Apps" and "Clinician Access for Standalone" capability sets.
    assert {"launch-standalone", "client-public", "context-standalone-patient", "permission-patient"} <= set(
        document["capabilities"]
    )
    assert "permission-user" in document["capabilities"]
    assert "launch/patient" in document["scopes_supported"]
    assert "launch-ehr" not in document["capabilities"]  # no EHR to launch from
    assert "sso-openid-connect" not in document["capabilities"]  # no jwks_uri to give with it


def test_an_identity_provider_with_a_key_set_url_adds_openid_connect() -> None:
    document = configuration(oauth_authorize_url=AUTHORIZE, oauth_token_url=TOKEN, jwt_secret="", jwks=JWKS)
    assert_complete(document)
    assert "sso-openid-connect" in document["capabilities"]
    assert (document["issuer"], document["jwks_uri"]) == (ISSUER, JWKS)
    assert {"openid", "fhirUser"} <= set(document["scopes_supported"])


@pytest.mark.parametrize("endpoints", [{}, {"oauth_authorize_url": AUTHORIZE}])
def test_without_the_endpoints_no_launch_capability_is_advertised(endpoints: dict[str, str]) -> None:
    document = configuration(**endpoints)
    assert not set(LAUNCH) & set(document["capabilities"])
    assert not [name for name in document["capabilities"] if name.startswith(("client-", "context-"))]
    assert "authorization_endpoint" not in document and "token_endpoint" not in document
    assert document["grant_types_supported"] == []
    assert "launch/patient" not in document["scopes_supported"] and "openid" not in document["scopes_supported"]
    # What fhirbridge itself does with any token stays said.
    assert {"permission-patient", "permission-user", "permission-v2"} <= set(document["capabilities"])


def test_a_token_endpoint_alone_serves_back_end_services_only() -> None:
    document = configuration(oauth_token_url=TOKEN)
    assert_complete(document)
    assert document["grant_types_supported"] == ["client_credentials"]
    assert "client-confidential-asymmetric" in document["capabilities"]
    assert not {"launch-standalone", "client-public", "context-standalone-patient"} & set(document["capabilities"])
    assert "authorization_endpoint" not in document


def test_with_authentication_off_nothing_is_advertised() -> None:
    document = configuration(auth_disabled=True, oauth_authorize_url=AUTHORIZE, oauth_token_url=TOKEN)
    assert document["capabilities"] == [] and document["scopes_supported"] == []


def test_served_as_json_whatever_the_accept_header(anonymous: httpx.Client) -> None:
    response = anonymous.get("/.well-known/smart-configuration", headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert_complete(document)
    assert "launch-standalone" in document["capabilities"]
