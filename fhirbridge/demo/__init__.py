"""Synthetic, deterministic demo children (no real person), as records and as FHIR transaction Bundles.

- Mateo, an infant with Down syndrome and a heart defect, newly entering early intervention;
- Jordan, a school-age child with cerebral palsy, a gastrostomy tube, an IEP and equipment needs;
- Aisha, a teenager with autism and anxiety preparing for adult care.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.demo.infant import infant_entering_early_intervention
from fhirbridge.demo.school_age import school_age_child_with_cerebral_palsy
from fhirbridge.demo.teen import teen_preparing_for_adult_care
from fhirbridge.domain import Record, check_record
from fhirbridge.mappers import record_to_bundle

__all__ = ["demo_bundles", "demo_records"]


def demo_records() -> list[Record]:
    """The demo children's records, each checked against the coordinator rules."""
    return [
        check_record(build())
        for build in (
            infant_entering_early_intervention,
            school_age_child_with_cerebral_palsy,
            teen_preparing_for_adult_care,
        )
    ]


def demo_bundles() -> list[dict[str, Any]]:
    """One FHIR transaction Bundle per demo child, ready to POST to a FHIR server's base."""
    return [record_to_bundle(record) for record in demo_records()]
