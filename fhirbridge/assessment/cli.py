"""``fhirbridge assessment``: the needs assessment from the command line, on JSON files.

fhirbridge assessment questionnaire [--screening]       print a published instrument
fhirbridge assessment validate RESPONSE [-q QUESTIONNAIRE]  OperationOutcome; exit 1 on errors
fhirbridge assessment extract RESPONSE [-q ...] [--rules RULES]   the $extract transaction Bundle
fhirbridge assessment populate RECORD [-q ...]          a pre-filled response (RECORD: a Bundle)
fhirbridge assessment stratify RESPONSE [-q ...] [--rules RULES]  RiskAssessment and next review date
fhirbridge assessment screen RESPONSE                   whether the full assessment is needed
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fhirbridge.assessment.definitions import assessment_questionnaire, definition, screening_questionnaire
from fhirbridge.assessment.extraction import extract
from fhirbridge.assessment.population import populate
from fhirbridge.assessment.screening import screening_outcome
from fhirbridge.assessment.stratification import assess_complexity
from fhirbridge.assessment.validation import validate_response
from fhirbridge.errors import FhirError, information_outcome, operation_outcome
from fhirbridge.formats.json import dumps, loads

Resource = dict[str, Any]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "assessment", help="needs assessment: validate, extract, populate, stratify, screen"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    shown = actions.add_parser("questionnaire", help="print the needs assessment (or the screening) Questionnaire")
    shown.add_argument("--screening", action="store_true")
    shown.set_defaults(handler=_show)
    for name, handler, help_text in (
        ("validate", _validate, "check a QuestionnaireResponse; prints an OperationOutcome"),
        ("extract", _extract, "print the $extract transaction Bundle of a response"),
        ("stratify", _stratify, "print the complexity RiskAssessment of a response"),
        ("screen", _screen, "say whether a screening response calls for the full assessment"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("response", type=Path, help="QuestionnaireResponse JSON file")
        action.add_argument("-q", "--questionnaire", type=Path, help="Questionnaire JSON (default: the published one)")
        action.add_argument("--rules", type=Path, help="stratification rules JSON (default: the published rules)")
        action.set_defaults(handler=handler)
    populate_action = actions.add_parser("populate", help="pre-fill the assessment from a record (a FHIR Bundle)")
    populate_action.add_argument("record", type=Path, help="Bundle JSON holding the child's resources")
    populate_action.add_argument("-q", "--questionnaire", type=Path)
    populate_action.set_defaults(handler=_populate)


def _show(args: argparse.Namespace) -> int:
    _print(screening_questionnaire() if args.screening else assessment_questionnaire())
    return 0


def _validate(args: argparse.Namespace) -> int:
    response = _read(args.response)
    issues = validate_response(_questionnaire_for(args, response), response)
    _print(operation_outcome(issues) if issues else information_outcome("The response is valid"))
    return 1 if any(issue.severity in ("error", "fatal") for issue in issues) else 0


def _extract(args: argparse.Namespace) -> int:
    response = _read(args.response)
    return _guarded(lambda: extract(_questionnaire_for(args, response), response, rules=_rules(args)))


def _stratify(args: argparse.Namespace) -> int:
    response = _read(args.response)

    def run() -> Resource:
        risk, next_review = assess_complexity(_questionnaire_for(args, response), response, _rules(args))
        print(f"next review: {next_review.isoformat()}", file=sys.stderr)
        return risk

    return _guarded(run)


def _screen(args: argparse.Namespace) -> int:
    response = _read(args.response)
    result = screening_outcome(response, _read(args.questionnaire) if args.questionnaire else None)
    verdict = "full assessment needed" if result.needs_full_assessment else "full assessment not needed"
    met = ", ".join(result.criteria_met) or "none"
    print(f"{verdict} (criteria met: {met}; family request: {result.family_request}; complete: {result.complete})")
    return 0


def _populate(args: argparse.Namespace) -> int:
    bundle = _read(args.record)
    context: dict[str, list[Resource]] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        context.setdefault(str(resource.get("resourceType")), []).append(resource)
    questionnaire = _read(args.questionnaire) if args.questionnaire else assessment_questionnaire()
    return _guarded(lambda: populate(questionnaire, context))


def _questionnaire_for(args: argparse.Namespace, response: Resource) -> Resource:
    if args.questionnaire:
        return _read(args.questionnaire)
    found = definition(str(response.get("questionnaire") or ""))
    if found is None or found.get("resourceType") != "Questionnaire":
        raise SystemExit(f"unknown questionnaire {response.get('questionnaire')!r}: pass --questionnaire")
    return found


def _rules(args: argparse.Namespace) -> dict[str, Any] | None:
    return _read(args.rules) if getattr(args, "rules", None) else None


def _guarded(produce: Any) -> int:
    try:
        _print(produce())
    except FhirError as error:
        _print(error.operation_outcome())
        return 1
    return 0


def _read(path: Path) -> Resource:
    value = loads(path.read_bytes())
    if not isinstance(value, dict):
        raise SystemExit(f"{path}: expected a JSON object")
    return value


def _print(resource: Resource) -> None:
    sys.stdout.write(dumps(resource, pretty=True).decode() + "\n")


__all__ = ["register"]
