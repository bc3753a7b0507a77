"""Conformance validation of FHIR R4 resources: structure, profiles, bindings and invariants."""

from fhirbridge.validation.validator import Validator, require_valid, validate_resource

__all__ = ["Validator", "require_valid", "validate_resource"]
