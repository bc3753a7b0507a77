"""FHIR serialization, fhirbridge against fhir.resources, on the same resources in the same run.

Each operation is timed both ways on the same generated resource (see ``bench.data``), with
``bench.bench_xml.per_call`` (auto-ranged calls, median of ``repeat`` runs), and reported as how many
times faster fhirbridge is. What each side does is what a server needs for that step:

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from bench.bench_xml import Comparison, per_call
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
        ("JSON parse + validate", lambda: check_resource(loads(raw)), lambda: model_class.model_validate_json(raw),
         len(raw)),
        ("JSON write", lambda: dumps(resource), model.model_dump_json, len(raw)),
        ("XML write", lambda: to_xml(resource), model.model_dump_xml, len(xml)),
        ("JSON -> XML", lambda: encode_stored(raw, "xml"),
         lambda: model_class.model_validate_json(raw).model_dump_xml(), len(raw)),
        ("XML -> JSON", lambda: dumps(parse_xml(xml)),
         lambda: model_class.model_validate_xml(their_xml).model_dump_json(), len(xml)),
        ("XML parse + validate", lambda: check_resource(parse_xml(xml)),
         lambda: model_class.model_validate_xml(their_xml), len(xml)),
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


def _compare(label: str, operation: Operation, repeat: int, failures: list[str]) -> Comparison | None:
    name, ours, theirs, size = operation
    try:
        theirs()
    except Exception as exc:  # a limitation of the other library is a finding, not a crash
        failures.append(f"{label}, {name}: fhir.resources fails: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    return Comparison(label, name, size, per_call(ours, repeat), per_call(theirs, repeat))


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
        ("domain -> Bundle JSON", lambda: dumps(record_to_bundle(record)),
         lambda: bundle_model.model_validate(record_to_bundle(record)).model_dump_json(), size),
        ("domain -> Bundle XML", lambda: to_xml(record_to_bundle(record)),
         lambda: bundle_model.model_validate(record_to_bundle(record)).model_dump_xml(), len(to_xml(bundle))),
    ], None


def run_serialization(repeat: int, quick: bool, log: Callable[[str], None]) -> SerializationResults:
    comparisons: list[Comparison] = []
    failures: list[str] = []
    for subject in subjects(quick):
        for operation in operations(subject):
            log(f"  {subject.label}: {operation[0]}")
            row = _compare(subject.label, operation, repeat, failures)
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
    return SerializationResults(comparisons, failures, domain_note)


__all__ = ["TARGET_XML_WRITE_SPEEDUP", "YARDSTICK", "SerializationResults", "run_serialization", "subjects"]
