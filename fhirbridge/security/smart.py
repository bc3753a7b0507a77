"""How clients learn to authenticate: SMART configuration and the CapabilityStatement security part."""

from __future__ import annotations

from typing import Any

from fhirbridge.config import Settings
from fhirbridge.security.scopes import PERMISSIONS

RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
# What fhirbridge itself does with a token, whoever issued it: patient/ and user/ scopes, in v1 and v2
# syntax (security/scopes.py). Advertised whenever tokens are checked.
PERMISSIONS_CAPABILITIES = ["permission-patient", "permission-user", "permission-v1", "permission-v2"]
# What an authorization server with an authorization endpoint lets an app do: a standalone launch, by a
# public (PKCE) or confidential client, the user picking the child (launch/patient, read back from the
# token's patient claim). Advertised only with FHIRBRIDGE_OAUTH_AUTHORIZE_URL and _TOKEN_URL both set.
LAUNCH_CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-standalone-patient",
]
# Back-end services (client credentials, system/ scopes) need only the token endpoint.
SERVICE_CAPABILITIES = ["client-confidential-symmetric", "client-confidential-asymmetric"]


def smart_configuration(settings: Settings) -> dict[str, Any]:
    """``/.well-known/smart-configuration`` per SMART App Launch 2.x ("Conformance": the metadata a FHIR
    endpoint requiring authorization serves).

    Complete when both OAuth endpoints are configured: every REQUIRED field (``token_endpoint``,
    ``grant_types_supported``, ``capabilities``, ``code_challenge_methods_supported``), the CONDITIONAL
    ``authorization_endpoint`` of a server with ``launch-standalone``, and the RECOMMENDED ``scopes_supported``
    and ``response_types_supported``. ``sso-openid-connect`` (with ``openid``/``fhirUser`` among the scopes)
    is claimed only when its CONDITIONAL ``issuer`` and ``jwks_uri`` can be given: a JWKS URL and an issuer.

    Without an authorization endpoint no launch, launch context or public client is advertised: no app could
    be launched. With a token endpoint alone, back-end services (client credentials) are. With neither, the
    document says only how tokens are checked (the permission capabilities, the scopes understood), and
    lists no grant type. With authentication off, there is nothing to authorize: no capability at all.
    """
    authorize, token = settings.oauth_authorize_url, settings.oauth_token_url
    launch = bool(authorize and token)
    capabilities: list[str] = []
    grant_types: list[str] = []
    if not settings.auth_disabled:
        if launch:
            capabilities += LAUNCH_CAPABILITIES
            grant_types.append("authorization_code")
        elif token:
            capabilities += SERVICE_CAPABILITIES
        if token:
            grant_types.append("client_credentials")
        capabilities += PERMISSIONS_CAPABILITIES
    remote_keys = settings.jwks.startswith(("https://", "http://"))
    single_sign_on = launch and remote_keys and bool(settings.jwt_issuer) and not settings.auth_disabled
    document: dict[str, Any] = {}
    if single_sign_on:
        capabilities.append("sso-openid-connect")
        document["issuer"] = settings.jwt_issuer  # REQUIRED with sso-openid-connect, omitted otherwise
    if remote_keys:
        document["jwks_uri"] = settings.jwks
    if launch:
        document["authorization_endpoint"] = authorize
    if token:
        document["token_endpoint"] = token
        document["token_endpoint_auth_methods_supported"] = ["private_key_jwt", "client_secret_basic"]
    document["grant_types_supported"] = grant_types
    scopes = [f"{context}/*.{PERMISSIONS}" for context in ("patient", "user", "system")]
    if launch:
        scopes = ["launch/patient", *scopes]
        document["response_types_supported"] = ["code"]
    if single_sign_on:
        scopes = ["openid", "fhirUser", *scopes]
    document["scopes_supported"] = [] if settings.auth_disabled else scopes
    document["capabilities"] = capabilities
    # REQUIRED in every document: S256, never plain (SMART App Launch 2.x).
    document["code_challenge_methods_supported"] = ["S256"]
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
