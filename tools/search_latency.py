"""Measure search latency at scale: load generated resources, time a patient+category Observation search.

Loads ``--resources`` resources (patients, each with Observations in four categories and a few
Conditions) through the repository, so the index is built by the real write path, then runs
``Observation?patient=Patient/X&category=vital-signs`` for random patients and prints p50 and p99.

Usage::

    python tools/search_latency.py                      # SQLite (temp file) and PostgreSQL (temp schema)
    python tools/search_latency.py --backend sqlite --resources 20000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fhirbridge.composition import open_repository
from fhirbridge.search import search
from fhirbridge.storage.sql import SqlRepository

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CATEGORIES = ["vital-signs", "laboratory", "social-history", "survey"]
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
OBSERVATIONS_PER_PATIENT = 20
CONDITIONS_PER_PATIENT = 4
BATCH = 500


def generated(total: int) -> Iterator[dict[str, Any]]:
    per_patient = 1 + OBSERVATIONS_PER_PATIENT + CONDITIONS_PER_PATIENT
    for n in range(total // per_patient):
        patient_id = f"pat{n}"
        yield {
            "resourceType": "Patient",
            "id": patient_id,
            "name": [{"family": f"Family{n % 500}"}],
            "gender": "female" if n % 2 else "male",
            "birthDate": f"{2005 + n % 18}-0{1 + n % 9}-1{n % 10}",
        }
        for k in range(OBSERVATIONS_PER_PATIENT):
            category = CATEGORIES[k % len(CATEGORIES)]
            yield {
                "resourceType": "Observation",
                "id": f"obs{n}-{k}",
                "status": "final",
                "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": f"{8000 + k}-{k % 10}"}]},
                "subject": {"reference": f"Patient/{patient_id}"},
                "effectiveDateTime": f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}T10:00:00Z",
                "valueQuantity": {
                    "value": 50 + k,
                    "unit": "kg",
                    "system": "http://unitsofmeasure.org",
                    "code": "kg",
                },
            }
        for k in range(CONDITIONS_PER_PATIENT):
            yield {
                "resourceType": "Condition",
                "id": f"cond{n}-{k}",
                "subject": {"reference": f"Patient/{patient_id}"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": str(44054006 + k)}]},
                "onsetDateTime": f"20{10 + k}-03-01",
            }


def load(repo: SqlRepository, total: int) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    batch: list[dict[str, Any]] = []
    for resource in generated(total):
        batch.append(resource)
        if len(batch) == BATCH:
            count += _write(repo, batch)
            batch = []
    count += _write(repo, batch)
    return count, time.perf_counter() - started


def _write(repo: SqlRepository, batch: list[dict[str, Any]]) -> int:
    with repo.write() as tx:
        for resource in batch:
            tx.put(resource["resourceType"], resource["id"], resource, method="PUT")
    return len(batch)


def measure(repo: SqlRepository, patients: int, queries: int) -> list[float]:
    rng = random.Random(7)
    timings: list[float] = []
    with repo.connect() as conn:
        for _ in range(queries):
            params = [("patient", f"Patient/pat{rng.randrange(patients)}"), ("category", "vital-signs")]
            started = time.perf_counter()
            result = search(conn, "Observation", params, strict=True)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(result.matches) == OBSERVATIONS_PER_PATIENT // len(CATEGORIES)
    return timings


@contextmanager
def backend(name: str) -> Iterator[SqlRepository]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            repo = open_repository(f"sqlite:///{Path(folder) / 'latency.sqlite3'}")
            yield repo
            repo.dispose()
        return
    schema = f"fhirbridge_latency_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        repo = open_repository(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
        yield repo
        with repo.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
        repo.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    patients = args.resources // (1 + OBSERVATIONS_PER_PATIENT + CONDITIONS_PER_PATIENT)
    for name in names:
        with backend(name) as repo:
            count, seconds = load(repo, args.resources)
            if name == "postgresql":
                with repo.connect() as conn:
                    conn.execute(sa.text("ANALYZE"))
                    conn.commit()
            measure(repo, patients, 20)  # warm caches and compiled statements
            timings = sorted(measure(repo, patients, args.queries))
            p50 = statistics.median(timings)
            p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
            each = seconds / count * 1000
            print(f"{name}: {count} resources loaded in {seconds:.0f} s ({each:.2f} ms each)")
            summary = f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            print(f"{name}: patient+category search, {args.queries} queries: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
