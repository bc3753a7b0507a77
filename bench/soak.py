"""Memory over a soak: the server's resident memory sampled while a mixed load runs for a long time.

The load mixes what a care-coordination server sees all day: reads of plans and observations, action
steps updated, new resources created (and, once they have landed, patient+category searches). A leak
shows as resident memory that keeps climbing after the warm-up; flat means the end of the soak is within
``FLAT_TOLERANCE`` of its start (both taken as the median of a quarter of the samples, so one garbage
collection does not decide it).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.data import SEED
from bench.loadgen import LoadGenerator
from bench.rest import SCENARIOS, Profile, Scenario
from bench.servers import ServerProcess
from bench.stats import LoadSummary, summarize
from bench.stores import SqliteBuilder, Store, point_store

FLAT_TOLERANCE = 0.10
SAMPLES = 40
SOAK_MIX = ("read", "search patient+category", "update", "create")


@dataclass
class SoakResult:
    seconds: float
    stored_at_start: int
    samples: list[tuple[float, int]]  # (seconds since the load started, RSS bytes)
    summary: LoadSummary
    mix: list[str]

    def _quarter(self, last: bool) -> float:
        count = max(1, len(self.samples) // 4)
        chosen = self.samples[-count:] if last else self.samples[:count]
        return statistics.median(rss for _, rss in chosen)

    @property
    def start_rss(self) -> float:
        return self._quarter(last=False)

    @property
    def end_rss(self) -> float:
        return self._quarter(last=True)

    @property
    def peak_rss(self) -> int:
        return max(rss for _, rss in self.samples)

    @property
    def growth(self) -> float:
        return self.end_rss / self.start_rss - 1

    @property
    def flat(self) -> bool:
        return self.growth <= FLAT_TOLERANCE


def _mix(server: ServerProcess, store: Store, profile: Profile) -> tuple[list[bytes], list[str]]:
    """Interleave the requests of each soak scenario that is available on this server."""
    chosen: list[Scenario] = []
    for scenario in SCENARIOS:
        if scenario.name in SOAK_MIX and (scenario.available is None or scenario.available(server, store) is None):
            chosen.append(scenario)
    pools = [scenario.build(store, profile, random.Random(f"{SEED}-soak-{scenario.name}")) for scenario in chosen]
    requests = [pool[index % len(pool)] for index in range(max(map(len, pools))) for pool in pools]
    return requests, [scenario.name for scenario in chosen]


def run_soak(
    seconds: float,
    size: int,
    profile: Profile,
    load: LoadGenerator,
    builder: SqliteBuilder,
    work_dir: Path,
    log: Callable[[str], None],
) -> SoakResult:
    with point_store("sqlite", builder.prepare(size), size, work_dir) as (store, _):
        stored = store.count()
        with ServerProcess("fhir", "--database-url", store.url) as server:
            requests, mix = _mix(server, store, profile)
            log(f"  soak: {seconds:.0f} s of {', '.join(mix)} on SQLite with {stored:,} resources")
            samples: list[tuple[float, int]] = []
            done = threading.Event()
            warmup = min(profile.warmup * 5, seconds / 4)

            def sample() -> None:
                started = time.monotonic() + 0.3 + warmup
                interval = max(seconds / SAMPLES, 0.1)
                while not done.wait(max(0.0, started + len(samples) * interval - time.monotonic())):
                    samples.append((time.monotonic() - started, server.rss_bytes()))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            results = load.run(server.host, server.port, requests, warmup=warmup, window=seconds, runs=1)
            done.set()
            sampler.join()
            if not samples:  # a soak shorter than one sampling interval still reports where it ended
                samples.append((seconds, server.rss_bytes()))
    return SoakResult(seconds, stored, samples, summarize(results, seconds), mix)


__all__ = ["FLAT_TOLERANCE", "SoakResult", "run_soak"]
