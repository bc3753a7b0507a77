"""The pure parts of the sync: references, identifiers, content equality, Provenance and the state file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fhir.resources.R4B.provenance import Provenance

from fhirbridge.client.references import local_key, rewrite_references
from fhirbridge.client.sync import business_identifier, provenance_for, same_content
from fhirbridge.client.sync_state import SyncedResource, load_state
from fhirbridge.formats.json import SourceDecimal, loads

SOURCE = "https://source.example.org/fhir"


def test_local_references_are_relative_or_under_the_source_base() -> None:
    assert local_key("Goal/g-1", SOURCE) == ("Goal", "g-1")
    assert local_key("Goal/g-1/_history/3", SOURCE) == ("Goal", "g-1")
    assert local_key(f"{SOURCE}/Goal/g-1", SOURCE) == ("Goal", "g-1")
    assert local_key("https://other.example.org/fhir/Goal/g-1", SOURCE) is None
    assert local_key("#contained-1", SOURCE) is None
    assert local_key("urn:uuid:9f1c2b1e-8f5d-4c55-9b1e-2d4d3c1a0b77", SOURCE) is None


def test_rewrite_points_copied_references_at_the_target_and_others_at_the_source() -> None:
    plan = {
        "resourceType": "CarePlan",
        "subject": {"reference": "Patient/p1", "display": "Mateo"},
        "goal": [{"reference": f"{SOURCE}/Goal/g1/_history/2"}],
        "activity": [{"reference": {"reference": "Task/t1"}}, {"detail": {"performer": [{"reference": "#nurse"}]}}],
        "supportingInfo": [{"reference": "Observation/o1"}],
        "extension": [{"url": "https://example.org/x", "valueReference": {"reference": "Goal/g1"}}],
    }
    targets = {("Patient", "p1"): "Patient/P", ("Goal", "g1"): "Goal/G", ("Task", "t1"): "Task/T"}
    rewritten, external = rewrite_references(plan, targets.get, SOURCE)
    assert rewritten["subject"] == {"reference": "Patient/P", "display": "Mateo"}
    assert rewritten["goal"] == [{"reference": "Goal/G"}]
    assert rewritten["activity"][0] == {"reference": {"reference": "Task/T"}}
    assert rewritten["activity"][1]["detail"]["performer"] == [{"reference": "#nurse"}]
    assert rewritten["supportingInfo"] == [{"reference": f"{SOURCE}/Observation/o1"}]
    assert rewritten["extension"][0]["valueReference"] == {"reference": "Goal/G"}
    assert external == {f"{SOURCE}/Observation/o1"}
    assert plan["subject"]["reference"] == "Patient/p1", "the source resource is left as it was"


def test_business_identifier_is_the_first_with_system_and_value_escaped_for_search() -> None:
    assert business_identifier({"identifier": [{"value": "no system"}, {"system": "urn:s", "value": "a|b,c$d"}]}) == (
        "urn:s|a\\|b\\,c\\$d"
    )
    assert business_identifier({"identifier": {"system": "urn:s", "value": "qr-1"}}) == "urn:s|qr-1"
    assert business_identifier({"identifier": [{"value": "no system"}]}) is None
    assert business_identifier({}) is None


def test_same_content_ignores_meta_but_not_decimal_precision() -> None:
    ours = loads(
        b'{"resourceType":"Goal","id":"g","meta":{"versionId":"1"},"target":[{"detailQuantity":{"value":1.50}}]}'
    )
    theirs = loads(
        b'{"resourceType":"Goal","id":"g","meta":{"versionId":"7"},"target":[{"detailQuantity":{"value":1.50}}]}'
    )
    rounded = loads(b'{"resourceType":"Goal","id":"g","target":[{"detailQuantity":{"value":1.5}}]}')
    assert same_content(ours, theirs)
    assert not same_content(ours, rounded)
    assert not same_content(ours, {**theirs, "id": "other"})


def test_provenance_is_a_valid_r4_provenance_naming_versions_on_both_sides() -> None:
    original = {"resourceType": "Goal", "id": "g1", "meta": {"versionId": "4"}}
    stored = {"resourceType": "Goal", "id": "G", "meta": {"versionId": "2"}}
    recorded = datetime(2026, 3, 2, 9, 30, 15, 123000, tzinfo=UTC)
    provenance = provenance_for([(original, stored)], SOURCE, recorded)
    model = Provenance.model_validate(provenance)
    assert [t.reference for t in model.target] == ["Goal/G/_history/2"]
    assert [e.what.reference for e in model.entity] == [f"{SOURCE}/Goal/g1/_history/4"]
    assert provenance["recorded"] == "2026-03-02T09:30:15.123Z"
    assert [agent["type"]["coding"][0]["code"] for agent in provenance["agent"]] == ["assembler", "transmitter"]


def test_state_is_kept_per_source_target_and_patient(tmp_path: Path) -> None:
    state = load_state(tmp_path, SOURCE + "/", "https://target.example.org", "p1")
    assert state.resources == {}
    state.resources["Goal/g1"] = SyncedResource("Goal/G", "2", "2026-03-02T09:30:15.123Z", "4")
    state.save()
    assert load_state(tmp_path, SOURCE, "https://target.example.org", "p1").resources == state.resources
    assert load_state(tmp_path, SOURCE, "https://target.example.org", "p2").resources == {}
    assert load_state(tmp_path, "https://target.example.org", SOURCE, "p1").resources == {}
    assert [path.name for path in tmp_path.iterdir()] == [state.path.name], "no temporary file is left behind"


def test_source_decimal_survives_the_canonical_comparison() -> None:
    assert same_content({"v": SourceDecimal("2e3")}, {"v": SourceDecimal("2e3")})
    assert not same_content({"v": SourceDecimal("2e3")}, {"v": SourceDecimal("2000")})
