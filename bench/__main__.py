"""``python -m bench`` (``make bench``): every benchmark, its targets, and docs/benchmarks.md.

    python -m bench                          # serialization, HTTP on SQLite and PostgreSQL, short soak
    python -m bench --only serialization     # a subset (comma-separated: serialization,http,soak)
    python -m bench --quick                  # a tiny version of everything, under a minute
    python -m bench --full                   # adds the 1,000,000-resource growth point on SQLite
    python -m bench --soak 600               # the ten-minute memory soak

The exit status is 0 when everything that ran worked, even if a target was missed (the report says
which): a benchmark measures, it does not gate.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.loadgen import LoadGenerator
from bench.machine import describe, load_average
from bench.report import BACKEND_TITLES, Run, render
from bench.rest import DEFAULT_PROFILE, QUICK_GROWTH_SIZE, QUICK_PROFILE, full_profile, run_rest
from bench.serialization import run_serialization
from bench.soak import run_soak
from bench.stores import DEFAULT_CACHE, POSTGRES_URL, SqliteBuilder
from bench.targets import growth_verdicts, rest_verdicts, serialization_verdicts, soak_verdict

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTS = ("serialization", "http", "soak")
DEFAULT_SOAK_SECONDS = 30.0
QUICK_SOAK_SECONDS = 3.0


def _parts(value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [part for part in chosen if part not in PARTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(PARTS)} (comma-separated)")
    return chosen


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="fhirbridge benchmarks (issue 9)")
    parser.add_argument("--only", type=_parts, default=PARTS, help="run a subset: serialization,http,soak")
    parser.add_argument("--quick", action="store_true", help="a tiny version of every scenario (under a minute)")
    parser.add_argument(
        "--full", action="store_true", help="add the 1,000,000-resource growth point on SQLite (with --quick: 3,000)"
    )
    parser.add_argument(
        "--soak",
        type=float,
        metavar="SECONDS",
        help=f"length of the memory soak (default {DEFAULT_SOAK_SECONDS:g}, quick "
        f"{QUICK_SOAK_SECONDS:g}; the issue's soak is 600)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a PostgreSQL database the run may use; a fresh schema is created in it and dropped afterwards",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help="where bulk-loaded SQLite stores are kept between runs (keyed by a fingerprint of the "
        "data generator and the storage and search code)",
    )
    parser.add_argument("--no-cache", action="store_true", help="build every store afresh (--quick never caches)")
    parser.add_argument("--repeat", type=int, help="timed runs per serialization measurement (default 5, quick 1)")
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md", help="where to write the report"
    )
    return parser


def main(argv: list[str] | None = None, log: Callable[[str], None] | None = None) -> int:
    args = parser().parse_args(argv)
    say = log or (lambda line: print(line, flush=True))
    profile = QUICK_PROFILE if args.quick else DEFAULT_PROFILE
    if args.full:
        profile = full_profile(profile, QUICK_GROWTH_SIZE) if args.quick else full_profile(profile)
    backends = tuple(name.strip() for name in args.backends.split(",") if name.strip())
    soak_seconds = args.soak if args.soak is not None else (QUICK_SOAK_SECONDS if args.quick else DEFAULT_SOAK_SECONDS)
    repeat = args.repeat or (1 if args.quick else 5)
    command = "python -m bench" + (
        "" if argv is None and len(sys.argv) <= 1 else " " + shlex.join(sys.argv[1:] if argv is None else argv)
    )
    started = datetime.now(UTC)
    clock = time.perf_counter()
    run = Run(
        command=command,
        started=started,
        seconds=0.0,
        quick=args.quick,
        profile=profile,
        machine=describe(),
        verdicts=[],
    )
    for part in PARTS:
        if part not in args.only:
            run.not_run[part] = f"not selected (`--only {','.join(args.only)}`)"

    if "serialization" in args.only:
        say("serialization")
        run.serialization = run_serialization(repeat, args.quick, say)
    if "http" in args.only or "soak" in args.only:
        with LoadGenerator(profile.clients) as load, tempfile.TemporaryDirectory(prefix="fhirbridge-bench-") as tmp:
            work_dir = Path(tmp)
            builder = SqliteBuilder(None if args.quick or args.no_cache else args.cache, work_dir, say)
            if "http" in args.only:
                say("http")
                run.rest = run_rest(profile, backends, load, builder, work_dir, say, args.postgres_url)
                run.machine.databases.update(
                    {BACKEND_TITLES.get(name, name): version for name, version in run.rest.database_versions.items()}
                )
            if "soak" in args.only:
                say("soak")
                run.soak = run_soak(soak_seconds, profile.sizes[0], profile, load, builder, work_dir, say)

    largest = profile.sizes[-1]
    run.verdicts = [
        *serialization_verdicts(run.serialization),
        *rest_verdicts(run.rest, backends, largest),
        *growth_verdicts(
            run.rest if args.full else None, profile.growth_backend, profile.sizes[0], profile.growth_size
        ),
        soak_verdict(run.soak),
    ]
    run.seconds = time.perf_counter() - clock
    run.machine.load_average_at_end = load_average()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(run))
    say(f"wrote {args.output} in {run.seconds / 60:.1f} minutes")
    for verdict in run.verdicts:
        say(f"  {verdict.target}: {verdict.measured} -> {verdict.outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
