"""A child's compartment as the operations use it: the stored versions the search store reads
(``FhirEngine.index.compartment``, engine/stores.py) turned into resources."""

from __future__ import annotations

from fhirbridge.formats import json as fhir_json

# Read on a connection of its own by engine/operations/worklist.py, until it reads through FhirEngine.index.
from fhirbridge.search.records import compartment_members
from fhirbridge.storage.contract import Resource, StoredVersion


def resources_of(versions: list[StoredVersion]) -> list[Resource]:
    return [fhir_json.loads_stored(v.content) for v in versions if v.content is not None]


__all__ = ["compartment_members", "resources_of"]
