"""Prometheus metrics: requests by interaction, resource type and status, their latency, and the state of
the database pools, the audit queue and the subscription notification queue.

Labels never carry an id, a query or anything a caller wrote beyond the method: a path is reduced to its
FHIR interaction and resource type (``read``/``Patient``), and a type this server does not know, or a
path outside the FHIR API, to a fixed word. So the number of series stays bounded whatever clients send,
and the metrics say nothing about any child. Every series carries ``worker`` (Settings.worker_id or the
process id), since each server process keeps its own counts.

Each application has a registry of its own (a test process starts several). Under ``fhirbridge serve
--workers N`` with metrics on, the workers share a directory (prometheus-client's multiprocess mode,
``PROMETHEUS_MULTIPROC_DIR``, made by ``serve`` before they start): each writes its counts to its own files
there, and whichever worker answers a scrape (the one that holds the metrics port, or any on the API port)
reads every worker's.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from fhirbridge import __version__
from fhirbridge.security.audit import AuditTrail, interaction_of
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.subscriptions.schema import PENDING, notifications

log = logging.getLogger("fhirbridge")

# Plain reads take well under a millisecond; searches and transactions up to seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Paths outside the FHIR API, by their first segment: their interaction label (and no resource type).
OTHER_PATHS = {
    "healthz": "health",
    "readyz": "health",
    "metrics": "metrics",
    "coordination": "coordination",
    ".well-known": "discovery",
    "docs": "docs",
    "redoc": "docs",
    "openapi.json": "docs",
}
UNKNOWN = "other"
INSTANCE_INTERACTIONS = {"GET": "read", "HEAD": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class RequestMetrics:
    """What the observability layer counts for each request (``observe``, on every request: cheap)."""

    def __init__(self, registry: CollectorRegistry | None, worker: str, resource_types: frozenset[str]) -> None:
        """``registry`` None: multiprocess mode, where the counts go to this process's files only."""
        self.worker = worker
        self.types = resource_types
        labels = ["worker", "interaction", "resource_type"]
        self.requests = Counter(
            "fhirbridge_http_requests", "HTTP requests answered", [*labels, "status"], registry=registry
        )
        self.duration = Histogram(
            "fhirbridge_http_request_duration_seconds",
            "Time from receiving a request to the end of its response",
            labels,
            buckets=BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "fhirbridge_http_requests_in_progress",
            "Requests being served",
            ["worker"],
            registry=registry,
            multiprocess_mode="livesum",  # the live workers' (a worker's own series, by its label)
        ).labels(worker)
        # (interaction, type, status) -> the two series it goes to: found with one dict lookup per request
        # instead of prometheus-client's labels() (which checks and joins its arguments each time).
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        interaction, resource_type = self.classify(method, path)
        key = (interaction, resource_type, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(self.worker, interaction, resource_type, str(status)),
                self.duration.labels(self.worker, interaction, resource_type),
            )
        series[0].inc()
        series[1].observe(seconds)

    def classify(self, method: str, path: str) -> tuple[str, str]:
        """(interaction, resource type) of a request, from fixed vocabularies only."""
        parts = path.split("/", 4)  # "", type, id, what follows
        if len(parts) == 3 and parts[1] in self.types and parts[2][:1] not in ("", "_", "$"):
            # [type]/[id], most requests: named here as interaction_of names them, in a third of its time.
            return INSTANCE_INTERACTIONS.get(method, "operation"), parts[1]
        other = OTHER_PATHS.get(parts[1] if len(parts) > 1 else "")
        if other is not None:
            return other, ""
        interaction, reference = interaction_of(method, path)  # as the audit trail names it
        if reference is None:  # capabilities, transaction or batch, system history, [type]/$operation
            named = interaction == "operation" and len(parts) > 2 and parts[1] in self.types
            return interaction, parts[1] if named else ""
        resource_type = reference.split("/", 1)[0]
        if resource_type not in self.types:
            return UNKNOWN, ""
        if interaction == "read" and len(parts) > 3 and parts[3]:  # [type]/[id]/[type]: a compartment search
            return ("search-compartment", parts[3]) if parts[3] in self.types else (UNKNOWN, "")
        return interaction, resource_type


