"""A child's care-coordination record read from and written to the FHIR store.

The internal format is a view over the FHIR resources, not a second copy: reading assembles the record
from the child's compartment with the mappers, writing maps the record to a transaction Bundle and
runs it through the same transaction path every FHIR client uses. A change an EHR makes over FHIR
therefore shows in the record, and the reverse.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.domain.errors import ValidationError
from fhirbridge.domain.jsonio import record_from_json
from fhirbridge.domain.record import Record
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.operations.compartment import compartment_members, resources_of
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.errors import BadRequest, Issue, NotFound, Unprocessable
from fhirbridge.formats import json as fhir_json
from fhirbridge.mappers import ImportResult, record_from_resources, record_to_bundle
from fhirbridge.security.access import Access

# The parts of a record a coordinator's tool reads and writes on their own.
RECORD_PARTS = tuple(name for name in Record.model_fields if name != "child")


def problems_outcome(error: ValidationError) -> Unprocessable:
    return Unprocessable(
        issues=[
            Issue(str(problem), code="business-rule", expression=(problem.path or "record",))
            for problem in error.problems
        ]
    )


class CoordinationService:
    def __init__(self, engine: FhirEngine, bundles: BundleProcessor) -> None:
        self.engine = engine
        self.bundles = bundles

    def read(self, access: Access, child_id: str) -> ImportResult:
        self.engine.read(access, "Patient", child_id)
        with self.engine.repository.connect() as conn:
            members = compartment_members(conn, child_id, access=access)
        return record_from_resources(resources_of(members))

    def write(self, access: Access, child_id: str, body: bytes, *, base_url: str) -> ImportResult:
        try:
            record = record_from_json(body)
        except ValidationError as error:
            raise problems_outcome(error) from None
        if record.child.id != child_id:
            raise BadRequest(
                f"The record is about child {record.child.id}, but the URL names {child_id}", expression="child.id"
            )
        self.bundles.process(access, record_to_bundle(record), base_url, return_preference="minimal")
        return self.read(access, child_id)

    def read_part(self, access: Access, child_id: str, part: str) -> Any:
        _require_part(part)
        return self.read(access, child_id).record.model_dump(mode="json", exclude_none=True)[part]

    def write_part(self, access: Access, child_id: str, part: str, value: Any, *, base_url: str) -> Any:
        _require_part(part)
        record = self.read(access, child_id).record.model_dump(mode="json", exclude_none=True)
        record[part] = value
        self.write(access, child_id, fhir_json.dumps(record), base_url=base_url)
        return self.read_part(access, child_id, part)


def _require_part(part: str) -> None:
    if part not in RECORD_PARTS:
        raise NotFound(f"A record has no part '{part}'; its parts are {', '.join(RECORD_PARTS)}")


__all__ = ["RECORD_PARTS", "CoordinationService", "problems_outcome"]
