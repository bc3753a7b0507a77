"""``/docs`` and ``/openapi.json``: the API described for people, working in a browser behind our CSP.

Swagger UI comes from the ``swagger-ui-bundle-v2`` package (its files, served from here): the CDN FastAPI
loads it from by default is blocked by the server's Content-Security-Policy, and a browser on a clinical
network may not reach it anyway. The page sets its own policy, allowing only our own scripts, styles, the
images Swagger UI draws as ``data:`` URLs, and calls to this server (the security middleware keeps it
within ``default-src 'none'`` and ``frame-ancestors 'none'``). The page's one script of our own is a file
too, so no inline script is needed.

The OpenAPI document says what the server really does: every request needs a bearer token except the
discovery documents; the FHIR routes are named by their FHIR interaction; an error is an OperationOutcome
(FastAPI's ``HTTPValidationError`` is never sent: a bad request answers 400 with an OperationOutcome).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, Response

from fhirbridge import FHIR_VERSION
from fhirbridge.config import Settings

DOCS = "/docs"
ASSETS = "/docs/assets/"
# The files of Swagger UI the page loads, and no others (the package also holds source maps and bundles
# for other layouts).
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API</title>
<link rel="stylesheet" href="{assets}swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}swagger-ui-bundle.js"></script>
<script src="{assets}init.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise send the document to an outside validator.
INIT_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
  });
});
"""

BEARER = "bearer"
OUTCOME = {"$ref": "#/components/schemas/OperationOutcome"}
FHIR_CONTENT = {"application/fhir+json": {"schema": {"type": "object"}}, "application/fhir+xml": {}}
SPEC = "https://hl7.org/fhir/R4/http.html"
# (method, path) of each FHIR interaction route: its name in the FHIR specification, what it does, its group.
INTERACTIONS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("get", "/metadata"): ("capabilities", "The CapabilityStatement: what this server supports.", "system"),
    ("get", "/"): ("search-system", "Search across all resource types (`_type` names them).", "system"),
    ("post", "/"): (
        "batch/transaction",
        "A Bundle of type `transaction` (all or nothing) or `batch` (each entry on its own).",
        "system",
    ),
    ("get", "/_history"): ("history-system", "Every change to every resource, newest first.", "system"),
    ("get", "/{resource_type}"): ("search-type", "Search the resources of one type.", "type"),
    ("post", "/{resource_type}/_search"): (
        "search-type",
        "Search with the parameters in a form body (`application/x-www-form-urlencoded`).",
        "type",
    ),
    ("post", "/{resource_type}"): (
        "create",
        "Create a resource; with `If-None-Exist`, only when no resource matches (conditional create).",
        "type",
    ),
    ("put", "/{resource_type}"): (
        "conditional update",
        "Update the one resource matching the search parameters, or create it when none matches.",
        "type",
    ),
    ("delete", "/{resource_type}"): ("conditional delete", "Delete the resources matching the parameters.", "type"),
    ("get", "/{resource_type}/_history"): ("history-type", "Every change to the resources of one type.", "type"),
    ("get", "/{resource_type}/{id}"): ("read", "The current version of a resource.", "instance"),
    ("put", "/{resource_type}/{id}"): (
        "update",
        "Replace a resource (creating it with this id when there is none); `If-Match` for optimistic locking.",
        "instance",
    ),
    ("patch", "/{resource_type}/{id}"): ("patch", "Change a resource with a JSON Patch.", "instance"),
    ("delete", "/{resource_type}/{id}"): ("delete", "Delete a resource (its history is kept).", "instance"),
    ("get", "/{resource_type}/{id}/_history"): ("history-instance", "Every version of one resource.", "instance"),
    ("get", "/{resource_type}/{id}/_history/{version_id}"): ("vread", "One version of a resource.", "instance"),
    ("get", "/{compartment_type}/{id}/{resource_type}"): (
        "search-compartment",
        "Search the resources of one type in a compartment (`Patient/7/Goal`).",
        "instance",
    ),
}
GROUPS = {"system": "FHIR: whole system", "type": "FHIR: resource type", "instance": "FHIR: resource instance"}
PUBLIC = {"/metadata", "/.well-known/smart-configuration"}
OPERATION = re.compile(r"/\$([a-z-]+)")


def install_docs(app: FastAPI, settings: Settings) -> None:
    """The page, its files and the OpenAPI document; before the FHIR routes, whose ``/{type}`` would take
    ``/docs``. The application is made with ``docs_url=None`` and ``redoc_url=None`` (their CDN pages)."""
    folder = _swagger_folder()
    page = PAGE.format(title=app.title, assets=ASSETS)

    @app.get(DOCS, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"content-security-policy": DOCS_CSP})

    @app.get(ASSETS + "init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(INIT_JS, media_type="text/javascript")

    @app.get(ASSETS + "{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in SWAGGER_FILES:
            raise HTTPException(404)
        return FileResponse(folder / name, media_type=SWAGGER_FILES[name])

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=f"FHIR R4 ({FHIR_VERSION}) server and care-coordination API.",
                routes=app.routes,
            )
            app.openapi_schema = describe(document, secured=not settings.auth_disabled)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _swagger_folder() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def describe(document: dict[str, Any], *, secured: bool) -> dict[str, Any]:
    """FastAPI's document made true to the server: security, interactions, errors."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for never_sent in ("HTTPValidationError", "ValidationError"):
        schemas.pop(never_sent, None)
    schemas["OperationOutcome"] = {
        "type": "object",
        "description": "FHIR R4 OperationOutcome: every error, with its issues (`severity`, `code`, "
        "`diagnostics`, `expression` naming the element).",
        "required": ["resourceType", "issue"],
        "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array", "items": {}}},
    }
    if secured:
        components["securitySchemes"] = {
            BEARER: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An OAuth 2.0 access token with SMART App Launch scopes, from your identity "
                "provider (see /.well-known/smart-configuration); for development, `make -s token ROLE=...`.",
            }
        }
        document["security"] = [{BEARER: []}]
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _describe_operation(path, method, operation, secured=secured)
    return document


def _describe_operation(path: str, method: str, operation: dict[str, Any], *, secured: bool) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError: a bad request answers 400 OperationOutcome
    statuses = "400, 404, 409, 410, 412, 413, 415, 422"
    if secured and path not in PUBLIC:
        statuses += "; 401 without a valid bearer token, 403 beyond its scopes"
    errors = f"An OperationOutcome saying what went wrong ({statuses})."
    responses["default"] = {"description": errors, "content": {"application/fhir+json": {"schema": OUTCOME}}}
    if path in PUBLIC:
        operation["security"] = []  # readable without a token
    interaction = INTERACTIONS.get((method, path))
    if interaction is not None:
        name, text, group = interaction
        operation["summary"] = f"{name} - {text.split(':')[0].rstrip('.')}"
        operation["description"] = f"{text}\n\nFHIR interaction **{name}** ({SPEC})."
        operation["tags"] = [GROUPS[group]]
        if "200" in responses:
            responses["200"] = {"description": "The resource, Bundle or OperationOutcome", "content": FHIR_CONTENT}
    elif (found := OPERATION.search(path)) is not None:
        operation["summary"] = f"${found[1]}"
        operation.setdefault("tags", ["FHIR operations"])
    elif path.startswith("/AuditEvent"):  # read from the audit log, apart from the resources
        operation["tags"] = ["FHIR: audit trail"]
    elif path.startswith("/.well-known/"):
        operation["summary"] = "SMART configuration: how to get a token (SMART App Launch 2.x)"
        operation["tags"] = ["discovery"]


__all__ = ["DOCS_CSP", "install_docs"]
