"""What a mapper needs to know about the rest of the record: where each id lives as a FHIR resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fhirbridge.domain.record import Record
from fhirbridge.domain.team import TeamMember
from fhirbridge.mappers._fhir import reference, reference_parts, resource_id

__all__ = ["Links", "PartKind", "Reader", "ReportEntry", "is_staff"]


PartKind = Literal[
    "child",
    "family member",
    "organization",
    "team member",
    "care team",
    "needs assessment",
    "need",
    "diagnosis",
    "complexity assessment",
    "goal",
    "referral",
    "action step",
    "care plan",
    "emergency plan",
    "medical summary",
    "review",
    "consent",
    "transition plan",
]
"""What a part of the record is, as references name it (``"a need or diagnosis"``)."""


def is_staff(member: TeamMember) -> bool:
    """A team member who is a person of their own (a Practitioner), not a family member or organization."""
    return bool(member.name) or not (member.family_member_id or member.organization_id)


class Links:
    """Domain id -> the FHIR resource that carries it, for writing references."""

    def __init__(self, record: Record) -> None:
        # The table maps every part with the mapper modules, and they need Links: imported when used.
        from fhirbridge.mappers.parts import PARTS

        self.record = record
        self._targets: dict[str, tuple[str, str, str | None]] = {}
        self._kinds: dict[str, str] = {}
        self.child_id = resource_id(record.child)
        for part in PARTS:
            for entity in part.of(record):
                self._add(part.kind, entity.id, part.fhir_type, resource_id(entity), part.display(entity))
        for team in record.care_teams:
            # Family members and organizations on a team are referred to as themselves.
            for member in team.members:
                target = (
                    None
                    if is_staff(member)
                    else self._targets.get(member.family_member_id or member.organization_id or "")
                )
                if target:
                    self._add("team member", member.id, *target)

    def _add(self, kind: str, domain_id: str, resource_type: str, resource_id: str, display: str | None) -> None:
        self._targets.setdefault(domain_id, (resource_type, resource_id, display))
        self._kinds.setdefault(domain_id, kind)

    def ref(self, domain_id: str | None) -> dict[str, Any] | None:
        """A Reference to what ``domain_id`` names, or None when it names nothing in the record."""
        if domain_id is None or domain_id not in self._targets:
            return None
        resource_type, resource_id, _ = self._targets[domain_id]
        return reference(resource_type, resource_id)

    def refs(self, domain_ids: list[str]) -> list[dict[str, Any]]:
        return [ref for ref in (self.ref(value) for value in domain_ids) if ref is not None]

    def display(self, domain_id: str | None) -> str | None:
        if domain_id is None or domain_id not in self._targets:
            return None
        resource_type, resource_id, display = self._targets[domain_id]
        return display or f"{resource_type}/{resource_id}"

    def displays(self, domain_ids: list[str]) -> list[str]:
        return [shown for shown in (self.display(value) for value in domain_ids) if shown]

    def patient(self) -> dict[str, Any]:
        return reference("Patient", self.child_id)


@dataclass(frozen=True)
class ReportEntry:
    """One thing an import could not place in the record, and what became of it."""

    resource: str
    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"resource": self.resource, "path": self.path, "reason": self.reason}


@dataclass
class Reader:
    """FHIR reference -> domain id, for reading; knows which resource became which part of the record."""

    placed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """``"Type/id"`` -> the parts (kind, domain id) it stands for; a RelatedPerson is a family member and
    may also be a team member."""
    aliases: dict[str, str] = field(default_factory=dict)
    """fullUrl (``urn:uuid:...``) -> ``"Type/id"``"""
    report: list[ReportEntry] = field(default_factory=list)
    current: str = ""
    """The resource being read, for report entries."""

    def place(self, key: str, kind: str, domain_id: str) -> None:
        self.placed.setdefault(key, []).append((kind, domain_id))

    def key(self, ref: Any) -> str | None:
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str) and ref["reference"] in self.aliases:
            return self.aliases[ref["reference"]]
        parts = reference_parts(ref)
        return f"{parts[0]}/{parts[1]}" if parts else None

    def kind_of(self, ref: Any) -> str | None:
        key = self.key(ref)
        parts = self.placed.get(key, []) if key else []
        return parts[0][0] if parts else None

    def resolve(self, ref: Any, path: str, *kinds: str) -> str | None:
        """The domain id a reference names, if it names a part of one of ``kinds``; else reported."""
        if ref is None:
            return None
        key = self.key(ref)
        for kind, domain_id in self.placed.get(key, []) if key else []:
            if not kinds or kind in kinds:
                return domain_id
        shown = (ref.get("reference") or ref.get("display") or "a reference") if isinstance(ref, dict) else "?"
        expected = " or ".join(kinds) if kinds else "part of the record"
        self.note(path, f"refers to {shown}, which is not a {expected} among the resources read; kept as is")
        return None

    def resolve_all(self, refs: Any, path: str, *kinds: str) -> list[str]:
        found = []
        for index, ref in enumerate(refs if isinstance(refs, list) else []):
            value = self.resolve(ref, f"{path}[{index}]", *kinds)
            if value is not None:
                found.append(value)
        return found

    def note(self, path: str, reason: str) -> None:
        self.report.append(ReportEntry(self.current, path, reason))
