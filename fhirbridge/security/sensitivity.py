"""Which resources hold sensitive parts of a child's record, and under which labels.

A resource is sensitive when it carries a confidentiality label from v3-ActCode in ``meta.security``
(the assessment tool labels the psychosocial answers of a needs assessment ``SOC``, behavioral-health
notes ``BH`` or ``PSY``, and so on), or when it is a Condition coded in ICD-10-CM chapter F (mental,
behavioral and neurodevelopmental disorders), which is treated as labelled ``BH`` even if the sender
did not label it. Sensitivity is per resource: a resource with one sensitive answer is withheld whole.
"""

from __future__ import annotations

from typing import Any

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ICD10_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10"})
# v3-ActCode information-sensitivity codes that withhold a resource from organizations whose
# consent does not name them.
SENSITIVE_LABELS = frozenset({"BH", "ETH", "MH", "PSY", "PSYTHPN", "SDV", "SOC", "SUD"})
BEHAVIORAL_HEALTH = "BH"


def sensitivity_labels(resource: dict[str, Any]) -> frozenset[str]:
    """The sensitive labels of a resource (empty when it is not sensitive)."""
    labels = {
        coding["code"]
        for coding in _list((resource.get("meta") or {}).get("security"))
        if isinstance(coding, dict) and coding.get("system") == ACT_CODE and coding.get("code") in SENSITIVE_LABELS
    }
    if resource.get("resourceType") == "Condition" and _behavioral_health_condition(resource):
        labels.add(BEHAVIORAL_HEALTH)
    return frozenset(labels)


def _behavioral_health_condition(condition: dict[str, Any]) -> bool:
    code = condition.get("code")
    codings = _list(code.get("coding")) if isinstance(code, dict) else []
    return any(
        isinstance(coding, dict)
        and coding.get("system") in ICD10_SYSTEMS
        and str(coding.get("code", "")).upper().startswith("F")
        for coding in codings
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = ["ACT_CODE", "BEHAVIORAL_HEALTH", "SENSITIVE_LABELS", "sensitivity_labels"]
