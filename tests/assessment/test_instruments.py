"""The published instruments, code systems, value sets and rules are complete and consistent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fhirbridge.assessment import assessment_questionnaire, default_rules, definition, screening_questionnaire
from fhirbridge.assessment.answers import questionnaire_index
from fhirbridge.assessment.rules import referenced_link_ids
from tests.assessment.r4b import assert_valid_r4

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles" / "questionnaires"
CS = "http://fhirbridge.org/fhir/CodeSystem/care-coordination-assessment"
BRIEF_DOMAINS = {
    "medical", "behavioral", "dental", "development", "social", "financial", "family", "culture", "language",
    "strengths", "goals", "readiness",
}  # fmt: skip


def published() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(PROFILES.glob("[A-Z]*-*.json"))]


@pytest.mark.parametrize("resource", published(), ids=lambda resource: resource["id"])
def test_every_published_resource_is_valid_r4(resource: dict[str, Any]) -> None:
    assert_valid_r4(resource)


def test_the_packed_data_is_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_assessment_data.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_assessment_covers_every_domain_of_the_brief() -> None:
    domains = {
        extension["valueCode"]
        for item in assessment_questionnaire()["item"]
        for extension in item.get("extension", [])
        if extension["url"].endswith("assessment-domain")
    }
    assert domains >= BRIEF_DOMAINS


def test_every_item_code_and_answer_code_is_defined_in_our_code_system() -> None:
    concepts = {concept["code"] for concept in definition(CS)["concept"]}
    for questionnaire in (assessment_questionnaire(), screening_questionnaire()):
        for item in questionnaire_index(questionnaire).values():
            for coding in item.get("code", []):
                if coding["system"] == CS:
                    assert coding["code"] in concepts
            for option in item.get("answerOption", []):
                coding = option.get("valueCoding", {})
                if coding.get("system") == CS:
                    assert coding["code"] in concepts
            if "answerValueSet" in item:
                assert definition(item["answerValueSet"]) is not None


def test_enable_when_points_at_earlier_questions_of_the_instrument() -> None:
    for questionnaire in (assessment_questionnaire(), screening_questionnaire()):
        order = list(questionnaire_index(questionnaire))
        for position, (link_id, item) in enumerate(questionnaire_index(questionnaire).items()):
            for condition in item.get("enableWhen", []):
                assert order.index(condition["question"]) < position, link_id


def test_the_rules_read_only_items_and_codes_of_the_assessment() -> None:
    items = questionnaire_index(assessment_questionnaire())
    rules = default_rules()
    for entry in [*rules["rules"], *rules["needs"]]:
        for link_id in referenced_link_ids(entry["when"]):
            assert link_id in items, entry

        def codes(condition: dict[str, Any]) -> list[tuple[str, Any]]:
            if "any" in condition or "all" in condition:
                return [pair for part in condition.get("any") or condition.get("all") for pair in codes(part)]
            values = condition["value"] if isinstance(condition["value"], list) else [condition["value"]]
            return [(condition["linkId"], value) for value in values if isinstance(value, str)]

        for link_id, code in codes(entry["when"]):
            item = items[link_id]
            options = [option["valueCoding"]["code"] for option in item.get("answerOption", [])]
            if "answerValueSet" in item:
                options += [c["code"] for c in definition(item["answerValueSet"])["compose"]["include"][0]["concept"]]
            assert code in options, (entry.get("id") or entry.get("code"), link_id, code)


def test_levels_carry_the_review_intervals() -> None:
    intervals = {level["code"]: level["reviewIntervalDays"] for level in default_rules()["levels"]}
    assert intervals == {"high": 30, "moderate": 90, "low": 180}
