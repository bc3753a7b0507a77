"""The Patient compartment (FHIR R4 CompartmentDefinition ``patient``), evaluated on resource JSON.

A resource is in a child's compartment when one of its compartment parameters references that
child's Patient. The parameters and the elements behind them come from the R4 core package
(``tools/gen_patient_compartment.py`` writes ``patient_compartment.json``). fhirbridge adds the
resource types that carry a child's data in care coordination but that R4 left out of the
compartment: ``Task`` (action steps and referral tasks, linked through ``Task.for``) and ``Device``
(``Device.patient``). Resource types in neither list hold no child's data only when they are listed in
``SHARED_REFERENCE_TYPES``; every other type is treated as outside every compartment and is refused to
a token confined to one child.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources as package_files
from typing import Any

Resource = dict[str, Any]

# Types R4 leaves out of the Patient compartment although they carry one child's data: one definition,
# shared with the search engine so that what a child's token may read and what its searches find agree.
# (search parameter -> element paths)
EXTENDED_COMPARTMENT: dict[str, dict[str, tuple[str, ...]]] = {
    "Task": {"patient": ("for",)},
    "Device": {"patient": ("patient",)},
}

# Directory and definition resources: shared by every child, readable under patient-level scopes.
SHARED_REFERENCE_TYPES = frozenset(
    {
        "ActivityDefinition",
        "CodeSystem",
        "Endpoint",
        "HealthcareService",
        "Library",
        "Location",
        "Medication",
        "Organization",
        "PlanDefinition",
        "Practitioner",
        "PractitionerRole",
        "Questionnaire",
        "SearchParameter",
        "StructureDefinition",
        "Substance",
        "ValueSet",
    }
)


@lru_cache(maxsize=1)
def compartment_params() -> dict[str, dict[str, tuple[str, ...]]]:
    """``{resource type: {search parameter: (element path, ...)}}`` for the Patient compartment."""
    text = package_files.files("fhirbridge").joinpath("patient_compartment.json").read_text()
    table: dict[str, dict[str, Any]] = {**json.loads(text), **EXTENDED_COMPARTMENT}
    return {rtype: {param: tuple(paths) for param, paths in params.items()} for rtype, params in table.items()}


def in_patient_compartment_types(resource_type: str) -> bool:
    """Whether resources of this type belong to patient compartments (Patient itself included)."""
    return resource_type in compartment_params()


def _values(node: Any, path: list[str]) -> Iterator[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _values(item, path)
        return
    if not path:
        yield node
        return
    if isinstance(node, dict) and path[0] in node:
        yield from _values(node[path[0]], path[1:])


def patient_id_of(reference: Any) -> str | None:
    """The Patient id a Reference names (``Patient/7``, ``Patient/7/_history/2``), else None.

    Only relative references count: an absolute URL may name a Patient on another server, and a
    contained or logical reference names no stored child.
    """
    if not isinstance(reference, dict):
        return None
    value = reference.get("reference")
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    if len(parts) in (2, 4) and parts[0] == "Patient" and parts[1] and (len(parts) == 2 or parts[2] == "_history"):
        return parts[1]
    return None


# fhirbridge records in each Provenance it writes the children its target belongs to, so that the
# Provenance is shared as their record is (R4's compartment reaches a Provenance only through a target
# that is the Patient itself).
PROVENANCE_PATIENT = "http://fhirbridge.org/fhir/StructureDefinition/provenance-patient"


def compartment_patients(resource: Resource) -> frozenset[str]:
    """Ids of every Patient whose compartment holds this resource."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return frozenset()
    found: set[str] = set()
    if resource_type == "Patient" and isinstance(resource.get("id"), str):
        found.add(resource["id"])
    if resource_type == "Provenance":
        for extension in resource.get("extension") or []:
            if isinstance(extension, dict) and extension.get("url") == PROVENANCE_PATIENT:
                patient = patient_id_of(extension.get("valueReference"))
                if patient is not None:
                    found.add(patient)
    for paths in compartment_params().get(resource_type, {}).values():
        for path in paths:
            for reference in _values(resource, path.split(".")):
                patient = patient_id_of(reference)
                if patient is not None:
                    found.add(patient)
    return frozenset(found)


def in_compartment(resource: Resource, patient_id: str) -> bool:
    """Whether ``resource`` is in the compartment of Patient ``patient_id``."""
    return patient_id in compartment_patients(resource)


@dataclass(frozen=True)
class CompartmentConstraint:
    """What a search must AND into its query so that it only returns one child's compartment.

    A resource matches when ANY of ``params`` references ``Patient/<patient_id>`` (for Patient
    itself: when ``_id`` is the child's id or ``link`` references the child).
    """

    resource_type: str
    patient_id: str
    params: tuple[str, ...]

    @property
    def reference(self) -> str:
        return f"Patient/{self.patient_id}"

    def alternatives(self) -> list[tuple[str, str]]:
        """``(search parameter, value)`` pairs, any one of which puts a resource in the compartment."""
        pairs = [(param, self.reference) for param in self.params]
        if self.resource_type == "Patient":
            pairs.insert(0, ("_id", self.patient_id))
        return pairs


def compartment_search_constraint(resource_type: str, patient_id: str) -> CompartmentConstraint | None:
    """The constraint confining a search of ``resource_type`` to one child, or None for shared types.

    Raises ``LookupError`` for a type that is neither in the compartment nor shared reference data:
    a search confined to one child must not return it at all.
    """
    params = compartment_params().get(resource_type)
    if params is not None:
        return CompartmentConstraint(resource_type, patient_id, tuple(sorted(params)))
    if resource_type in SHARED_REFERENCE_TYPES:
        return None
    raise LookupError(f"{resource_type} is outside the Patient compartment")


__all__ = [
    "EXTENDED_COMPARTMENT",
    "PROVENANCE_PATIENT",
    "SHARED_REFERENCE_TYPES",
    "CompartmentConstraint",
    "compartment_params",
    "compartment_patients",
    "compartment_search_constraint",
    "in_compartment",
    "in_patient_compartment_types",
    "patient_id_of",
]
