"""Issue 9's targets, each judged from the measurements of this run: pass, FAIL, or why it was not judged."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.rest import BASELINE, Measurement, RestResults
from bench.serialization import TARGET_XML_WRITE_SPEEDUP, YARDSTICK, SerializationResults
from bench.soak import FLAT_TOLERANCE, SoakResult

READ_CEILING_SHARE = 0.70
READ_P99 = 0.010
SEARCH_P99 = 0.025
INGEST_PER_SECOND = 2_000.0
SEARCH = "search patient+category"


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    outcome: str  # "pass", "FAIL", or why it was not judged

    @property
    def passed(self) -> bool | None:
        return {"pass": True, "FAIL": False}.get(self.outcome)


def _judge(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def serialization_verdicts(results: SerializationResults | None) -> list[Verdict]:
    targets = (
        (
            "XML write",
            TARGET_XML_WRITE_SPEEDUP,
            f"XML write at least {TARGET_XML_WRITE_SPEEDUP:.0f}x faster than fhir.resources on a {YARDSTICK}",
        ),
        ("JSON write", 1.0, f"JSON write no slower than fhir.resources ({YARDSTICK})"),
        ("JSON parse + validate", 1.0, f"JSON parse + validate no slower than fhir.resources ({YARDSTICK})"),
    )
    verdicts = []
    for operation, ratio, text in targets:
        row = results.find(YARDSTICK, operation) if results else None
        if row is None:
            verdicts.append(Verdict(text, "-", "not measured in this run"))
        else:
            verdicts.append(Verdict(text, f"{row.speedup:.1f}x", _judge(row.speedup >= ratio)))
    return verdicts


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def rest_verdicts(results: RestResults | None, backends: tuple[str, ...], size: int) -> list[Verdict]:
    verdicts: list[Verdict] = []
    at = f"{size:,} resources"
    for backend in backends:

        def measured(scenario: str, backend: str = backend) -> tuple[Measurement | None, str | None]:
            if results is None:
                return None, "not measured in this run"
            if backend in results.skipped_backends:
                return None, results.skipped_backends[backend]
            found = results.find(backend, size, scenario)
            if found is None:
                return None, "not measured in this run"
            if found.summary is None or not found.summary.ok:
                return None, found.note or "no successful requests"
            return found, None

        read, why = measured("read")
        ceiling, why_ceiling = measured(BASELINE)
        text = f"{backend}: read throughput at least {READ_CEILING_SHARE:.0%} of the bare Starlette ceiling ({at})"
        if read is not None and ceiling is not None and read.summary and ceiling.summary:
            share = read.summary.throughput / ceiling.summary.throughput
            verdicts.append(Verdict(text, f"{share:.0%}", _judge(share >= READ_CEILING_SHARE)))
        else:
            verdicts.append(Verdict(text, "-", why or why_ceiling or "-"))
        text = f"{backend}: read p99 under {_ms(READ_P99)} ({at})"
        if read is not None and read.summary:
            p99 = read.summary.p99
            verdicts.append(Verdict(text, _ms(p99), _judge(p99 < READ_P99)))
        else:
            verdicts.append(Verdict(text, "-", why or "-"))
        search, why = measured(SEARCH)
        text = f"{backend}: patient+category search p99 under {_ms(SEARCH_P99)} ({at})"
        if search is not None and search.summary:
            p99 = search.summary.p99
            verdicts.append(Verdict(text, _ms(p99), _judge(p99 < SEARCH_P99)))
        else:
            verdicts.append(Verdict(text, "-", why or "-"))
        if backend == "sqlite":
            ingest, why = measured("transaction (100 entries)")
            text = f"sqlite: transaction ingest at least {INGEST_PER_SECOND:,.0f} resources/s ({at})"
            if ingest is not None:
                rate = ingest.resources_per_second
                verdicts.append(Verdict(text, f"{rate:,.0f} resources/s", _judge(rate >= INGEST_PER_SECOND)))
            else:
                verdicts.append(Verdict(text, "-", why or "-"))
    return verdicts


def growth_bound(small: int, large: int) -> float:
    """How much latency may grow from ``small`` to ``large`` stored resources if it grows like log(n)."""
    return math.log(large) / math.log(small)


def growth_verdicts(results: RestResults | None, backend: str | None, small: int, large: int | None) -> list[Verdict]:
    text = "latency growth no worse than logarithmic from 10,000 to 1,000,000 resources (p50)"
    if results is None or backend is None or large is None:
        return [Verdict(text, "-", "not run (needs --full)")]
    bound = growth_bound(small, large)
    verdicts = []
    for scenario in ("read", SEARCH):
        before = results.find(backend, small, scenario)
        after = results.find(backend, large, scenario)
        label = f"{backend}: {scenario} p50 at {large:,} / at {small:,}, at most {bound:.2f}"
        if before is None or after is None or before.summary is None or after.summary is None:
            why = next((m.note for m in (after, before) if m is not None and m.note), None)
            verdicts.append(Verdict(label, "-", why or "not measured"))
            continue
        ratio = after.summary.p50 / before.summary.p50
        verdicts.append(Verdict(label, f"{ratio:.2f}", _judge(ratio <= bound)))
    return verdicts


def soak_verdict(result: SoakResult | None) -> Verdict:
    text = f"server memory flat over the soak (end within {FLAT_TOLERANCE:.0%} of start)"
    if result is None:
        return Verdict(text, "-", "not run in this invocation")
    measured = f"{result.growth:+.1%} over {result.seconds:.0f} s"
    outcome = _judge(result.flat)
    if result.seconds < 600:
        outcome += " (short soak; the issue's soak is --soak 600)"
    return Verdict(text, measured, outcome)


__all__ = [
    "Verdict",
    "growth_bound",
    "growth_verdicts",
    "rest_verdicts",
    "serialization_verdicts",
    "soak_verdict",
]
