"""Agreement with the HL7 reference validator on the fhir-test-cases suite (docs/validation.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirbridge.validation.agreement import TARGET_CATEGORIES, Report, categorize, run

# Measured rates, less a small margin; raise them when the validator improves. Without the FHIR XML
# reader only the JSON cases run, with it all of them: each set has its own floor.
FLOOR_TARGET_CATEGORIES = 0.94
FLOOR_ALL_CASES = 0.78


@pytest.fixture(scope="module")
def report(shared_dir: Path) -> Report:
    return run(shared_dir / "fhir" / "validator-cases" / "r4")


def test_structure_cardinality_codes_and_invariants_agree_above_the_90_percent_target(report: Report) -> None:
    assert report.rate(TARGET_CATEGORIES) >= FLOOR_TARGET_CATEGORIES, [
        (r.name, r.reason) for r in report.disagreements if r.category in TARGET_CATEGORIES
    ]


def test_overall_agreement_does_not_regress(report: Report) -> None:
    assert report.rate() >= FLOOR_ALL_CASES


def test_enough_cases_run_for_the_rate_to_mean_something(report: Report) -> None:
    run_cases = [r for r in report.results if r.actual_invalid is not None and r.category in TARGET_CATEGORIES]
    assert len(run_cases) >= 40


def test_a_case_is_categorized_by_its_first_expected_error() -> None:
    outcome = {
        "issue": [
            {"severity": "warning", "code": "invariant", "details": {"text": "dom-6"}},
            {
                "severity": "error",
                "code": "structure",
                "details": {"text": "Patient.name: minimum required = 1"},
            },
        ]
    }
    assert categorize({"module": "profile"}, outcome) == "cardinality"
    assert categorize({"module": "tx"}, {"issue": []}) == "codes"
    assert categorize({"module": "questionnaire"}, outcome) == "questionnaire"
