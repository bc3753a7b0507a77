"""The FHIR REST API under load: every scenario, on each backend, at each store size.

Each size point is a pristine store of generated children (see ``bench.stores``); against it a fresh
fhirbridge server process and a bare Starlette baseline process are started and every scenario is
driven by the load generator's client processes. Read-only scenarios run first, so they see exactly the
bulk-loaded store; the write scenarios then add to it (the *stored* column says how much).
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fhirbridge
from bench.data import RESOURCES_PER_CHILD, SEED, ChildRecord, Ids, transaction_bundle
from bench.loadgen import Connection, LoadGenerator, encode_request
from bench.servers import ServerProcess
from bench.stats import LoadSummary, averaged, summarize
from bench.stores import POSTGRES_URL, Prepared, SqliteBuilder, Store, point_store, postgres_available
from fhirbridge.formats.json import dumps

TRANSACTION_CHILDREN = 5  # 5 children x 20 resources = a 100-entry transaction Bundle


@dataclass(frozen=True)
class Profile:
    """How big and how long: the default run, ``--quick`` and ``--full`` differ only here."""

    sizes: tuple[int, ...]
    clients: int
    warmup: float
    window: float
    runs: int
    read_sample: int  # distinct resources the read scenario cycles through
    write_pool: int  # distinct request bodies per write scenario
    growth_backend: str | None = None  # the backend that also gets the largest size
    growth_size: int | None = None


DEFAULT_PROFILE = Profile(
    sizes=(10_000, 100_000), clients=4, warmup=1.0, window=3.0, runs=3, read_sample=2_000, write_pool=200
)
# One small store and one window per scenario, long enough for a 100-entry transaction to complete.
QUICK_PROFILE = Profile(sizes=(300,), clients=2, warmup=0.3, window=1.0, runs=1, read_sample=50, write_pool=10)


GROWTH_SIZE = 1_000_000
QUICK_GROWTH_SIZE = 3_000


def full_profile(base: Profile, growth_size: int = GROWTH_SIZE) -> Profile:
    """``base`` plus the growth point on SQLite."""
    return Profile(**{**base.__dict__, "growth_backend": "sqlite", "growth_size": growth_size})


# -- scenarios ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    build: Callable[[Store, Profile, random.Random], list[bytes]]
    resources_per_request: int = 1
    ok_statuses: tuple[int, ...] = (200, 201)
    # A requirement that may not have landed yet: returns why the scenario cannot run, or None.
    available: Callable[[ServerProcess, Store], str | None] | None = None
    # Slow requests need windows long enough for several of them to complete.
    min_window: float = 0.0


def _sample_children(store: Store, rng: random.Random, count: int) -> list[Ids]:
    return [Ids(rng.randrange(store.children)) for _ in range(count)]


def read_paths(store: Store, profile: Profile) -> list[str]:
    """The resources read by both the fhirbridge read scenario and the baseline (Tasks excluded: updated)."""
    rng = random.Random(SEED)
    paths = []
    for ids in _sample_children(store, rng, profile.read_sample):
        resource_type, id = rng.choice(
            (
                ("Patient", ids.patient),
                ("CarePlan", ids.of("plan")),
                ("Condition", ids.of("cond", rng.randrange(2))),
                ("Goal", ids.of("goal", rng.randrange(3))),
                ("ServiceRequest", ids.of("sr", rng.randrange(2))),
                ("Observation", ids.of("obs", rng.randrange(8))),
                ("Observation", ids.of("obs", rng.randrange(8))),
            )
        )
        paths.append(f"{resource_type}/{id}")
    return paths


def _reads(store: Store, profile: Profile, rng: random.Random) -> list[bytes]:
    return [encode_request("GET", f"/{path}") for path in read_paths(store, profile)]


def _searches(store: Store, profile: Profile, rng: random.Random) -> list[bytes]:
    return [
        encode_request("GET", f"/Observation?patient=Patient/{ids.patient}&category=vital-signs")
        for ids in _sample_children(store, rng, profile.read_sample)
    ]


def _everything(store: Store, profile: Profile, rng: random.Random) -> list[bytes]:
    return [
        encode_request("GET", f"/Patient/{ids.patient}/$everything")
        for ids in _sample_children(store, rng, profile.read_sample)
    ]


def _fresh_record(rng: random.Random) -> list[dict[str, Any]]:
    # Children far beyond any stored number: their bodies are new to the store.
    return ChildRecord(10_000_000 + rng.randrange(1_000_000), new=True).resources()


def _creates(store: Store, profile: Profile, rng: random.Random) -> list[bytes]:
    requests: list[bytes] = []
    while len(requests) < profile.write_pool:
        for resource in _fresh_record(rng):
            body = {k: v for k, v in resource.items() if k != "id"}
            requests.append(encode_request("POST", f"/{resource['resourceType']}", dumps(body)))
    return requests[: profile.write_pool]


def _updates(store: Store, profile: Profile, rng: random.Random) -> list[bytes]:
    requests = []
    for ids in _sample_children(store, rng, profile.write_pool):
        task = ChildRecord(ids.number).task(2)  # the action step: its status moves freely, unlike a referral
        task["status"] = rng.choice(("accepted", "in-progress", "completed"))
        task["note"] = [{"text": f"Status confirmed with the family by phone (call {rng.randrange(1000)})"}]
        requests.append(encode_request("PUT", f"/Task/{task['id']}", dumps(task)))
    return requests


def _transactions(store: Store, profile: Profile, rng: random.Random) -> list[bytes]:
    requests = []
    for _ in range(max(2, profile.write_pool // 20)):
        record = [resource for _ in range(TRANSACTION_CHILDREN) for resource in _fresh_record(rng)]
        requests.append(encode_request("POST", "/", dumps(transaction_bundle(record, rng))))
    return requests


def module_present(module: str) -> bool:
    """Whether this checkout of fhirbridge has ``module`` (an editable install elsewhere does not count)."""
    spec = importlib.util.find_spec(module)
    package = Path(fhirbridge.__file__).resolve().parent
    return spec is not None and spec.origin is not None and Path(spec.origin).resolve().is_relative_to(package)


def _bundle_probe(path: str, module: str) -> Callable[[ServerProcess, Store], str | None]:
    """Availability of an endpoint that answers a Bundle: probed on the live server, with the module named."""

    def available(server: ServerProcess, store: Store) -> str | None:
        connection = Connection(server.host, server.port)
        try:
            response = connection.exchange(encode_request("GET", path.format(patient=Ids(0).patient)))
        finally:
            connection.close()
        if response.status in (404, 405, 501):
            installed = module_present(module)
            where = f"{module} is present but the endpoint" if installed else f"{module} has not landed; the endpoint"
            return f"not available yet: {where} answers HTTP {response.status}"
        if response.status != 200:
            return f"probe failed: HTTP {response.status}: {response.body[:200]!r}"
        bundle = json.loads(response.body)
        if bundle.get("resourceType") != "Bundle" or not bundle.get("entry"):
            return "probe failed: the answer is not a Bundle with entries (is the search index filled on write?)"
        return None

    return available


SEARCH_PATH = "/Observation?patient=Patient/{patient}&category=vital-signs"
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("read", "GET [type]/[id] of random stored resources", _reads),
    Scenario(
        "search patient+category",
        "GET Observation?patient=...&category=vital-signs",
        _searches,
        available=_bundle_probe(SEARCH_PATH, "fhirbridge.search"),
    ),
    Scenario(
        "$everything",
        "GET Patient/[id]/$everything (a child's whole record, 20 resources)",
        _everything,
        available=_bundle_probe("/Patient/{patient}/$everything", "fhirbridge.search"),
    ),
    Scenario("update", "PUT Task/[id] (an action step's status and note change)", _updates),
    Scenario("create", "POST [type] (resources of a new child's record)", _creates),
    Scenario(
        "transaction (100 entries)",
        "POST / transaction Bundle creating 5 children's records",
        _transactions,
        resources_per_request=RESOURCES_PER_CHILD * TRANSACTION_CHILDREN,
        min_window=2.5,
    ),
)
BASELINE = "read, bare Starlette ceiling"
# SQLite only: the read scenario again against a server with FHIRBRIDGE_READ_CACHE_MB=0, i.e. what a
# read costs when writes keep emptying the cache (PostgreSQL has no cache, its read row is this already).
UNCACHED_READ = "read, cache off"


@dataclass
class Measurement:
    backend: str
    size: int  # the size point the store was grown to
    stored: int  # resources actually stored when the scenario started
    scenario: str
    summary: LoadSummary | None
    note: str | None = None
    resources_per_request: int = 1

    @property
    def resources_per_second(self) -> float:
        return self.summary.throughput * self.resources_per_request if self.summary else math.nan


@dataclass
class RestResults:
    measurements: list[Measurement] = field(default_factory=list)
    # (backend, size) -> how the store of that point was made, e.g. "built through the repository in 41 s".
    preparation: dict[tuple[str, int], str] = field(default_factory=dict)
    skipped_backends: dict[str, str] = field(default_factory=dict)
    database_versions: dict[str, str] = field(default_factory=dict)

    def find(self, backend: str, size: int, scenario: str) -> Measurement | None:
        for measurement in self.measurements:
            if (measurement.backend, measurement.size, measurement.scenario) == (backend, size, scenario):
                return measurement
        return None


def _measure(
    load: LoadGenerator,
    server: ServerProcess,
    requests: list[bytes],
    profile: Profile,
    ok: tuple[int, ...],
    min_window: float = 0.0,
) -> LoadSummary:
    window = max(profile.window, min_window)
    results = load.run(
        server.host, server.port, requests, warmup=profile.warmup, window=window, runs=profile.runs, ok_statuses=ok
    )
    return summarize(results, window)


def _trouble(summary: LoadSummary, window: float) -> str | None:
    if summary.errors:
        return f"{summary.errors} failed requests, first: {summary.first_error}"
    if not summary.requests:
        return f"no request completed within a {window:g} s window"
    return None


def run_point(
    store: Store, size: int, profile: Profile, load: LoadGenerator, work_dir: Path, log: Callable[[str], None]
) -> list[Measurement]:
    measurements = []
    stored = store.count()
    bodies = {}
    for path in read_paths(store, profile):
        version = store.repository.read(*path.split("/", 1))
        if version is not None and version.content is not None:
            bodies[path] = version.content.decode("utf-8")
    bodies_file = work_dir / "baseline-bodies.json"
    bodies_file.write_text(json.dumps(bodies))
    reads = _reads(store, profile, random.Random(SEED))
    with (
        ServerProcess("baseline", "--bodies", str(bodies_file)) as baseline,
        ServerProcess("fhir", "--database-url", store.url) as server,
    ):
        log(f"  {store.backend} {size:,}: {BASELINE}")
        ceiling_before = _measure(load, baseline, reads, profile, (200,))
        for scenario in SCENARIOS:
            stored = store.count()
            reason = scenario.available(server, store) if scenario.available else None
            if reason is not None:
                log(f"  {store.backend} {size:,}: {scenario.name}: {reason}")
                measurements.append(
                    Measurement(
                        store.backend, size, stored, scenario.name, None, reason, scenario.resources_per_request
                    )
                )
                continue
            log(f"  {store.backend} {size:,}: {scenario.name}")
            requests = scenario.build(store, profile, random.Random(f"{SEED}-{scenario.name}"))
            summary = _measure(load, server, requests, profile, scenario.ok_statuses, scenario.min_window)
            note = _trouble(summary, max(profile.window, scenario.min_window))
            measurements.append(
                Measurement(store.backend, size, stored, scenario.name, summary, note, scenario.resources_per_request)
            )
            if scenario.name == "read":
                log(f"  {store.backend} {size:,}: {BASELINE} (again, after fhirbridge's read)")
                ceiling = averaged(ceiling_before, _measure(load, baseline, reads, profile, (200,)))
                measurements.append(Measurement(store.backend, size, stored, BASELINE, ceiling))
                if store.backend == "sqlite":
                    measurements.append(_uncached_read(store, size, stored, profile, load, reads, log))
    return measurements


def _uncached_read(
    store: Store,
    size: int,
    stored: int,
    profile: Profile,
    load: LoadGenerator,
    reads: list[bytes],
    log: Callable[[str], None],
) -> Measurement:
    log(f"  {store.backend} {size:,}: {UNCACHED_READ}")
    with ServerProcess("fhir", "--database-url", store.url, "--read-cache-mb", "0") as uncached:
        summary = _measure(load, uncached, reads, profile, (200,))
    return Measurement(store.backend, size, stored, UNCACHED_READ, summary, _trouble(summary, profile.window))


def _sizes(profile: Profile, backend: str) -> list[int]:
    sizes = list(profile.sizes)
    if profile.growth_size and profile.growth_backend == backend:
        sizes.append(profile.growth_size)
    return sizes


def _preparation(backend: str, prepared: Prepared, copy_seconds: float) -> str:
    if backend != "sqlite":
        return f"rows copied from the SQLite store of the same size in {copy_seconds:,.0f} s"
    built = f"built through the repository in {prepared.seconds:,.0f} s"
    return f"reused from the cache, {built}" if prepared.cached else built


def run_rest(
    profile: Profile,
    backends: tuple[str, ...],
    load: LoadGenerator,
    builder: SqliteBuilder,
    work_dir: Path,
    log: Callable[[str], None],
    postgres_url: str = POSTGRES_URL,
) -> RestResults:
    results = RestResults()
    for backend in backends:
        if backend == "postgresql" and (reason := postgres_available(postgres_url)):
            results.skipped_backends[backend] = reason
            log(f"{backend}: skipped, {reason}")
            continue
        for size in _sizes(profile, backend):
            prepared = builder.prepare(size)
            with point_store(backend, prepared, size, work_dir, postgres_url) as (store, copy_seconds):
                results.database_versions[backend] = store.server_version()
                results.preparation[(backend, size)] = _preparation(backend, prepared, copy_seconds)
                log(f"{backend}: {store.count():,} resources stored ({results.preparation[(backend, size)]})")
                results.measurements += run_point(store, size, profile, load, work_dir, log)
    return results


__all__ = [
    "BASELINE",
    "DEFAULT_PROFILE",
    "GROWTH_SIZE",
    "QUICK_GROWTH_SIZE",
    "QUICK_PROFILE",
    "SCENARIOS",
    "UNCACHED_READ",
    "Measurement",
    "Profile",
    "RestResults",
    "Scenario",
    "full_profile",
    "module_present",
    "read_paths",
    "run_rest",
]
