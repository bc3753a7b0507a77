"""What security costs: the same store served with and without authentication, measured in one run.

``python -m bench.security`` (part of ``make bench``) loads the demo children into a SQLite store, serves
two identical copies of it, one with authentication off (``bench.serve fhir``) and one as deployed
(``bench.serve fhir-secured``: bearer tokens verified, the access policy deciding from the data, every
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import LoadGenerator, encode_request
from bench.serve import BENCH_AUDIENCE, BENCH_ISSUER, BENCH_SECRET
from bench.servers import REPO_ROOT, ServerProcess
from bench.stats import LoadSummary, summarize

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


def load_demo_store(url: str) -> str:
    """The demo children loaded into the (empty) store at ``url``; returns ``url``."""
    from fhirbridge.engine.interactions import FhirEngine
    from fhirbridge.engine.searching import SearchService
    from fhirbridge.engine.transaction import BundleProcessor
    from fhirbridge.server.cli import load_demo_data
    from fhirbridge.storage.sql import open_repository

    repository = open_repository(url)
    try:
        search = SearchService(repository)
        engine = FhirEngine(repository, matcher=search)
        load_demo_data(BundleProcessor(engine, max_entries=1000, searcher=search.search_in), repository, "")
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
    from fhirbridge.storage.sql import open_repository

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


def run_security(
    *, clients: int = 4, warmup: float = 2.0, window: float = 2.0, runs: int = 7, say: Callable[[str], None] = print
) -> list[Pair]:
    work = Path(tempfile.mkdtemp(prefix="fhirbridge-bench-security-"))
    try:
        say("loading the demo children")
        url = demo_store(work / "demo.sqlite3")
        body = goal_body(url)
        copies = {}
        for kind in ("fhir", "fhir-secured"):
            copy = work / f"{kind}.sqlite3"
            shutil.copyfile(work / "demo.sqlite3", copy)
            copies[kind] = f"sqlite:///{copy}"
        auth = {"Authorization": f"Bearer {coordinator_token()}"}
        scenarios: dict[str, Callable[[dict[str, str]], list[bytes]]] = {
            "read": lambda headers: [encode_request("GET", f"/{path}", headers=headers) for path in READS],
            "write": lambda headers: [encode_request("PUT", f"/{UPDATED}", body, headers=headers)],
        }
        pairs: list[Pair] = []
        with LoadGenerator(clients) as load:
            for scenario, requests in scenarios.items():
                servers = {kind: ServerProcess(kind, "--database-url", copies[kind]) for kind in KINDS}
                try:
                    pairs.append(
                        alternate(load, scenario, servers, requests(auth), requests({}), warmup, window, runs, say)
                    )
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
        "with authentication off and as deployed (tokens verified, the access policy deciding from the data,",
        "every access committed to the audit trail before it is answered, every write attributed), under the",
        "same closed-loop load (4 clients). Reads are one child's resources read by its care coordinator;",
        "writes are updates of one of its goals. The two servers are measured in alternating windows, and",
        "secured / unsecured is the median over the secured windows of each against the unsecured windows",
        "either side of it (the machine's speed drifts); throughputs are the medians of the windows.",
        "",
        "| scenario | unsecured (req/s) | secured (req/s) | secured / unsecured | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for pair in pairs:
        verdict = "PASS" if pair.met else "FAIL"
        if not (pair.unsecured.ok and pair.secured.ok):
            verdict += f" (errors: {pair.unsecured.first_error or pair.secured.first_error})"
        lines.append(
            f"| {pair.scenario} | {pair.unsecured.throughput:,.0f} | {pair.secured.throughput:,.0f} | "
            f"{pair.ratio:.0%} | >= {TARGETS[pair.scenario]:.0%} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="secured against unsecured throughput")
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke test of the benchmark)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    timing = {"warmup": 0.5, "window": 1.0, "runs": 1} if args.quick else {}
    pairs = run_security(**timing)  # type: ignore[arg-type]
    text = report(pairs)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
