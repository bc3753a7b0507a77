"""Access control for fhirbridge: tokens, SMART scopes, patient compartments, consent, audit, Provenance."""

from fhirbridge.classification import sensitivity_labels
from fhirbridge.compartment import (
    CompartmentConstraint,
    compartment_patients,
    compartment_search_constraint,
    in_compartment,
)
from fhirbridge.security.access import SYSTEM_ACCESS, Access
from fhirbridge.security.consent import ConsentGrant, consent_grant
from fhirbridge.security.principal import Principal
from fhirbridge.security.scopes import Scope, parse_scopes
from fhirbridge.security.tokens import TokenVerifier

__all__ = [
    "SYSTEM_ACCESS",
    "Access",
    "CompartmentConstraint",
    "ConsentGrant",
    "Principal",
    "Scope",
    "TokenVerifier",
    "compartment_patients",
    "compartment_search_constraint",
    "consent_grant",
    "in_compartment",
    "parse_scopes",
    "sensitivity_labels",
]
