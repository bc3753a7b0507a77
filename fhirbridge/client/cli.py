"""``fhirbridge sync push|pull``: copy a child's shared plan to or from another FHIR server.

``push`` copies from our server (``--local``) to the remote one (``--server``), ``pull`` the other way.
The patient id is the child's id on the server copied from. Each server gets its own bearer token:
``--local-token`` (``FHIRBRIDGE_LOCAL_TOKEN``) for ours, ``--token`` (``FHIRBRIDGE_SYNC_TOKEN``) for the
remote one. Exit status: 0 in step, 1 when conflicts or refused writes were reported, 2 when the sync could
not run (a server unreachable or refusing the token, the patient unknown).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from fhirbridge.client.client import FhirClient
from fhirbridge.client.errors import FhirClientError, Unauthorized
from fhirbridge.client.sync import SyncReport, sync_plan
from fhirbridge.client.sync_state import default_state_dir, load_state

DEFAULT_LOCAL = "http://127.0.0.1:8080"
EXIT_OK, EXIT_CONFLICTS, EXIT_ERROR = 0, 1, 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sync", help="copy a child's shared plan to (push) or from (pull) another FHIR server"
    )
    parser.add_argument("direction", choices=("push", "pull"), help="push: local -> remote; pull: remote -> local")
    parser.add_argument("--patient", required=True, help="the child's Patient id on the server copied from")
    parser.add_argument("--server", required=True, help="base URL of the remote FHIR server")
    parser.add_argument("--local", default=DEFAULT_LOCAL, help=f"base URL of our fhirbridge (default {DEFAULT_LOCAL})")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where the sync state is kept (default $FHIRBRIDGE_STATE_DIR or ~/.local/state/fhirbridge/sync)",
    )
    parser.add_argument("--token", help="bearer token for the remote server (default $FHIRBRIDGE_SYNC_TOKEN)")
    parser.add_argument(
        "--local-token",
        help="bearer token for our fhirbridge (default $FHIRBRIDGE_LOCAL_TOKEN); needed whenever its "
        "authentication is on, as it is unless FHIRBRIDGE_AUTH_DISABLED",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer (default 60)")
    parser.add_argument(
        "--force", action="store_true", help="overwrite resources changed on the target since the last sync"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_sync)


def run_sync(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    token = args.token or os.environ.get("FHIRBRIDGE_SYNC_TOKEN")
    local_token = args.local_token or os.environ.get("FHIRBRIDGE_LOCAL_TOKEN")
    timeout = (min(args.timeout, 10.0), args.timeout)
    with (
        FhirClient(args.local, timeout=timeout, token=local_token) as local,
        FhirClient(args.server, timeout=timeout, token=token) as remote,
    ):
        source, target = (local, remote) if args.direction == "push" else (remote, local)
        try:
            state = load_state(args.state_dir or default_state_dir(), source.base_url, target.base_url, args.patient)
            report = sync_plan(source, target, args.patient, state, force=args.force)
        except (FhirClientError, OSError, ValueError) as exc:
            print(f"sync {args.direction} failed: {exc}", file=sys.stderr)
            if isinstance(exc, Unauthorized):
                print(_credentials_hint(exc, local, local_token, token), file=sys.stderr)
            return EXIT_ERROR
    print(report_json(report) if args.json else report_text(report), file=out)
    return EXIT_OK if report.ok else EXIT_CONFLICTS


def _credentials_hint(exc: Unauthorized, local: FhirClient, local_token: str | None, token: str | None) -> str:
    """Which option gives the token the refusing server wants: the one error a deployer meets first."""
    ours = exc.url is not None and (exc.url == local.base_url or exc.url.startswith(local.base_url + "/"))
    option, variable, given = (
        ("--local-token", "FHIRBRIDGE_LOCAL_TOKEN", local_token)
        if ours
        else ("--token", "FHIRBRIDGE_SYNC_TOKEN", token)
    )
    server = "our fhirbridge (--local)" if ours else "the remote server (--server)"
    if exc.status == 403:
        return f"{server} refused the token's access: give a token whose scopes cover the plan ({option})"
    if given:
        return f"{server} did not accept the token given with {option} or {variable} (expired, or another issuer?)"
    return f"{server} requires a bearer token: give it with {option} or {variable}"


def report_text(report: SyncReport) -> str:
    lines = [f"sync {report.source} -> {report.target}, Patient/{report.patient}"]
    for item in report.resources:
        line = f"  {item.action:<9} {item.source} -> {item.target or '?'}"
        if item.version_id:
            line += f" (version {item.version_id})"
        if item.reason:
            line += f": {item.reason}"
        lines.append(line)
    for url in report.external_references:
        lines.append(f"  reference left pointing at the source: {url}")
    if report.provenance:
        lines.append(f"  provenance: {report.provenance}")
    counts = {action: len(report.with_action(action)) for action in ("created", "updated", "unchanged")}
    summary = ", ".join(f"{count} {action}" for action, count in counts.items())
    problems = report.with_action("conflict", "failed")
    lines.append(f"{summary}; {len(problems)} conflict(s) or failure(s)" if problems else summary)
    return "\n".join(lines)


def report_json(report: SyncReport) -> str:
    document = {
        "source": report.source,
        "target": report.target,
        "patient": report.patient,
        "ok": report.ok,
        "provenance": report.provenance,
        "resources": [vars(item) for item in report.resources],
        "externalReferences": report.external_references,
    }
    return json.dumps(document, indent=2)


__all__ = ["register", "report_json", "report_text", "run_sync"]
