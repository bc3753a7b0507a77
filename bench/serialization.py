"""FHIR serialization, fhirbridge against fhir.resources, on the same resources in the same run.

Each operation is timed both ways on the same generated resource (see ``bench.data``): both sides are
auto-ranged (which is also their warm-up), then timed alternately, ours then theirs, ``repeat`` times,
so a burst of other work on the machine hits both alike; the medians give how many times faster
fhirbridge is. The official R4 examples of ``bench.bench_xml`` are added when the shared FHIR material
is present. What each side does is what a server needs for that step:

- JSON parse + validate: ``loads`` + ``check_resource`` (our write path) vs ``model_validate_json``;
- JSON write: ``dumps`` of the resource vs ``model_dump_json`` of the built model;
- XML write: ``to_xml`` vs ``model_dump_xml`` (issue 9's yardstick: at least 10x on a 2 KB CarePlan);
- JSON -> XML and XML -> JSON, bytes to bytes (our ``encode_stored`` / ``parse_xml`` + ``dumps``);
- XML parse + validate: ``parse_xml`` + ``check_resource`` vs ``model_validate_xml``;
- domain -> FHIR Bundle (when ``fhirbridge.mappers`` has landed): ``record_to_bundle`` + our writer vs
  the same Bundle built as a fhir.resources model and dumped by it.
"""

from __future__ import annotations

import importlib
import random
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from bench import bench_xml
from bench.bench_xml import Comparison
from bench.data import ChildRecord, transaction_bundle
from fhirbridge.engine.validation import check_resource
from fhirbridge.formats.codec import encode_stored
from fhirbridge.formats.json import dumps, loads
from fhirbridge.formats.xml import parse_xml, to_xml

TARGET_XML_WRITE_SPEEDUP = 10.0
YARDSTICK = "CarePlan (2 KB)"
DOMAIN_MODULE = "fhirbridge.mappers"


@dataclass(frozen=True)
class Subject:
    label: str
    resource: dict[str, Any]


def subjects(quick: bool) -> list[Subject]:
    child = ChildRecord(7)
    chosen = [Subject(YARDSTICK, child.care_plan())]
    if not quick:
        chosen += [
            Subject("Patient", child.patient()),
            Subject("Observation (vital sign)", child.observation(0)),
            Subject("Bundle (one child, 20 entries)", transaction_bundle(child.resources(), random.Random(7))),
        ]
    return chosen


Operation = tuple[str, Callable[[], Any], Callable[[], Any], int]


def operations(subject: Subject) -> list[Operation]:
    """(name, ours, theirs, bytes involved) for one resource."""
    resource = loads(dumps(subject.resource))  # exactly what the server holds after reading the body
    raw = dumps(resource)
    model_class = get_fhir_model_class(resource["resourceType"])
    model = model_class.model_validate_json(raw)
    xml = to_xml(resource)
    their_xml = model.model_dump_xml()
    return [
        (
            "JSON parse + validate",
            lambda: check_resource(loads(raw)),
            lambda: model_class.model_validate_json(raw),
            len(raw),
        ),
        ("JSON write", lambda: dumps(resource), model.model_dump_json, len(raw)),
        ("XML write", lambda: to_xml(resource), model.model_dump_xml, len(xml)),
        (
            "JSON -> XML",
            lambda: encode_stored(raw, "xml"),
            lambda: model_class.model_validate_json(raw).model_dump_xml(),
            len(raw),
        ),
        (
            "XML -> JSON",
            lambda: dumps(parse_xml(xml)),
            lambda: model_class.model_validate_xml(their_xml).model_dump_json(),
            len(xml),
        ),
        (
            "XML parse + validate",
            lambda: check_resource(parse_xml(xml)),
            lambda: model_class.model_validate_xml(their_xml),
            len(xml),
        ),
    ]


@dataclass
class SerializationResults:
    comparisons: list[Comparison]
    failures: list[str]  # an operation one side could not do, with why
    domain_note: str | None  # why domain -> Bundle was not measured, if it was not

    def find(self, example: str, operation: str) -> Comparison | None:
        for row in self.comparisons:
            if (row.example, row.operation) == (example, operation):
                return row
        return None


