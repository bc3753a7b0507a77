"""Where a scenario's time goes in the server: py-spy samples the server process while the load runs.

    pip install py-spy        # into the venv, for profiling only (not a project dependency)
    python -m bench.profile read --backend sqlite --size 10000 --seconds 20

Samples only the thread holding the interpreter lock (``--gil``): that is the server's Python CPU time,
the resource the single-process server runs out of. Prints the functions that take the most of it
(inclusive and own), so a missed target can be traced to its cause; ``--folded FILE`` keeps the raw
stacks for a flame graph.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.data import SEED
from bench.loadgen import LoadGenerator
from bench.rest import DEFAULT_PROFILE, SCENARIOS
from bench.servers import ServerProcess
from bench.stores import DEFAULT_CACHE, POSTGRES_URL, SqliteBuilder, point_store


def summarize_folded(folded: str, top: int) -> str:
    """Inclusive and own share of samples per function, from py-spy's raw (folded) stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if not frame.startswith(("process ", "thread "))]
        total += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {count / total:6.1%}  {frame}" for frame, count in inclusive.most_common(top)]
    lines += ["", "own:"]
    lines += [f"  {count / total:6.1%}  {frame}" for frame, count in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    names = [scenario.name for scenario in SCENARIOS]
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("scenario", choices=names)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--folded", type=Path, help="also keep py-spy's folded stacks here")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        parser.error("py-spy is not installed (pip install py-spy)")
    scenario = next(s for s in SCENARIOS if s.name == args.scenario)
    profile = DEFAULT_PROFILE
    with tempfile.TemporaryDirectory(prefix="fhirbridge-profile-") as tmp, LoadGenerator(profile.clients) as load:
        work_dir = Path(tmp)
        builder = SqliteBuilder(DEFAULT_CACHE, work_dir, print)
        prepared = builder.prepare(args.size)
        with (
            point_store(args.backend, prepared, args.size, work_dir, args.postgres_url) as (store, _),
            ServerProcess("fhir", "--database-url", store.url) as server,
        ):
            requests = scenario.build(store, profile, random.Random(f"{SEED}-{scenario.name}"))
            folded = work_dir / "stacks.txt"
            sampler = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.process.pid),
                    "--duration",
                    str(int(args.seconds)),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(folded),
                    "--nonblocking",
                    "--gil",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(0.5)
            load.run(
                server.host,
                server.port,
                requests,
                warmup=0.0,
                window=args.seconds,
                runs=1,
                ok_statuses=scenario.ok_statuses,
            )
            _, errors = sampler.communicate(timeout=args.seconds + 60)
            if not folded.exists():
                print(errors.decode("utf-8", "replace"), file=sys.stderr)
                return 1
            text = folded.read_text()
            if args.folded:
                args.folded.write_text(text)
            print(summarize_folded(text, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
