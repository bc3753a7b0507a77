"""The child's record as the sections of a summary document read it, and what a section is.

``ChildRecord`` holds the child's compartment and resolves what it references under the caller's access;
the helpers below it read resources (a concept's text, a person's name and phone, a day) and phrase what
they say. A ``Section`` builds a ``Built`` from the record: its entries and the ``Block``s of its narrative.

Kept apart from the sections (``summary_sections``, ``transfer``) and the document they make
(``summary``), so that every kind of document reads the record the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.engine.operations.labels import Labels
from fhirbridge.storage.contract import Resource

LOINC = "http://loinc.org"
PATIENT_SUMMARY = "60591-5"

Resolver = Callable[[str], Resource | None]


@dataclass
class Block:
    """Part of a section's narrative: an optional label and the lines under it."""

    label: str | None
    lines: list[str]


@dataclass
class Built:
    entries: list[Resource] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def add(self, label: str | None, lines: Iterable[str]) -> None:
        lines = [line for line in lines if line]
        if lines:
            self.blocks.append(Block(label, lines))


@dataclass(frozen=True)
class Section:
    key: str  # the label key of its title, and its id in the printable page
    system: str
    code: str
    display: str
    build: Callable[[ChildRecord], Built]
    optional: bool = False  # left out when nothing is known, rather than said to be empty


class ChildRecord:
    """What the summary reads: the child's compartment, and what it references, under the caller's access."""

    def __init__(self, patient: Resource, compartment: list[Resource], resolve: Resolver | None, labels: Labels):
        self.patient = patient
        self.compartment = compartment
        self.labels = labels
        self._resolve = resolve
        self._known = {reference_to(r): r for r in compartment}
        self._known[reference_to(patient)] = patient
        self.referenced: dict[str, Resource] = {}

    def of_type(self, *names: str) -> list[Resource]:
        return [r for r in self.compartment if r["resourceType"] in names]

    def resolve(self, reference: Any) -> Resource | None:
        """The resource a Reference points at, if the caller may read it (never around its access)."""
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(target, str) or "/" not in target:
            return None
        key = "/".join(target.split("/")[-2:])
        found = self._known.get(key)
        if found is None and self._resolve is not None:
            found = self._resolve(key)
            if found is not None:
                self._known[key] = found
        if found is not None:
            self.referenced[key] = found
        return found

    def name_of(self, reference: Any) -> str | None:
        found = self.resolve(reference)
        if found is not None:
            return party_name(found)
        display = reference.get("display") if isinstance(reference, dict) else None
        return display if isinstance(display, str) else None

    def medical_summary(self) -> Resource | None:
        """The care team's latest written medical summary, read for what has no resources of its own."""
        written = [
            r
            for r in self.of_type("Composition")
            if code_of(r.get("type"), LOINC) == PATIENT_SUMMARY and r.get("status") != "entered-in-error"
        ]
        return max(written, key=lambda r: str(r.get("date") or ""), default=None)

    def summary_items(self, loinc: str) -> tuple[Resource | None, list[str]]:
        summary = self.medical_summary()
        if summary is None:
            return None, []
        items = [
            entry["display"]
            for section in summary.get("section") or []
            if code_of(section.get("code"), LOINC) == loinc
            for entry in section.get("entry") or []
            if isinstance(entry, dict) and isinstance(entry.get("display"), str)
        ]
        return (summary if items else None), items


# --- reading resources ---------------------------------------------------------------------------


def reference_to(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource.get('id')}"


def code_of(concept: Any, system: str | None = None) -> str | None:
    for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
        if isinstance(coding, dict) and (system is None or coding.get("system") == system):
            code = coding.get("code")
            return code if isinstance(code, str) else None
    return None


def codes_of(concepts: Any) -> set[str]:
    return {
        str(coding.get("code"))
        for concept in (concepts if isinstance(concepts, list) else [concepts])
        if isinstance(concept, dict)
        for coding in concept.get("coding") or []
        if isinstance(coding, dict)
    }


def text_of(concept: Any) -> str | None:
    """What a CodeableConcept says to a person: its text, else a coding's display."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            return str(coding["display"])
    return None


def human_name(resource: Resource) -> str | None:
    for name in resource.get("name") or []:
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        if any(parts):
            return " ".join(part for part in parts if part)
    return None


def party_name(resource: Resource) -> str:
    if resource["resourceType"] == "Organization" and isinstance(resource.get("name"), str):
        return str(resource["name"])
    return human_name(resource) or reference_to(resource)


def phone_of(resource: Resource | None) -> str | None:
    for telecom in (resource or {}).get("telecom") or []:
        if isinstance(telecom, dict) and telecom.get("system") == "phone" and telecom.get("value"):
            return str(telecom["value"])
    return None


def day_of(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and value else None


def joined(*parts: str | None, sep: str = ", ") -> str:
    return sep.join(part for part in parts if part)


def bracketed(text: str | None) -> str:
    return f" ({text})" if text else ""


__all__ = [
    "LOINC",
    "PATIENT_SUMMARY",
    "Block",
    "Built",
    "ChildRecord",
    "Resolver",
    "Section",
    "bracketed",
    "code_of",
    "codes_of",
    "day_of",
    "human_name",
    "joined",
    "party_name",
    "phone_of",
    "reference_to",
    "text_of",
]
