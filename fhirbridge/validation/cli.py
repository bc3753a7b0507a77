"""``fhirbridge validate FILE... [--profile URL]``: check resources against R4, US Core and fhirbridge.

Exit status: 0 when no file has an error, 1 when some resource has errors, 2 when a file cannot be
read as a FHIR resource.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from fhirbridge.errors import FhirError, Issue, operation_outcome
from fhirbridge.formats.json import loads
from fhirbridge.validation.definitions import Definitions, package_definitions
from fhirbridge.validation.validator import Validator

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate FHIR resources (JSON or XML files)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--profile", action="append", default=[], metavar="URL", help="also validate against this profile"
    )
    parser.add_argument(
        "--definitions",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="extra StructureDefinitions or ValueSets (one, or a Bundle of them), e.g. a partner's profiles",
    )
    parser.add_argument("--outcome", action="store_true", help="print an OperationOutcome (JSON) per file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return validate_files(args.files, args.profile, args.definitions, outcome=args.outcome, out=sys.stdout)


def validate_files(
    files: Sequence[Path],
    profiles: Sequence[str] = (),
    definition_files: Sequence[Path] = (),
    *,
    outcome: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    definitions: Definitions = package_definitions()
    if definition_files:
        extra: list[Any] = []
        for path in definition_files:
            try:
                extra.extend(_unbundled(read_file(path)))
            except (OSError, FhirError) as exc:
                print(f"{path}: cannot read definitions: {exc}", file=out)
                return EXIT_UNREADABLE
        definitions = definitions.extended(extra)
    validator = Validator(definitions)
    status = EXIT_VALID
    for path in files:
        try:
            resource = read_file(path)
        except (OSError, FhirError) as exc:
            print(f"{path}: fatal: {exc}", file=out)
            status = EXIT_UNREADABLE
            continue
        issues = validator.validate(resource, profiles)
        if any(i.severity in ("error", "fatal") for i in issues) and status == EXIT_VALID:
            status = EXIT_INVALID
        _report(path, issues, outcome, out)
    return status


def read_file(path: Path) -> Any:
    """A resource from a JSON file, or an XML one when the FHIR XML reader is installed."""
    body = path.read_bytes()
    if path.suffix.lower() == ".xml" or body.lstrip().startswith(b"<"):
        reader = _xml_reader()
        if reader is None:
            raise FhirError(f"{path}: FHIR XML is not supported in this installation")
        return reader(body)
    return loads(body)


def _xml_reader() -> Callable[[bytes], Any] | None:
    try:
        from fhirbridge.formats.xml import parse_xml  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    reader: Callable[[bytes], Any] = parse_xml
    return reader


def _unbundled(resource: Any) -> list[Any]:
    if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
        return [e.get("resource") for e in resource.get("entry", []) if isinstance(e, dict)]
    return [resource]


def _report(path: Path, issues: list[Issue], outcome: bool, out: TextIO) -> None:
    if outcome:
        print(json.dumps({"file": str(path), "outcome": operation_outcome(issues)}, indent=2), file=out)
        return
    errors = sum(i.severity in ("error", "fatal") for i in issues)
    warnings = sum(i.severity == "warning" for i in issues)
    print(f"{path}: {'INVALID' if errors else 'valid'} ({errors} errors, {warnings} warnings)", file=out)
    for issue in issues:
        where = ", ".join(issue.expression)
        print(f"  {issue.severity:<11} {where}: {issue.diagnostics}", file=out)


__all__ = ["register", "validate_files"]