class ServerState(Collector):
    """Read when scraped: pool use, the audit queue, the subscription notification queue."""

    def __init__(self, worker: str, repository: SqlRepository, audit: AuditTrail | None) -> None:
        self.worker = worker
        self.repository = repository
        self.audit = audit

    def collect(self) -> Iterator[Metric]:
        labels = ["worker", "pool"]
        size = GaugeMetricFamily("fhirbridge_db_pool_size", "Connections the pool keeps", labels=labels)
        out = GaugeMetricFamily("fhirbridge_db_pool_checked_out", "Pool connections in use", labels=labels)
        overflow = GaugeMetricFamily(
            "fhirbridge_db_pool_overflow",
            "Connections opened beyond the pool size (negative: not all opened)",
            labels=labels,
        )
        for name, pool in self._pools():
            size.add_metric([self.worker, name], pool.size())
            out.add_metric([self.worker, name], pool.checkedout())
            overflow.add_metric([self.worker, name], pool.overflow())
        yield from (size, out, overflow)
        depth = _audit_queue_depth(self.audit)
        if depth is not None:
            audit = GaugeMetricFamily(
                "fhirbridge_audit_queue_depth", "Accesses journaled, not yet in the audit log", labels=["worker"]
            )
            audit.add_metric([self.worker], depth)
            yield audit
        pending = self._pending_notifications()
        if pending is not None:
            queue = GaugeMetricFamily(
                "fhirbridge_subscription_notifications_pending",
                "Notifications waiting to be delivered (the whole database's, whichever worker delivers them)",
                labels=["worker"],
            )
            queue.add_metric([self.worker], pending)
            yield queue

    def _pools(self) -> Iterator[tuple[str, Any]]:
        engines = [("store", self.repository.engine)]
        if self.audit is not None:
            engines.append(("audit", self.audit.log.engine))
        for name, engine in engines:
            if hasattr(engine.pool, "checkedout"):  # a QueuePool (an in-memory SQLite store has none)
                yield name, engine.pool

    def _pending_notifications(self) -> int | None:
        try:
            with self.repository.connect() as conn:
                query = sa.select(sa.func.count()).select_from(notifications).where(notifications.c.state == PENDING)
                return int(conn.execute(query).scalar_one())
        except Exception:
            log.warning("metrics: the subscription queue could not be counted", exc_info=True)
            return None


def _audit_queue_depth(audit: AuditTrail | None) -> int | None:
    return audit.pending if audit is not None else None


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    """The directory the workers of one ``serve`` share their counts in (multiprocess mode), if any."""
    return os.environ.get(MULTIPROC_ENV) or None


def build_registry(
    worker: str, repository: SqlRepository, audit: AuditTrail | None, resource_types: frozenset[str]
) -> tuple[CollectorRegistry, RequestMetrics]:
    registry = CollectorRegistry()
    shared = multiprocess_dir()
    # Shared: this process's counts go to its files, and the registry served reads every worker's files
    # (registering them here as well would count this process twice).
    own = None if shared else registry
    metrics = RequestMetrics(own, worker, resource_types)
    registry.register(ServerState(worker, repository, audit))
    if shared:
        multiprocess.MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    else:
        # CPU, memory, open files of this process (in multiprocess mode they would be only the scraped one's).
        ProcessCollector(registry=registry)
    info = Gauge(
        "fhirbridge_info", "The running fhirbridge", ["worker", "version"], registry=own, multiprocess_mode="liveall"
    )
    info.labels(worker, __version__).set(1)
    return registry, metrics


def forget_dead_workers(directory: str) -> None:
    """Drop the live gauges (requests in progress, info) of workers that are gone: a worker ended
    gracefully drops its own (``mark_process_dead`` at shutdown); one killed outright is found here by the
    next worker that starts. Counters of the dead are kept: a total never goes down."""
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        matched = _LIVE_FILE.search(os.path.basename(path))
        if matched is None:
            continue
        pid = int(matched.group(1))
        if pid != os.getpid() and not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["BUCKETS", "MULTIPROC_ENV", "RequestMetrics", "ServerState", "build_registry", "forget_dead_workers"]
