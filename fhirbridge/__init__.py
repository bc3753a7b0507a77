"""fhirbridge: one shared plan of care for a child, exchanged in HL7 FHIR R4."""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"

__all__ = ["FHIR_VERSION", "__version__"]
