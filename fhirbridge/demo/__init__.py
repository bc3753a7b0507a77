"""Synthetic, deterministic demo children (no real person), as records and as FHIR transaction Bundles.

- Mateo, an infant with Down syndrome and a heart defect, newly entering early intervention;
- Jordan, a school-age child with cerebral palsy, a gastrostomy tube, an IEP and equipment needs;
- Aisha, a teenager with autism and anxiety preparing for adult care.

Each child is a record in the internal JSON format (``data/<name>.json``), read as any coordinator's
file is (``domain.jsonio``): the demo is data a coordinator could have written, and it is edited as such.
Their coordinator's caseload, a Group of the three (docs/worklists.md), is not part of any child's record:
it is FHIR as written over the API (``data/caseloads.json``, with the coordinator's directory entry).

The files are written as of ``WRITTEN_AS_OF``; every date in them moves by as many days as have passed
since, so the demo stays current: its consents in force, its plans due for review when the files say,
its children the same age. The same day always gives the same demo.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import orjson

from fhirbridge.domain import Record
from fhirbridge.domain.jsonio import record_from_json
from fhirbridge.mappers import record_to_bundle

__all__ = ["DEMO_CHILDREN", "WRITTEN_AS_OF", "demo_bundles", "demo_caseloads", "demo_records"]

DEMO_CHILDREN = ("mateo", "jordan", "aisha")
WRITTEN_AS_OF = date(2025, 6, 15)  # the day the demo files describe as today
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")


def demo_records(today: date | None = None) -> list[Record]:
    """The demo children's records as of ``today`` (the real today by default), each checked against the
    coordinator rules."""
    shift = (today or date.today()) - WRITTEN_AS_OF
    data = resources.files(__package__) / "data"
    records = []
    for name in DEMO_CHILDREN:
        written = orjson.loads((data / f"{name}.json").read_bytes())
        records.append(record_from_json(orjson.dumps(_moved(written, shift))))
    return records


def demo_bundles(today: date | None = None) -> list[dict[str, Any]]:
    """One FHIR transaction Bundle per demo child, ready to POST to a FHIR server's base."""
    return [record_to_bundle(record) for record in demo_records(today)]


def demo_caseloads(today: date | None = None) -> dict[str, Any]:
    """The demo coordinator's caseload (and her directory entry) as a FHIR transaction Bundle, to POST once
    the children are on the server."""
    shift = (today or date.today()) - WRITTEN_AS_OF
    written = orjson.loads((resources.files(__package__) / "data" / "caseloads.json").read_bytes())
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
            for resource in _moved(written, shift)
        ],
    }


def _moved(value: Any, shift: timedelta) -> Any:
    """``value`` with every date and date-time in it ``shift`` later, each written as it was."""
    if isinstance(value, dict):
        return {key: _moved(item, shift) for key, item in value.items()}
    if isinstance(value, list):
        return [_moved(item, shift) for item in value]
    if isinstance(value, str):
        if _DATE.fullmatch(value):
            return (date.fromisoformat(value) + shift).isoformat()
        if _DATE_TIME.fullmatch(value):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00")) + shift
            written = moment.isoformat(timespec="seconds" if "." not in value else "auto")
            return written.replace("+00:00", "Z") if value.endswith("Z") else written
    return value
