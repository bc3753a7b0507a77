"""``/docs`` works in a browser behind the server's CSP, and ``/openapi.json`` says what the server does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer
from tests.server.browser import chromium

INTERACTION_PATHS = {
    ("get", "/{resource_type}/{id}"): "read",
    ("get", "/{resource_type}/{id}/_history/{version_id}"): "vread",
    ("put", "/{resource_type}/{id}"): "update",
    ("patch", "/{resource_type}/{id}"): "patch",
    ("delete", "/{resource_type}/{id}"): "delete",
    ("post", "/{resource_type}"): "create",
    ("get", "/{resource_type}"): "search-type",
    ("get", "/{resource_type}/{id}/_history"): "history-instance",
    ("post", "/"): "batch/transaction",
    ("get", "/metadata"): "capabilities",
}


@pytest.fixture
def anonymous(secure_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secure_server.url, timeout=30) as http:
        yield http


def test_the_docs_page_and_its_files_are_served_here_without_a_token(anonymous: httpx.Client) -> None:
    page = anonymous.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/docs/assets/") for source in sources)  # no CDN
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    for source in sources:
        asset = anonymous.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 0
    assert anonymous.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    assert anonymous.get("/docs/assets/index.html").status_code == 404  # only the files the page loads
    assert anonymous.get("/docs/assets/..%2f..%2fpyproject.toml").status_code == 404


def test_the_docs_page_allows_only_what_it_needs(anonymous: httpx.Client) -> None:
    csp = anonymous.get("/docs").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp and "http" not in csp
    # Every other response keeps the strict default.
    assert anonymous.get("/metadata").headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_openapi_document_declares_the_bearer_scheme(anonymous: httpx.Client) -> None:
    document = anonymous.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]["/metadata"]["get"]["security"] == []  # readable without a token
    assert document["paths"]["/.well-known/smart-configuration"]["get"]["security"] == []


def test_fhir_routes_are_described_per_interaction(anonymous: httpx.Client) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    for (method, path), interaction in INTERACTION_PATHS.items():
        operation = paths[path][method]
        assert operation["summary"].startswith(f"{interaction} - "), (method, path, operation["summary"])
        assert f"FHIR interaction **{interaction}**" in operation["description"]
        assert operation["tags"][0].startswith("FHIR: ")
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "$" in path:
                assert operation["summary"].startswith("$"), (method, path)


def test_errors_are_operation_outcomes_never_http_validation_errors(anonymous: httpx.Client) -> None:
    text = anonymous.get("/openapi.json").text
    assert "HTTPValidationError" not in text and '"ValidationError"' not in text
    document = anonymous.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"] or path.startswith("/coordination"), (method, path)
            error = operation["responses"]["default"]["content"]["application/fhir+json"]["schema"]
            assert error == {"$ref": "#/components/schemas/OperationOutcome"}
    # What the server sends for a request FastAPI would call invalid: an OperationOutcome, 400, not 422.
    refused = anonymous.get("/Patient/x/_history/not-a-number")
    assert refused.json()["resourceType"] == "OperationOutcome"


def test_the_docs_page_renders_in_a_browser(secure_server: LiveServer, tmp_path: Path) -> None:
    """Swagger UI draws the API from /openapi.json under the page's CSP: the operations are in the DOM."""
    result = chromium("--virtual-time-budget=15000", "--dump-dom", f"{secure_server.url}/docs")
    dom = result.stdout
    assert 'class="swagger-ui' in dom, result.stderr[-2000:]
    assert "opblock" in dom  # an operation block: the document was fetched and rendered
    assert "FHIR: resource instance" in dom
    assert "Authorize" in dom  # the bearer scheme gives the button to paste a token
