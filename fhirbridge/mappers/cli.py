"""``fhirbridge convert``: a record in the internal JSON format to a FHIR transaction Bundle, and FHIR
(a Bundle, one resource, or a JSON list of resources) back to the internal format, with ``--report``."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from fhirbridge.domain import ValidationError, problems, record_from_json, record_to_json
from fhirbridge.errors import FhirError
from fhirbridge.formats import json as fhir_json
from fhirbridge.mappers.record import record_from_resources, record_to_bundle

__all__ = ["convert", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a care-coordination record between the internal JSON format and FHIR",
        description=__doc__,
    )
    parser.add_argument("input", help="file to read, or - for standard input")
    parser.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
    parser.add_argument(
        "--to",
        choices=["fhir", "internal"],
        help="direction (default: FHIR input becomes internal JSON, internal JSON becomes FHIR)",
    )
    parser.add_argument(
        "--report",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the report (what had no place in the record, broken rules) as JSON to FILE, "
        "or to standard error without FILE",
    )
    parser.add_argument("--format", choices=["json", "xml"], default="json", help="FHIR output format")
    parser.add_argument("--no-check", action="store_true", help="write a record that breaks coordinator rules")
    parser.set_defaults(handler=convert)


def convert(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
        parsed = fhir_json.loads(body)
        to = args.to or ("internal" if _is_fhir(parsed) else "fhir")
        if to == "internal":
            result = record_from_resources(parsed)
            output = record_to_json(result.record)
            report: list[dict[str, str]] = result.report_json()
        else:
            record = record_from_json(body, check=not args.no_check)
            bundle = record_to_bundle(record)
            output = _fhir_output(bundle, args.format)
            report = [{"resource": "record", "path": p.path, "reason": p.message} for p in problems(record)]
    except (ValidationError, FhirError) as exc:
        details = getattr(exc, "problems", None) or []
        lines = [str(problem) for problem in details] or [str(exc)]
        print("fhirbridge convert: the input is not a valid record:", *lines, sep="\n  ", file=sys.stderr)
        return 1
    except (OSError, UnsupportedFormat) as exc:
        print(f"fhirbridge convert: {exc}", file=sys.stderr)
        return 2
    _write(args.output, output)
    if args.report is not None:
        _write(args.report, fhir_json.dumps(report, pretty=True) + b"\n", stream=sys.stderr.buffer)
    return 0


class UnsupportedFormat(Exception):
    pass


def _is_fhir(parsed: Any) -> bool:
    if isinstance(parsed, list):
        return True
    return isinstance(parsed, dict) and isinstance(parsed.get("resourceType"), str)


def _fhir_output(bundle: dict[str, Any], output_format: str) -> bytes:
    if output_format == "json":
        return fhir_json.dumps(bundle, pretty=True) + b"\n"
    try:
        xml = importlib.import_module("fhirbridge.formats.xml")
    except ImportError as exc:
        raise UnsupportedFormat("FHIR XML output is not available in this installation") from exc
    written = xml.to_xml(bundle)
    return written if isinstance(written, bytes) else str(written).encode()


def _write(target: str, data: bytes, stream: Any = None) -> None:
    if target == "-":
        out = stream or sys.stdout.buffer
        out.write(data)
        out.flush()
    else:
        Path(target).write_bytes(data)
