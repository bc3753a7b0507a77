"""How clients learn to authenticate: SMART configuration and the CapabilityStatement security part."""

from __future__ import annotations

from typing import Any

from fhirbridge.config import Settings
from fhirbridge.security.scopes import PERMISSIONS

RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
]


def smart_configuration(settings: Settings) -> dict[str, Any]:
    """``/.well-known/smart-configuration`` (SMART App Launch 2.0)."""
    document: dict[str, Any] = {
        "issuer": settings.jwt_issuer,
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": [
            "openid",
            "fhirUser",
            "launch/patient",
            f"patient/*.{PERMISSIONS}",
            f"user/*.{PERMISSIONS}",
            f"system/*.{PERMISSIONS}",
        ],
        "capabilities": CAPABILITIES,
    }
    if settings.oauth_authorize_url:
        document["authorization_endpoint"] = settings.oauth_authorize_url
    if settings.oauth_token_url:
        document["token_endpoint"] = settings.oauth_token_url
    if settings.jwks.startswith(("https://", "http://")):
        document["jwks_uri"] = settings.jwks
    return document


def rest_security(settings: Settings) -> dict[str, Any]:
    """``CapabilityStatement.rest.security``: SMART-on-FHIR with its OAuth endpoints."""
    security: dict[str, Any] = {"cors": bool(settings.cors_origins)}
    if settings.auth_disabled:
        security["description"] = "Authentication is DISABLED on this server (development only)."
        return security
    uris = [
        {"url": name, "valueUri": value}
        for name, value in (("authorize", settings.oauth_authorize_url), ("token", settings.oauth_token_url))
        if value
    ]
    if uris:
        security["extension"] = [{"url": OAUTH_URIS, "extension": uris}]
    security["service"] = [
        {
            "coding": [{"system": RESTFUL_SECURITY_SERVICE, "code": "SMART-on-FHIR"}],
            "text": "OAuth2 using SMART-on-FHIR profile",
        }
    ]
    security["description"] = (
        "OAuth 2.0 bearer tokens (JWT) with SMART App Launch v2 scopes; see /.well-known/smart-configuration."
    )
    return security


__all__ = ["rest_security", "smart_configuration"]
