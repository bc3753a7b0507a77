"""The FHIR engine: interactions, validation and capabilities, callable without HTTP."""

from fhirbridge.engine.interactions import FhirEngine, InteractionResult

__all__ = ["FhirEngine", "InteractionResult"]
