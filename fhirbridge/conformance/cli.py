"""``fhirbridge conformance --server URL``: run the exchange scenarios against a FHIR server.

Exit status: 0 when every scenario passes (skips and warnings allowed), 1 when a step failed, 2 when
the server could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from fhirbridge.client import FhirClient, RetryPolicy
from fhirbridge.conformance.report import report_json, report_text
from fhirbridge.conformance.runner import SCENARIOS, ServerUnreachable, run_conformance

EXIT_PASSED, EXIT_FAILED, EXIT_UNREACHABLE = 0, 1, 2
# One quick retry: a check of a partner's server should see its hiccups, not paper over them.
RETRY = RetryPolicy(total=1, backoff_factor=0.1)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "conformance", help="run the shared-plan exchange scenarios against a FHIR server and report pass/fail"
    )
    parser.add_argument("--server", required=True, help="base URL of the FHIR server to check")
    parser.add_argument("--token", help="bearer token for the server (default $FHIRBRIDGE_CONFORMANCE_TOKEN)")
    parser.add_argument(
        "--actor",
        help="whom the token acts as (e.g. Organization/ehr-1); named as the referral Task's requester and owner",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run only this scenario (repeatable; default all)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer (default 30)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_conformance_command)


def run_conformance_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    token = args.token or os.environ.get("FHIRBRIDGE_CONFORMANCE_TOKEN")
    with FhirClient(args.server, timeout=(min(args.timeout, 10.0), args.timeout), token=token, retry=RETRY) as client:
        try:
            report = run_conformance(client, args.scenario, actor=args.actor)
        except ServerUnreachable as exc:
            print(f"conformance: cannot reach {args.server}: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
    print(report_json(report) if args.json else report_text(report), file=out)
    return EXIT_PASSED if report.ok else EXIT_FAILED


__all__ = ["register", "run_conformance_command"]