def paired_per_call(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median seconds per call of each, timed in alternation after an auto-ranged warm-up of both."""
    timers = (timeit.Timer(ours), timeit.Timer(theirs))
    numbers = [timer.autorange()[0] for timer in timers]
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for timer, number, times in zip(timers, numbers, samples, strict=True):
            times.append(timer.timeit(number) / number)
    return statistics.median(samples[0]), statistics.median(samples[1])


def _compare(label: str, operation: Operation, repeat: int, failures: list[str]) -> Comparison | None:
    name, ours, theirs, size = operation
    try:
        theirs()
    except Exception as exc:  # a limitation of the other library is a finding, not a crash
        failures.append(f"{label}, {name}: fhir.resources fails: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    ours_seconds, theirs_seconds = paired_per_call(ours, theirs, repeat)
    return Comparison(label, name, size, ours_seconds, theirs_seconds)


def official_examples(repeat: int, log: Callable[[str], None]) -> list[Comparison]:
    """``bench.bench_xml``'s XML comparison on the official R4 examples, when the shared material is here."""
    examples_dir = bench_xml.DEFAULT_SHARED / "fhir" / "r4-core-examples"
    if not examples_dir.is_dir():
        log(f"  official examples: not found under {examples_dir}, skipped")
        return []
    rows = []
    for name in bench_xml.EXAMPLES:
        log(f"  official example {name}: XML write and read")
        rows += [
            Comparison(f"official example {row.example}", row.operation, row.size, row.ours, row.theirs)
            for row in bench_xml.compare(examples_dir, name, repeat)
        ]
    return rows


def domain_operations() -> tuple[list[Operation], str | None]:
    """domain -> FHIR Bundle, once the mappers exist: the synthetic child read into a record, then written."""
    from bench.rest import module_present

    if not module_present(DOMAIN_MODULE):
        return [], f"not available yet: {DOMAIN_MODULE} has not landed"
    mappers = importlib.import_module(DOMAIN_MODULE)
    record_to_bundle = getattr(mappers, "record_to_bundle", None)
    record_from_resources = getattr(mappers, "record_from_resources", None)
    if record_to_bundle is None or record_from_resources is None:
        return [], f"not available yet: {DOMAIN_MODULE} has no record_to_bundle / record_from_resources"
    record = record_from_resources(ChildRecord(7).resources()).record
    bundle_model = get_fhir_model_class("Bundle")
    bundle = record_to_bundle(record)
    size = len(dumps(bundle))
    return [
        (
            "domain -> Bundle JSON",
            lambda: dumps(record_to_bundle(record)),
            lambda: bundle_model.model_validate(record_to_bundle(record)).model_dump_json(),
            size,
        ),
        (
            "domain -> Bundle XML",
            lambda: to_xml(record_to_bundle(record)),
            lambda: bundle_model.model_validate(record_to_bundle(record)).model_dump_xml(),
            len(to_xml(bundle)),
        ),
    ], None


def warm_up(every: list[tuple[str, Operation]], seconds: float = 0.05) -> None:
    """Run every operation for a moment before timing any: the first timings of a fresh process run
    slow (lazily built validators, the allocator growing), which would otherwise all land on the
    first resource measured."""
    for _, (_, ours, theirs, _) in every:
        for function in (ours, theirs):
            deadline = time.perf_counter() + seconds
            try:
                while time.perf_counter() < deadline:
                    function()
            except Exception:  # reported when the operation is measured
                break


def run_serialization(repeat: int, quick: bool, log: Callable[[str], None]) -> SerializationResults:
    comparisons: list[Comparison] = []
    failures: list[str] = []
    every = [(subject.label, operation) for subject in subjects(quick) for operation in operations(subject)]
    log("  warming up every operation")
    warm_up(every)
    for label, operation in every:
        log(f"  {label}: {operation[0]}")
        row = _compare(label, operation, repeat, failures)
        if row is not None:
            comparisons.append(row)
    domain, domain_note = domain_operations()
    for operation in domain:
        log(f"  child record: {operation[0]}")
        row = _compare("child record (domain)", operation, repeat, failures)
        if row is not None:
            comparisons.append(row)
    if domain_note:
        log(f"  domain -> FHIR Bundle: {domain_note}")
    if not quick:
        comparisons += official_examples(repeat, log)
    return SerializationResults(comparisons, failures, domain_note)


__all__ = ["TARGET_XML_WRITE_SPEEDUP", "YARDSTICK", "SerializationResults", "run_serialization", "subjects"]
