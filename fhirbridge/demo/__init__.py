"""Synthetic, deterministic demo children (no real person), as records and as FHIR transaction Bundles.

- Mateo, an infant with Down syndrome and a heart defect, newly entering early intervention;
- Jordan, a school-age child with cerebral palsy, a gastrostomy tube, an IEP and equipment needs;
- Aisha, a teenager with autism and anxiety preparing for adult care.

Each child is a record in the internal JSON format (``data/<name>.json``), read as any coordinator's
file is (``domain.jsonio``): the demo is data a coordinator could have written, and it is edited as such.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fhirbridge.domain import Record
from fhirbridge.domain.jsonio import record_from_json
from fhirbridge.mappers import record_to_bundle

__all__ = ["DEMO_CHILDREN", "demo_bundles", "demo_records"]

DEMO_CHILDREN = ("mateo", "jordan", "aisha")


def demo_records() -> list[Record]:
    """The demo children's records, each checked against the coordinator rules."""
    data = resources.files(__package__) / "data"
    return [record_from_json((data / f"{name}.json").read_bytes()) for name in DEMO_CHILDREN]


def demo_bundles() -> list[dict[str, Any]]:
    """One FHIR transaction Bundle per demo child, ready to POST to a FHIR server's base."""
    return [record_to_bundle(record) for record in demo_records()]
