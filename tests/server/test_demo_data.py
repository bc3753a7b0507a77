"""The demo children load into the server, once, and every resource they produce is valid R4."""

from __future__ import annotations

import httpx

from fhirbridge.demo import demo_bundles
from fhirbridge.engine.validation import check_resource
from fhirbridge.server.cli import load_demo_into
from fhirbridge.validation import validate_resource
from tests.conftest import LiveServer


def test_demo_children_load_once_and_read_back(server: LiveServer) -> None:
    # Loaded as `fhirbridge serve --demo-data` does, into the store the live server reads.
    assert load_demo_into(server.repository, server.url) == (3, 0)
    assert load_demo_into(server.repository, server.url) == (0, 3)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        patients = http.get("/Patient", params={"_count": 50}).json()
        ids = [entry["resource"]["id"] for entry in patients["entry"]]
        for id in ids:
            summary = http.get(f"/Patient/{id}/$summary")
            assert summary.status_code == 200
            record = http.get(f"/coordination/children/{id}")
            assert record.status_code == 200, record.text
    assert len(ids) == 3


def test_every_demo_resource_is_valid_r4_and_meets_its_profiles() -> None:
    errors = []
    for bundle in demo_bundles():
        for entry in bundle["entry"]:
            resource = entry["resource"]
            check_resource(resource)
            errors += [
                f"{resource['resourceType']}/{resource['id']}: {issue.diagnostics}"
                for issue in validate_resource(resource)  # R4, US Core and fhirbridge profiles in meta.profile
                if issue.severity in ("error", "fatal")
            ]
    assert errors == []
