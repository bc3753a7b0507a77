"""The family's consent to share information with an organization (Consent, category IDSCL)."""

from __future__ import annotations

from typing import Any, Literal

from fhirbridge.domain.consent import SHARED_INFORMATION, ConsentToShare
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    Resource,
    clean,
    codeable,
    narrative,
    parse_date,
    pick,
    resource_id,
    system_url,
)

__all__ = ["consent_from_fhir", "consent_to_fhir"]

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SHARED = system_url("CodeSystem/shared-information")
ConsentStatus = Literal["draft", "proposed", "active", "rejected", "inactive"]


def consent_to_fhir(consent: ConsentToShare, links: Links) -> Resource:
    recipient = links.ref(consent.recipient_id)
    return clean(
        {
            "resourceType": "Consent",
            "id": resource_id(consent),
            "text": narrative(
                f"Consent to share with {links.display(consent.recipient_id) or 'an organization'}",
                [
                    ("Status", consent.status),
                    ("Given by", links.display(consent.granted_by_id)),
                    ("What", consent.information),
                    ("Signed", consent.signed_on),
                    ("From", consent.valid_from),
                    ("Until", consent.valid_until),
                ],
            ),
            "status": consent.status,
            "scope": codeable(CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
            "category": [codeable(ACT_CODE, "IDSCL", "information disclosure")],
            "patient": links.patient(),
            "dateTime": consent.signed_on.isoformat() if consent.signed_on else None,
            "performer": [links.ref(consent.granted_by_id)],
            "policyRule": codeable(ACT_CODE, "OPTIN", "opt-in"),
            "provision": {
                "type": "permit",
                "period": {
                    "start": consent.valid_from.isoformat() if consent.valid_from else None,
                    "end": consent.valid_until.isoformat() if consent.valid_until else None,
                },
                "actor": [{"role": codeable(PARTICIPATION, "IRCP", "information recipient"), "reference": recipient}]
                if recipient
                else [],
                "class": [{"system": SHARED, "code": what} for what in consent.information],
            },
        }
    )


def consent_from_fhir(resource: Resource, reader: Reader) -> ConsentToShare:
    provision: dict[str, Any] = resource["provision"] if isinstance(resource.get("provision"), dict) else {}
    period = provision.get("period") if isinstance(provision.get("period"), dict) else {}
    actors = [actor for actor in provision.get("actor", []) or [] if isinstance(actor, dict)]
    performers = [ref for ref in resource.get("performer", []) or []]
    status = resource.get("status")
    return ConsentToShare(
        id=resource["id"],
        status=pick(status, ConsentStatus, "inactive"),
        granted_by_id=reader.resolve(performers[0], "performer[0]", "family member", "child") if performers else None,
        recipient_id=reader.resolve(actors[0].get("reference"), "provision.actor[0].reference", "organization")
        if actors
        else None,
        information=[
            entry["code"]
            for entry in provision.get("class", []) or []
            if isinstance(entry, dict) and entry.get("system") == SHARED and entry.get("code") in SHARED_INFORMATION
        ],
        signed_on=parse_date(resource.get("dateTime")),
        valid_from=parse_date((period or {}).get("start")),
        valid_until=parse_date((period or {}).get("end")),
    )
