"""Every fixture behaves as its manifest says: valid ones pass, each invalid one fails for its rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirbridge.validation import validate_resource

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
PROFILES = sorted({entry["profile"] for entry in MANIFEST})
US_CORE_PARENT = {
    profile["url"]: profile["baseDefinition"]
    for profile in (
        json.loads(p.read_text()) for p in (FIXTURES.parent / "profiles").glob("StructureDefinition-*.json")
    )
    if "/us/core/" in profile["baseDefinition"]
}


def load(entry: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((FIXTURES / entry["file"]).read_text())
    return resource


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["expect"] == "valid"], ids=lambda e: e["file"])
def test_valid_fixture_has_no_error(entry: dict[str, Any]) -> None:
    issues = validate_resource(load(entry), profiles=[entry["profile"]])
    assert [i for i in issues if i.severity in ("error", "fatal")] == []


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["expect"] == "invalid"], ids=lambda e: e["file"])
def test_invalid_fixture_fails_for_its_stated_rule(entry: dict[str, Any]) -> None:
    issues = validate_resource(load(entry), profiles=[entry["profile"]])
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    assert any(entry["expression"] in i.expression and entry["diagnostics"] in i.diagnostics for i in errors), (
        entry["rule"],
        errors,
    )


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["expect"] == "invalid"], ids=lambda e: e["file"])
def test_the_broken_rule_belongs_to_the_layer_the_manifest_names(entry: dict[str, Any]) -> None:
    # Without any profile, only a fixture that breaks a rule of R4 itself, or of an extension it uses,
    # is invalid.
    resource = load(entry)
    del resource["meta"]
    errors = [i for i in validate_resource(resource) if i.severity in ("error", "fatal")]
    assert bool(errors) == (entry["defined_by"] in ("R4", "fhirbridge extension")), errors
    if entry["defined_by"] == "fhirbridge":
        parent = US_CORE_PARENT.get(entry["profile"])
        if parent:
            against_us_core = validate_resource(resource, profiles=[parent])
            assert [i for i in against_us_core if i.severity in ("error", "fatal")] == []


def test_every_profile_has_valid_and_invalid_fixtures() -> None:
    for profile in PROFILES:
        kinds = {e["expect"] for e in MANIFEST if e["profile"] == profile}
        assert kinds == {"valid", "invalid"}, profile


def test_fixtures_declare_their_profile_in_meta() -> None:
    for entry in MANIFEST:
        assert entry["profile"] in load(entry)["meta"]["profile"], entry["file"]


@pytest.mark.parametrize("path", sorted((FIXTURES.parent / "profiles").glob("*.json")), ids=lambda p: p.name)
def test_published_conformance_resources_are_valid_r4(path: Path) -> None:
    issues = validate_resource(json.loads(path.read_text()))
    assert [i for i in issues if i.severity in ("error", "fatal", "warning")] == []
