"""What security costs: the same store served with and without authentication, measured in one run.

``python -m bench.security`` (part of ``make bench``) loads the demo children into two identical stores,
on SQLite and then on PostgreSQL, and serves them, one with authentication off (``bench.serve fhir``) and
one as deployed (``bench.serve fhir-secured``: bearer tokens verified, the access policy deciding from the data, every
access committed to the audit trail before it is answered, every write attributed by a Provenance), and
drives both with the same closed-loop load: reads of one child's resources by that child's care
coordinator, and updates of one of its goals. The report is the ratio of secured to unsecured throughput
against the targets (reads >= 80%, writes >= 70%), written to docs/benchmarks-security.md.

Both servers run throughout and are measured in alternating windows (unsecured, secured, unsecured, ...):
each secured window is compared with the unsecured windows either side of it, and the ratio reported is
the median of those pairs. On a shared machine whose speed drifts by tens of percent within a minute,
two measurements taken a minute apart compared the drift, not the servers.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from bench.loadgen import LoadGenerator, encode_request
from bench.serve import BENCH_AUDIENCE, BENCH_ISSUER, BENCH_SECRET
from bench.servers import REPO_ROOT, ServerProcess
from bench.stats import LoadSummary, summarize
from bench.stores import POSTGRES_URL, postgres_schema

CHILD = "jordan"
COORDINATOR = "Practitioner/jordan-coordinator"
READS = [f"Patient/{CHILD}", f"Goal/{CHILD}-goal-chair", f"CarePlan/{CHILD}-plan", f"CareTeam/{CHILD}-team"]
UPDATED = f"Goal/{CHILD}-goal-chair"
TARGETS = {"read": 0.80, "write": 0.70}
OUTPUT = REPO_ROOT / "docs" / "benchmarks-security.md"


@dataclass(frozen=True)
class Pair:
    scenario: str
    unsecured: LoadSummary
    secured: LoadSummary
    ratios: tuple[float, ...] = ()  # each secured window against the unsecured windows either side of it
    backend: str = "sqlite"

    @property
    def ratio(self) -> float:
        if self.ratios:
            return statistics.median(self.ratios)
        return self.secured.throughput / self.unsecured.throughput if self.unsecured.throughput else 0.0

    @property
    def met(self) -> bool:
        return self.unsecured.ok and self.secured.ok and self.ratio >= TARGETS[self.scenario]


def demo_store(path: Path) -> str:
    """A SQLite store holding the demo children, loaded through the engine as the server itself does."""
    return load_demo_store(f"sqlite:///{path}")


@contextmanager
def demo_store_in(backend: str, work: Path, postgres_url: str, name: str = "demo") -> Iterator[str]:
    """The demo children in a fresh store of ``backend``."""
    if backend == "sqlite":
        yield demo_store(work / f"{name}.sqlite3")
        return
    with postgres_schema(postgres_url, f"fhirbridge_bench_{name.replace('-', '_')}") as url:
        yield load_demo_store(url)


def load_demo_store(url: str) -> str:
    """The demo children loaded into the (empty) store at ``url``; returns ``url``."""
    from fhirbridge.composition import open_repository
    from fhirbridge.server.cli import load_demo_into

    repository = open_repository(url)
    try:
        load_demo_into(repository)
    finally:
        repository.dispose()
    return url


def coordinator_token() -> str:
    from fhirbridge.security.roles import role_claims
    from fhirbridge.security.tokens import mint_token

    claims = role_claims("care-coordinator", user=COORDINATOR)
    return mint_token(
        claims, secret=BENCH_SECRET, issuer=BENCH_ISSUER, audience=BENCH_AUDIENCE, ttl=3600, subject="bench"
    )


def goal_body(url: str) -> bytes:
    from fhirbridge.composition import open_repository

    repository = open_repository(url)
    try:
        version = repository.read(*UPDATED.split("/"))
        assert version is not None and version.content is not None
        return bytes(version.content)
    finally:
        repository.dispose()


KINDS = ("fhir", "fhir-secured")


def measure(
    load: LoadGenerator, server: ServerProcess, requests: list[bytes], *, warmup: float, window: float, runs: int
) -> LoadSummary:
    results = load.run(server.host, server.port, requests, warmup=warmup, window=window, runs=runs)
    return summarize(results, window)


def alternate(
    load: LoadGenerator,
    scenario: str,
    servers: dict[str, ServerProcess],
    secured_requests: list[bytes],
    unsecured_requests: list[bytes],
    warmup: float,
    window: float,
    runs: int,
    say: Callable[[str], None],
) -> Pair:
    """Windows alternating unsecured, secured, ..., unsecured: ``runs`` secured windows, each with an
    unsecured window before and after it."""
    say(f"{scenario}: warming both servers up")
    unsecured_server, secured_server = servers["fhir"], servers["fhir-secured"]
    measure(load, unsecured_server, unsecured_requests, warmup=warmup, window=window, runs=1)
    measure(load, secured_server, secured_requests, warmup=warmup, window=window, runs=1)
    unsecured = [measure(load, unsecured_server, unsecured_requests, warmup=0.5, window=window, runs=1)]
    secured: list[LoadSummary] = []
    for _ in range(runs):
        secured.append(measure(load, secured_server, secured_requests, warmup=0.5, window=window, runs=1))
        unsecured.append(measure(load, unsecured_server, unsecured_requests, warmup=0.5, window=window, runs=1))
    ratios = tuple(
        done.throughput / ((before.throughput + after.throughput) / 2) if before.throughput + after.throughput else 0.0
        for done, before, after in zip(secured, unsecured, unsecured[1:], strict=False)
    )
    say(f"{scenario}: secured/unsecured per pair " + ", ".join(f"{ratio:.0%}" for ratio in ratios))
    return Pair(scenario, _median(unsecured), _median(secured), ratios)


def _median(windows: list[LoadSummary]) -> LoadSummary:
    """One summary of single windows: the median throughput and latencies, every request and error."""
    return LoadSummary(
        requests=sum(window.requests for window in windows),
        throughput=statistics.median(window.throughput for window in windows),
        p50=statistics.median(window.p50 for window in windows),
        p99=statistics.median(window.p99 for window in windows),
        errors=sum(window.errors for window in windows),
        first_error=next((window.first_error for window in windows if window.first_error), None),
        runs=len(windows),
    )


def read_requests(headers: dict[str, str]) -> list[bytes]:
    return [encode_request("GET", f"/{path}", headers=headers) for path in READS]


def write_requests(body: bytes, headers: dict[str, str]) -> list[bytes]:
    return [encode_request("PUT", f"/{UPDATED}", body, headers=headers)]


def run_security(
    *,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
    scenarios: tuple[str, ...] = ("read", "write"),
    clients: int = 4,
    warmup: float = 2.0,
    window: float = 2.0,
    runs: int = 7,
    postgres_url: str = POSTGRES_URL,
    say: Callable[[str], None] = print,
) -> list[Pair]:
    work = Path(tempfile.mkdtemp(prefix="fhirbridge-bench-security-"))
    auth = {"Authorization": f"Bearer {coordinator_token()}"}
    pairs: list[Pair] = []
    try:
        with LoadGenerator(clients) as load:
            for backend in backends:
                say(f"{backend}: loading the demo children, twice")
                with (
                    demo_store_in(backend, work, postgres_url, "fhir") as unsecured_url,
                    demo_store_in(backend, work, postgres_url, "fhir-secured") as secured_url,
                ):
                    body = goal_body(unsecured_url)
                    urls = {"fhir": unsecured_url, "fhir-secured": secured_url}
                    loads: dict[str, Callable[[dict[str, str]], list[bytes]]] = {
                        "read": read_requests,
                        "write": partial(write_requests, body),
                    }
                    for scenario in scenarios:
                        requests = loads[scenario]
                        servers = {kind: ServerProcess(kind, "--database-url", urls[kind]) for kind in KINDS}
                        try:
                            pair = alternate(
                                load, scenario, servers, requests(auth), requests({}), warmup, window, runs, say
                            )
                            pairs.append(replace(pair, backend=backend))
                        finally:
                            for server in servers.values():
                                server.stop()
        return pairs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(pairs: list[Pair]) -> str:
    lines = [
        "# What security costs",
        "",
        "Generated by `python -m bench.security` (part of `make bench`): the demo store served twice in one run,",
        "on SQLite and on PostgreSQL,",
        "with authentication off and as deployed (tokens verified, the access policy deciding from the data,",
        "every access committed to the audit trail before it is answered, every write attributed), under the",
        "same closed-loop load (4 clients). Reads are one child's resources read by its care coordinator;",
        "writes are updates of one of its goals. The two servers are measured in alternating windows, and",
        "secured / unsecured is the median over the secured windows of each against the unsecured windows",
        "either side of it (the machine's speed drifts); throughputs are the medians of the windows.",
        "",
        "| backend | scenario | unsecured (req/s) | secured (req/s) | secured / unsecured | target | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for pair in pairs:
        verdict = "PASS" if pair.met else "FAIL"
        if not (pair.unsecured.ok and pair.secured.ok):
            verdict += f" (errors: {pair.unsecured.first_error or pair.secured.first_error})"
        lines.append(
            f"| {pair.backend} | {pair.scenario} | {pair.unsecured.throughput:,.0f} | {pair.secured.throughput:,.0f} | "
            f"{pair.ratio:.0%} | >= {TARGETS[pair.scenario]:.0%} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="secured against unsecured throughput")
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke test of the benchmark)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated (default both)")
    parser.add_argument("--scenarios", default="read,write", help="comma-separated (default both)")
    parser.add_argument("--runs", type=int, default=7, help="secured windows per scenario (default 7)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    timing = {"warmup": 0.5, "window": 1.0, "runs": 1} if args.quick else {"runs": args.runs}
    backends = tuple(backend for backend in args.backends.split(",") if backend)
    scenarios = tuple(scenario for scenario in args.scenarios.split(",") if scenario)
    unknown = sorted(set(scenarios) - TARGETS.keys())
    if unknown:  # a misspelt scenario would otherwise measure nothing and report an empty table
        parser.error(f"unknown scenarios {unknown}: choose from {sorted(TARGETS)}")
    pairs = run_security(
        backends=backends,
        scenarios=scenarios,
        postgres_url=args.postgres_url,
        **timing,  # type: ignore[arg-type]
    )
    text = report(pairs)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
