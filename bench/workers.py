"""How throughput grows with worker processes: ``fhirbridge serve --workers N`` as deployed.

``python -m bench.workers`` serves the demo children from one store with 1, then 2, ... worker processes
(authentication on, audit and Provenance on, access log on: the command a deployment runs) and drives
each with the same closed-loop load: a care coordinator reading one child's resources, and updating one
of its goals. The report gives each N's throughput as a ratio of one worker's, measured in the same run,
on SQLite and PostgreSQL, written to docs/benchmarks-workers.md.

The load generator runs on the same machine (bench/machine.py says how many cores it has): once the
workers and the load generator together use every core, more workers cannot add throughput, and the
ratios show where that happens on this machine rather than what a larger one would give.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.loadgen import LoadGenerator, encode_request
from bench.machine import describe
from bench.security import READS, coordinator_token, demo_store_in, goal_body
from bench.serve import BENCH_AUDIENCE, BENCH_ISSUER, BENCH_SECRET
from bench.servers import REPO_ROOT, ServerProcess
from bench.stats import summarize
from bench.stores import POSTGRES_URL

OUTPUT = REPO_ROOT / "docs" / "benchmarks-workers.md"
FHIRBRIDGE = str(Path(sys.executable).with_name("fhirbridge"))
STARTED = "Application startup complete"


def serve(url: str, workers: int, journal: Path) -> ServerProcess:
    env = {
        "FHIRBRIDGE_JWT_SECRET": BENCH_SECRET,
        "FHIRBRIDGE_JWT_ISSUER": BENCH_ISSUER,
        "FHIRBRIDGE_JWT_AUDIENCE": BENCH_AUDIENCE,
        "FHIRBRIDGE_ALLOWED_HOSTS": '["127.0.0.1"]',
        "FHIRBRIDGE_SUBSCRIPTION_DELIVERY": "false",
        "FHIRBRIDGE_AUDIT_JOURNAL_DIR": str(journal),
    }
    server = ServerProcess(
        f"fhir-{workers}-workers",
        "--workers",
        str(workers),
        "--database-url",
        url,
        command=[FHIRBRIDGE, "serve"],
        env=env,
    )
    deadline = time.monotonic() + 120
    while server.log().count(STARTED) < workers:  # the first to start answers before the others are up
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{workers} workers did not start:\n{server.log()}")
        time.sleep(0.2)
    return server


def measure(load: LoadGenerator, server: ServerProcess, requests: list[bytes], window: float, runs: int) -> float:
    load.run(server.host, server.port, requests, warmup=1.0, window=window, runs=1)
    return statistics.median(
        summarize(load.run(server.host, server.port, requests, warmup=0.2, window=window, runs=1), window).throughput
        for _ in range(runs)
    )


# The issue's scaling target: on the write mix, on PostgreSQL, two workers give this much of one's throughput.
TARGET = ("postgresql", "write", 2, 1.5)


def own_goals(body: bytes, clients: int, auth: dict[str, str]) -> list[bytes]:
    """The write mix: as many goals as clients, each client starting at its own and moving on through them
    (bench/loadgen.py), so updates mostly land on different goals. Updates of one resource take turns on its
    row whatever the number of workers; these can run together."""
    goal = orjson.loads(body)
    requests = []
    for client in range(clients):
        own = {**goal, "id": f"{goal['id']}-client-{client}"}
        requests.append(encode_request("PUT", f"/Goal/{own['id']}", orjson.dumps(own), headers=auth))
    return requests


def run_workers(
    backends: tuple[str, ...], counts: tuple[int, ...], *, clients: int, window: float, runs: int, postgres_url: str
) -> list[tuple[str, str, int, float]]:
    """(backend, scenario, workers, requests/s) for every combination."""
    auth = {"Authorization": f"Bearer {coordinator_token()}"}
    results = []
    work = Path(tempfile.mkdtemp(prefix="fhirbridge-bench-workers-"))
    try:
        with LoadGenerator(clients) as load:
            for backend in backends:
                with demo_store_in(backend, work, postgres_url) as url:
                    scenarios = {
                        "read": [encode_request("GET", f"/{path}", headers=auth) for path in READS],
                        "write": own_goals(goal_body(url), clients, auth),
                    }
                    for count in counts:
                        with serve(url, count, work / "journal") as server:
                            for scenario, requests in scenarios.items():
                                throughput = measure(load, server, requests, window, runs)
                                print(f"{backend} {scenario} {count} worker(s): {throughput:,.0f} requests/s")
                                results.append((backend, scenario, count, throughput))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def report(results: list[tuple[str, str, int, float]], clients: int) -> str:
    lines = [
        "# Throughput by worker processes",
        "",
        "Generated by `python -m bench.workers`: the demo store served by `fhirbridge serve --workers N` as",
        f"deployed (tokens verified, access policy, audit, Provenance, access log), {clients} closed-loop clients",
        "on the same machine; a care coordinator reads one child's resources, or the clients update one goal",
        "each, in turn (the write mix). Each ratio is N workers against one worker in the same run.",
        f"Target: {TARGET[2]} workers >= {TARGET[3]}x one worker on the {TARGET[1]} mix on {TARGET[0]}.",
        "",
        "| backend | scenario | workers | requests/s | against 1 worker |",
        "|---|---|---|---|---|",
    ]
    single = {(backend, scenario): rate for backend, scenario, count, rate in results if count == 1}
    for backend, scenario, count, rate in results:
        base = single.get((backend, scenario)) or 0.0
        ratio = f"{rate / base:.2f}x" if base else "-"
        verdict = ""
        if (backend, scenario, count) == TARGET[:3] and base:
            verdict = " PASS" if rate / base >= TARGET[3] else " FAIL"
        lines.append(f"| {backend} | {scenario} | {count} | {rate:,.0f} | {ratio}{verdict} |")
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in describe().rows()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke test of the benchmark)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    counts = tuple(int(count) for count in args.workers.split(","))
    backends = tuple(backend for backend in args.backends.split(",") if backend)
    window, runs = (1.0, 1) if args.quick else (3.0, 3)
    results = run_workers(
        backends, counts, clients=args.clients, window=window, runs=runs, postgres_url=args.postgres_url
    )
    text = report(results, args.clients)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
