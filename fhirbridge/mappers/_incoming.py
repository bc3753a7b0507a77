"""The resources an import is given: gathered from Bundles and lists (an id given to those without one, a
Bundle's ``urn:uuid`` references made ``Type/id``), and told apart by the patient they are about.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from fhirbridge.mappers._context import Reader
from fhirbridge.mappers._fhir import Resource, reference_parts
from fhirbridge.references import replace_references

__all__ = ["about_another_patient", "choose_child", "collect", "resource_key", "subject_key"]


def resource_key(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def collect(resources: Resource | Iterable[Resource], reader: Reader) -> list[Resource]:
    items = [resources] if isinstance(resources, dict) else list(resources)
    collected: list[Resource] = []
    for item in items:
        if item.get("resourceType") == "Bundle":
            for entry in item.get("entry", []) or []:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    resource = copy.deepcopy(entry["resource"])
                    full_url = entry.get("fullUrl")
                    if "id" not in resource:
                        resource["id"] = _id_for(resource, full_url)
                    if isinstance(full_url, str):
                        reader.aliases[full_url] = resource_key(resource)
                    collected.append(resource)
        elif isinstance(item.get("resourceType"), str):
            resource = copy.deepcopy(item)
            resource.setdefault("id", _id_for(resource, None))
            collected.append(resource)
    if reader.aliases:
        # A Bundle's urn:uuid references stand for the resources it carries; once they are resources of a
        # record they are referred to as Type/id, as a server does when it processes the Bundle.
        for resource in collected:
            replace_references(resource, reader.aliases)
    return collected


def _id_for(resource: Resource, full_url: Any) -> str:
    if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
        return full_url.removeprefix("urn:uuid:")
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True, default=str).encode()).hexdigest()
    return f"{resource['resourceType'].lower()}-{digest[:16]}"


_SUBJECT = ("subject", "patient", "for")


def subject_key(resource: Resource) -> str | None:
    for name in _SUBJECT:
        parts = reference_parts(resource.get(name))
        if parts and parts[0] == "Patient":
            return f"Patient/{parts[1]}"
    return None


def choose_child(resources: list[Resource]) -> str | None:
    patients = [resource_key(resource) for resource in resources if resource["resourceType"] == "Patient"]
    named = Counter(key for key in (subject_key(resource) for resource in resources) if key)
    if patients:
        return max(patients, key=lambda key: (named.get(key, 0), -patients.index(key)))
    return named.most_common(1)[0][0] if named else None


def about_another_patient(resource: Resource, child_key: str | None) -> bool:
    if resource["resourceType"] == "Patient":
        return resource_key(resource) != child_key
    subject = subject_key(resource)
    return subject is not None and child_key is not None and subject != child_key
