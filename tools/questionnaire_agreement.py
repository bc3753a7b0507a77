"""Agreement of ``fhirbridge.assessment.validate_response`` with the HL7 reference (Java) validator.

Runs every QuestionnaireResponse case of the validator test suite's ``questionnaire`` module whose files
are present (``validator-cases/questionnaire/manifest-questionnaire-module.json``) and compares:

- the verdict: valid (no error or fatal issue) or invalid, as the Java validator's expected outcome says;
- the location: every error the reference reports is matched by one of ours on the same item or answer
  (expressions compared after dropping ``.value.ofType(...)``; one being a prefix of the other matches).

Usage: python tools/questionnaire_agreement.py [--shared ../shared] [--json] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhirbridge.assessment.validation import validate_response  # noqa: E402
from fhirbridge.errors import Issue  # noqa: E402
from fhirbridge.formats.json import loads  # noqa: E402

# Why we differ from the reference validator where we do (case name -> reason).
REASONS = {
    "choice-async-qr": "needs a terminology server (ISO 3166 country displays and the Jurisdiction value set); "
    "we report the unknown value set as a warning",
    "choice-gender-coding-async-qr": "needs the expansion of the core QuestionnaireItemType value set, "
    "which fhirbridge does not carry; reported as a warning",
    "open-choice-gender-coding-async-qr": "needs the expansion of the core QuestionnaireItemType value set; "
    "reported as a warning",
    "string-with-coding-async-qr": "needs the Jurisdiction value set to check an open-choice string; "
    "open-choice strings are accepted",
    "quantity-units-not-in-value-set-qr": "needs the Jurisdiction value set to check units; reported as a warning",
}


@dataclass
class Result:
    name: str
    expected_valid: bool
    actual_valid: bool
    expected_errors: list[str] = field(default_factory=list)
    actual_errors: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    @property
    def verdict_agrees(self) -> bool:
        return self.expected_valid == self.actual_valid

    @property
    def location_agrees(self) -> bool:
        return self.verdict_agrees and not self.unmatched


def default_shared() -> Path:
    return Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", ROOT / ".." / "shared"))


def normalise(expression: str) -> str:
    return re.sub(r"\.value\.ofType\(\w+\).*$", "", expression)


def _matches(expected: str, actual: str) -> bool:
    return expected == actual or actual.startswith(expected + ".") or expected.startswith(actual + ".")


def run_cases(shared: Path) -> tuple[list[Result], list[str]]:
    """Results of every runnable case, and the names of cases skipped (with why)."""
    folder = shared / "fhir" / "validator-cases" / "questionnaire"
    manifest = json.loads((folder / "manifest-questionnaire-module.json").read_text())
    results: list[Result] = []
    skipped: list[str] = []
    for case in manifest["test-cases"]:
        name = case["name"]
        files = [case["file"], *case.get("supporting", [])]
        paths = [folder / file.removeprefix("questionnaire/") for file in files]
        if case.get("version") != "4.0" or not all(path.exists() and path.suffix == ".json" for path in paths):
            skipped.append(f"{name}: files not in the shared copy (or not R4 JSON)")
            continue
        expected = _expected_outcome(folder, case.get("java"))
        if expected is None:
            skipped.append(f"{name}: no expected outcome from the reference validator")
            continue
        response = loads(paths[0].read_bytes())
        questionnaires = [loads(path.read_bytes()) for path in paths[1:]]
        issues = _validate(response, questionnaires)
        expected_errors = [
            normalise(expression)
            for issue in expected.get("issue", [])
            if issue.get("severity") in ("error", "fatal")
            for expression in issue.get("expression", ["QuestionnaireResponse"])
        ]
        actual_errors = [
            normalise(expression)
            for issue in issues
            if issue.severity in ("error", "fatal")
            for expression in issue.expression
        ]
        unmatched = [exp for exp in expected_errors if not any(_matches(exp, act) for act in actual_errors)]
        results.append(Result(name, not expected_errors, not actual_errors, expected_errors, actual_errors, unmatched))
    return results, skipped


def _expected_outcome(folder: Path, java: Any) -> dict[str, Any] | None:
    if isinstance(java, dict):
        outcome = java.get("outcome")
        return outcome if isinstance(outcome, dict) else None
    if isinstance(java, str):
        path = folder / "outcomes" / java
        if path.exists():
            outcome = json.loads(path.read_text())
            if outcome.get("resourceType") == "OperationOutcome":
                return dict(outcome)
    return None


def _validate(response: dict[str, Any], questionnaires: list[dict[str, Any]]) -> list[Issue]:
    canonical = str(response.get("questionnaire") or "").split("|", 1)[0]
    for questionnaire in questionnaires:
        if questionnaire.get("resourceType") == "Questionnaire" and questionnaire.get("url") == canonical:
            return validate_response(questionnaire, response)
    # As the reference does: a response whose questionnaire cannot be found cannot be checked against it.
    return [
        Issue(
            f"The questionnaire '{canonical}' could not be resolved",
            "not-found",
            "warning",
            ("QuestionnaireResponse.questionnaire",),
        )
    ]


def summary(results: list[Result]) -> dict[str, Any]:
    total = len(results)
    verdicts = sum(result.verdict_agrees for result in results)
    located = sum(result.location_agrees for result in results)
    return {
        "cases": total,
        "verdict_agreement": round(verdicts / total, 4) if total else 0.0,
        "location_agreement": round(located / total, 4) if total else 0.0,
        "disagreements": [
            {**asdict(result), "verdict_agrees": result.verdict_agrees, "reason": REASONS.get(result.name, "")}
            for result in results
            if not result.location_agrees
        ],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Cases run: {report['cases']}; verdict agreement {report['verdict_agreement']:.1%}; "
        f"verdict and location agreement {report['location_agreement']:.1%}.",
        "",
        "| case | reference | fhirbridge | reason |",
        "|---|---|---|---|",
    ]
    for item in report["disagreements"]:
        reference = "valid" if item["expected_valid"] else "invalid"
        ours = "valid" if item["actual_valid"] else "invalid"
        if item["verdict_agrees"]:
            ours += " (other location)"
        lines.append(f"| {item['name']} | {reference} | {ours} | {item['reason'] or 'not analysed'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=default_shared())
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the disagreement table for the docs")
    args = parser.parse_args(argv)
    results, skipped = run_cases(args.shared)
    report = summary(results)
    if args.json:
        print(json.dumps({**report, "skipped": skipped}, indent=2))
    elif args.markdown:
        print(markdown(report))
    else:
        print(markdown(report))
        print(f"\nSkipped {len(skipped)} cases whose files are not in the shared copy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
