"""The pediatric care-coordination needs assessment: instruments, validation, $extract, $populate,
screening and complexity stratification."""

from fhirbridge.assessment.validation import validate_response

__all__ = ["validate_response"]
