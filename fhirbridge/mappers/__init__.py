"""Care-coordination records to FHIR R4 and back, one module per resource family.

``record_to_bundle`` writes a whole record as a transaction Bundle (each resource PUT under its stable
id, so sending it twice updates rather than duplicates); ``record_from_resources`` assembles a record
from a Bundle or the resources a store hands over, with a report of what had no place in the record.
"""

from fhirbridge.mappers._context import ReportEntry
from fhirbridge.mappers.parts import record_to_resources
from fhirbridge.mappers.record import ImportResult, record_from_resources, record_to_bundle, references_outside

__all__ = [
    "ImportResult",
    "ReportEntry",
    "record_from_resources",
    "record_to_bundle",
    "record_to_resources",
    "references_outside",
]
