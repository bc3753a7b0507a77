"""From per-window latencies to the numbers the report shows: medians over runs of throughput and percentiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.loadgen import ClientResult


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (``fraction`` 0.99 for p99)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class LoadSummary:
    """Medians over the measurement windows; latencies in seconds."""

    requests: int  # completed in all windows together
    throughput: float  # requests per second
    p50: float
    p99: float
    errors: int
    first_error: str | None
    runs: int

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.requests > 0


def summarize(results: list[ClientResult], window: float) -> LoadSummary:
    runs = len(results[0].latencies) if results else 0
    throughputs: list[float] = []
    p50s: list[float] = []
    p99s: list[float] = []
    total = 0
    for run in range(runs):
        latencies = sorted(value for result in results for value in result.latencies[run])
        total += len(latencies)
        throughputs.append(len(latencies) / window)
        if latencies:
            p50s.append(percentile(latencies, 0.50))
            p99s.append(percentile(latencies, 0.99))
    errors = sum(result.errors for result in results)
    first_error = next((result.first_error for result in results if result.first_error), None)
    return LoadSummary(
        requests=total,
        throughput=statistics.median(throughputs) if throughputs else 0.0,
        p50=statistics.median(p50s) if p50s else math.nan,
        p99=statistics.median(p99s) if p99s else math.nan,
        errors=errors,
        first_error=first_error,
        runs=runs,
    )


def averaged(first: LoadSummary, second: LoadSummary) -> LoadSummary:
    """One summary of the same load measured twice (the ceiling, before and after fhirbridge's reads).

    The machine's speed drifts; measuring the ceiling on both sides of the read it is compared with and
    taking the mean keeps a drift from landing on one side of the ratio only.
    """
    return LoadSummary(
        requests=first.requests + second.requests,
        throughput=(first.throughput + second.throughput) / 2,
        p50=(first.p50 + second.p50) / 2,
        p99=(first.p99 + second.p99) / 2,
        errors=first.errors + second.errors,
        first_error=first.first_error or second.first_error,
        runs=first.runs + second.runs,
    )


__all__ = ["LoadSummary", "averaged", "percentile", "summarize"]
