"""``fhirbridge import FILE.ndjson...``: load ndjson files into a store through the server's write path.

What a line goes through, the order, the report and the state: ``fhirbridge/bulk/importing.py`` and
docs/bulk-import.md. This module opens the store, builds the write path a server of the same settings
has (``write_path.py``), shows the progress bar (on a terminal only) and prints the summary.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fhirbridge.bulk.import_state import ImportState, RejectionReport, UnreadableState
from fhirbridge.bulk.importing import BATCH_SIZE, BulkImport, ImportSummary
from fhirbridge.composition import open_repository
from fhirbridge.config import Settings
from fhirbridge.security.access import Access
from fhirbridge.security.provenance import Attribution
from fhirbridge.server.write_path import write_path

REPORT_SUFFIX = ".rejected.ndjson"
STATE_SUFFIX = ".import-state.json"
TOOL = "fhirbridge import"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="load ndjson files (one FHIR resource a line, e.g. a bulk export's) into the store",
        description="Load ndjson files through the server's write path (validation, reference checks, "
        "indexing, subscriptions) as updates that keep each resource's id. Resumable: run the same command "
        "again after an interruption. Exit 1 when a line was rejected (see the report).",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.ndjson")
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL of the store (default: FHIRBRIDGE_DATABASE_URL, else the SQLite file)"
    )
    parser.add_argument(
        "--report", type=Path, help=f"the list of rejected lines (default: beside the first file, *{REPORT_SUFFIX})"
    )
    parser.add_argument(
        "--state", type=Path, help=f"the progress kept for resuming (default: beside the first file, *{STATE_SUFFIX})"
    )
    parser.add_argument(
        "--operator",
        default=getpass.getuser(),
        help="who runs the import, named in each written resource's Provenance (default: the OS user; a "
        "reference such as Practitioner/7 is kept as one)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help=f"lines per transaction (default {BATCH_SIZE})"
    )
    parser.set_defaults(handler=import_files)


def import_files(args: argparse.Namespace) -> int:
    files = _inputs(args.files)
    first = files[0]
    report_path: Path = args.report or first.with_name(first.stem + REPORT_SUFFIX)
    state_path: Path = args.state or first.with_name(first.stem + STATE_SUFFIX)
    settings = Settings(**({"database_url": args.database_url} if args.database_url else {}))
    try:
        state = ImportState.load(state_path)
    except UnreadableState as error:
        raise SystemExit(f"fhirbridge import: {error}; give another --state, or delete it to start over") from None
    if not state.files:  # a new import: the report is this import's alone
        report_path.unlink(missing_ok=True)
    repository = open_repository(
        settings.effective_database_url(),
        migrate_schema=settings.migrate_on_start,
        query_timeout_seconds=settings.query_timeout_seconds,
        pool_size=2,
        max_overflow=2,
    )
    try:
        if pending := repository.pending_migrations():
            raise SystemExit(
                f"fhirbridge import: the store's schema is not current ({len(pending)} migration(s) pending); "
                "run `fhirbridge db upgrade` first"
            )
        bundles = write_path(settings, repository)
        if not 1 <= args.batch_size <= bundles.max_entries:
            raise SystemExit(f"fhirbridge import: --batch-size must be 1 to {bundles.max_entries}")
        total = sum(file.stat().st_size for file in files)
        with tqdm(
            total=total, unit="B", unit_scale=True, desc="import", file=sys.stderr, disable=not sys.stderr.isatty()
        ) as bar:
            summary = BulkImport(
                bundles,
                state,
                RejectionReport(report_path),
                access_for=partial(import_access, args.operator),
                batch_size=args.batch_size,
                max_json_depth=settings.max_json_depth,
                on_read=bar.update,
            ).run(files)
    finally:
        repository.dispose()
    rejected = _print_summary(summary, state, files, report_path, state_path)
    return 1 if rejected else 0


def import_access(operator: str, files: Sequence[Path]) -> Access:
    """The Access an import writes under: the server's own work, unrestricted, as the demo data is loaded,
    and attributed: each version written gets a Provenance naming ``operator``, the importer and ``files``."""
    sources = tuple(file.resolve().as_uri() for file in files)
    return Access(principal=None, keeps_audit=False, attribution=Attribution(operator, TOOL, sources))


def _inputs(given: list[Path]) -> list[Path]:
    missing = [str(file) for file in given if not file.is_file()]
    if missing:
        raise SystemExit(f"fhirbridge import: no such file: {', '.join(missing)}")
    files: list[Path] = []
    for file in given:
        if file.name.endswith(REPORT_SUFFIX):  # a report of an earlier import, caught by a glob
            print(f"skipping {file}: a report of rejected lines, not resources", file=sys.stderr)
        elif file.resolve() not in {known.resolve() for known in files}:
            files.append(file)
    if not files:
        raise SystemExit("fhirbridge import: nothing to import")
    return files


def _print_summary(
    summary: ImportSummary, state: ImportState, files: list[Path], report_path: Path, state_path: Path
) -> int:
    """Print what this run did, and what every run of this import did; returns the lines rejected in all."""
    by_type = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.loaded.items()))
    loaded = sum(summary.loaded.values())
    print(f"loaded {loaded}" + (f" ({by_type})" if by_type else ""))
    print(f"rejected {summary.rejected}, skipped {summary.skipped} (already in the store as the file has them)")
    if summary.resumed:
        print(f"resumed: {summary.resumed} lines were settled by an earlier run")
    progress = [state.progress(file) for file in files]
    rejected = sum(item.rejected for item in progress)
    if summary.resumed:
        print(
            f"in all: loaded {sum(item.loaded for item in progress)}, rejected {rejected}, "
            f"skipped {sum(item.skipped for item in progress)}"
        )
    if rejected:
        print(f"rejected lines and why: {report_path}")
    print(f"progress kept in {state_path} (run the same command again to resume; delete it to start over)")
    return rejected


__all__ = ["import_access", "import_files", "register"]
