"""The resource types fhirbridge serves: R4's (4.0.1), as the official definitions list them.

The ``fhir.resources`` models are R4B, which adds types R4 does not have (Citation, SubscriptionTopic...)
and drops some it has (MedicinalProduct...); a server that claims R4 serves R4's 146 types, from the table
``tools/gen_fhir_types.py`` generated from ``hl7.fhir.r4.core`` (fhirbridge/formats).
"""

from __future__ import annotations

import re

from fhirbridge.errors import BadRequest, NotFound
from fhirbridge.formats.structure import resource_types as r4_resource_types

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def resource_types() -> frozenset[str]:
    return r4_resource_types()


def require_type(resource_type: str) -> str:
    if resource_type not in resource_types():
        raise NotFound(f"Unknown resource type '{resource_type}'", code="not-supported")
    return resource_type


def require_id(id: str, *, expression: str = "id") -> str:
    if not ID_PATTERN.match(id):
        raise BadRequest(
            f"'{id}' is not a valid resource id (1-64 letters, digits, '-' and '.')", expression=expression
        )
    return id


__all__ = ["ID_PATTERN", "require_id", "require_type", "resource_types"]
