"""The shipped type table is what the generator makes of the official R4 definitions."""

from __future__ import annotations

import gzip
import importlib.util
import json
from importlib import resources
from types import ModuleType

from fhirbridge.formats._fhir_types import Form, JsonKind, is_resource_type, type_info

from .fhir_examples import CORE_PACKAGE, REPO_ROOT


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_fhir_types", REPO_ROOT / "tools" / "gen_fhir_types.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_table_is_regenerated_from_the_core_package() -> None:
    shipped = resources.files("fhirbridge.formats").joinpath("data/fhir_types.json.gz").read_bytes()

    assert json.loads(gzip.decompress(shipped)) == generator().build(CORE_PACKAGE)


def test_json_numbers_follow_the_json_format_rules() -> None:
    repeat = type_info("Timing.repeat").elements

    assert repeat["count"].kind is JsonKind.INTEGER  # positiveInt
    assert repeat["offset"].kind is JsonKind.INTEGER  # unsignedInt
    assert repeat["duration"].kind is JsonKind.DECIMAL
    assert repeat["timeOfDay"].kind is JsonKind.STRING
    assert repeat["timeOfDay"].repeats


def test_choices_share_a_position_and_content_references_reuse_their_type() -> None:
    extension = type_info("Extension").elements
    item = type_info("Questionnaire.item").elements

    assert extension["valueString"].position == extension["valueQuantity"].position
    assert extension["url"].form is Form.ATTRIBUTE
    assert item["item"].type_key == "Questionnaire.item"
    assert type_info("Bundle.entry").elements["resource"].form is Form.RESOURCE
    assert type_info("Narrative").elements["div"].form is Form.XHTML


def test_only_concrete_resources_can_be_documents() -> None:
    assert is_resource_type("CarePlan")
    assert not is_resource_type("DomainResource")
    assert not is_resource_type("Coding")
