"""Operations on one child's record: ``$everything``, ``$summary`` and ``Composition/$document``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhirbridge.engine.bundles import new_bundle, page_links
from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.engine.operations.compartment import resources_of
from fhirbridge.engine.operations.labels import choose_language
from fhirbridge.engine.operations.summary import (
    PATIENT_SUMMARY_DOCUMENT,
    DocumentKind,
    document_bundle,
    patient_summary,
)
from fhirbridge.engine.operations.transfer import TRANSFER_SUMMARY_DOCUMENT
from fhirbridge.errors import FhirError
from fhirbridge.formats import json as fhir_json
from fhirbridge.references import reference_holders
from fhirbridge.security.access import Access


class PatientOperations:
    def __init__(self, engine: FhirEngine) -> None:
        self.engine = engine

    def everything(
        self,
        access: Access,
        patient_id: str,
        *,
        base_url: str,
        since: datetime | None = None,
        types: set[str] | None = None,
        count: int,
        offset: int = 0,
    ) -> dict[str, Any]:
        self.engine.read(access, "Patient", patient_id)  # 404 / 410 for a child we do not know or may not see
        members = self.engine.index.compartment(access, patient_id, types=types, since=since)
        page = members[offset : offset + count]
        bundle = new_bundle("searchset")
        bundle["total"] = len(members)
        params = {}
        if since is not None:
            params["_since"] = since.isoformat()
        if types:
            params["_type"] = ",".join(sorted(types))
        bundle["link"] = page_links(
            base_url, f"Patient/{patient_id}/$everything", params, offset=offset, count=count, total=len(members)
        )
        bundle["entry"] = [
            {
                "fullUrl": f"{base_url}/{member.resource_type}/{member.id}",
                "resource": fhir_json.loads_stored(member.content or b"{}"),
                "search": {"mode": "match"},
            }
            for member in page
        ]
        return bundle

    def summary(
        self,
        access: Access,
        patient_id: str,
        *,
        base_url: str,
        accept_language: str | None = None,
        kind: DocumentKind = PATIENT_SUMMARY_DOCUMENT,
    ) -> dict[str, Any]:
        """The child's record as one document, read under the caller's access (``$summary``)."""
        patient = resource_of(self.engine.read(access, "Patient", patient_id))
        members = self.engine.index.compartment(access, patient_id, with_referenced=False)
        compartment = [r for r in resources_of(members) if r["resourceType"] != "Patient"]
        return patient_summary(
            patient,
            compartment,
            base_url,
            resolve=lambda reference: self._readable(access, reference),
            language=choose_language(patient, accept_language),
            kind=kind,
        )

    def transfer_summary(
        self, access: Access, patient_id: str, *, base_url: str, accept_language: str | None = None
    ) -> dict[str, Any]:
        """The transition-of-care document for the youth's adult practice (``$transfer-summary``): the
        same reading as ``$summary``, so the receiving practice gets what the youth's Consent shares."""
        return self.summary(
            access, patient_id, base_url=base_url, accept_language=accept_language, kind=TRANSFER_SUMMARY_DOCUMENT
        )

    def _readable(self, access: Access, reference: str) -> dict[str, Any] | None:
        """A referenced resource through the engine's guarded read; None when the caller may not read it."""
        resource_type, _, resource_id = reference.partition("/")
        try:
            return resource_of(self.engine.read(access, resource_type, resource_id))
        except FhirError:
            return None

    def document(self, access: Access, composition_id: str, *, base_url: str) -> dict[str, Any]:
        """A stored Composition with every resource it references, as a ``document`` Bundle."""
        composition = resource_of(self.engine.read(access, "Composition", composition_id))
        seen: dict[str, dict[str, Any]] = {}
        for holder in reference_holders(composition):
            parts = str(holder["reference"]).split("/")
            key = "/".join(parts[-2:])
            if len(parts) >= 2 and key not in seen:
                # Through the engine's guarded read: only what the caller may read goes into the document.
                try:
                    seen[key] = resource_of(self.engine.read(access, parts[-2], parts[-1]))
                except FhirError:
                    continue
        return document_bundle(composition, list(seen.values()), base_url)


__all__ = ["PatientOperations"]
