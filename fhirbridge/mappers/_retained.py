"""Retaining what the record does not reproduce of the resources it was read from, and reporting it:
each element kept is written back unchanged, and the import report says why.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.domain.common import Entity
from fhirbridge.domain.record import Record
from fhirbridge.mappers._context import Reader, ReportEntry
from fhirbridge.mappers._fhir import Resource
from fhirbridge.mappers._incoming import resource_key
from fhirbridge.mappers.parts import record_to_resources
from fhirbridge.mappers.retention import ABSENT, differences, retain

__all__ = ["retain_unreproduced"]


def retain_unreproduced(record: Record, read_from: dict[str, list[Resource]], reader: Reader) -> None:
    """Keep on each part of ``record`` what the resources it was read from (``read_from``: domain id ->
    resources) hold that writing it does not reproduce, and report each such element on ``reader``."""
    written: dict[str, Resource] = {resource_key(r): r for r in _plain_resources(record)}
    noted = {(entry.resource, entry.path) for entry in reader.report}
    reported: set[str] = set()
    for entity in _entities(record):
        sources = read_from.get(entity.id, [])
        kept: dict[str, Any] = {}
        for source in sources:
            key = resource_key(source)
            as_read = written.get(key, {})
            elements = retain(source, as_read)
            if elements:
                kept[key] = elements
            if key in reported:
                continue  # the same person on two care teams: one Practitioner, reported once
            reported.add(key)
            for name, entry in elements.items():
                if "original" not in entry:
                    continue
                for path, partly in differences(entry["original"], entry.get("as_read", ABSENT), name):
                    if not _covered(key, path, noted):
                        reader.report.append(ReportEntry(key, path, _reason(path, partly)))
        if kept:
            entity.fhir_retained = kept


def _covered(resource: str, path: str, noted: set[tuple[str, str]]) -> bool:
    """Whether a report entry already speaks of this element (an unresolved reference inside it)."""
    return any(
        where == resource and (path == seen or path.startswith((f"{seen}.", f"{seen}[")) or seen.startswith(path))
        for where, seen in noted
        if seen
    )


def _reason(path: str, partly: bool) -> str:
    if path == "text" or path.startswith("text."):
        return "the partner's narrative is kept; fhirbridge writes its own once the record changes"
    if not partly:
        return "no place in the record; kept and written back unchanged"
    return "only partly represented in the record; the partner's value is kept and written back unchanged"


def _plain_resources(record: Record) -> list[Resource]:
    bare = record.model_copy(deep=True)
    for entity in _entities(bare):
        entity.fhir_retained = None
    bare.fhir_other_resources = []
    return record_to_resources(bare)


def _entities(record: Record) -> list[Entity]:
    found: list[Entity] = [record.child]
    for items in (
        record.family,
        record.organizations,
        record.care_teams,
        record.assessments,
        record.needs,
        record.complexity,
        record.diagnoses,
        record.care_plans,
        record.goals,
        record.action_steps,
        record.emergency_plans,
        record.referrals,
        record.reviews,
        record.consents,
        record.transition_plans,
    ):
        found.extend(items)
    for care_team in record.care_teams:
        found.extend(care_team.members)
    if record.medical_summary:
        found.append(record.medical_summary)
    return found
