"""A child's record as a partner's server holds it, from which the assessment is pre-populated."""

from __future__ import annotations

from typing import Any

PATIENT = {
    "resourceType": "Patient",
    "id": "maya",
    "name": [{"use": "official", "family": "Okafor", "given": ["Maya", "Adaeze"]}],
    "birthDate": "2017-05-14",
    "communication": [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}},
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es-MX"}]}, "preferred": True},
    ],
}
SNOMED = "http://snomed.info/sct"


def condition(text: str, status: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/maya"},
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
        "code": {"text": text},
        **extra,
    }


RECORD: dict[str, list[dict[str, Any]]] = {
    "Patient": [PATIENT],
    "Condition": [
        condition("Spastic quadriplegic cerebral palsy"),
        condition("Epilepsy"),
        condition("Bronchiolitis", status="resolved"),
        {
            **condition(""),
            "code": {
                "coding": [
                    {
                        "system": "http://fhirbridge.org/fhir/CodeSystem/care-coordination-assessment",
                        "code": "need-dental-home",
                        "display": "No dental home",
                    }
                ]
            },
        },
        {**condition(""), "subject": {"reference": "Patient/someone-else"}, "code": {"text": "Asthma"}},
    ],
    "MedicationStatement": [
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": {"reference": "Patient/maya"},
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "187832",
                        "display": "Levetiracetam 250 MG",
                    }
                ]
            },
        },
        {
            "resourceType": "MedicationStatement",
            "status": "stopped",
            "subject": {"reference": "Patient/maya"},
            "medicationCodeableConcept": {"text": "Amoxicillin"},
        },
    ],
    "MedicationRequest": [
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/maya"},
            "medicationCodeableConcept": {"text": "Baclofen 5 mg"},
        },
    ],
    "CareTeam": [
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": "Patient/maya"},
            "participant": [
                {
                    "role": [{"text": "primary care"}],
                    "member": {"reference": "Practitioner/ruiz", "display": "Dr. Ana Ruiz"},
                },
                {"role": [{"text": "neurology"}], "member": {"reference": "Practitioner/chen", "display": "Dr. Chen"}},
            ],
        },
    ],
}
