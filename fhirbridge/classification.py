"""What kind of information a resource holds: its sensitivity labels and its information classes.

Both are properties of the resource alone, so they are computed once, when it is written, and stored
with its search index (``search_token`` rows under the reserved parameters below). The access policy
then decides in SQL over them, and in Python over the same functions, so the two cannot disagree.

- **Sensitivity labels** are v3-ActCode confidentiality codes (``BH``, ``SOC``, ...) in
  ``meta.security``, those of every resource it contains (a contained Condition travels with its
  container), and ``BH`` for a Condition coded in ICD-10(-CM) chapter F (mental, behavioural and
  neurodevelopmental disorders) whether its system is given as a URL or as the OID.
- **Information classes** are the codes of fhirbridge's ``shared-information`` CodeSystem a family
  names in a Consent (``provision.class``): what an organization outside the treating team may be
  shown. The table ``CLASSES_BY_TYPE`` is the published mapping (docs/security.md).
"""

from __future__ import annotations

from typing import Any

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SHARED_INFORMATION = "http://fhirbridge.org/fhir/CodeSystem/shared-information"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
PLAN_KIND = "http://fhirbridge.org/fhir/CodeSystem/care-plan-kind"
ICD10_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10",
        "urn:oid:2.16.840.1.113883.6.90",  # ICD-10-CM
        "urn:oid:2.16.840.1.113883.6.3",  # ICD-10
    }
)
# v3-ActCode information-sensitivity codes that withhold a resource from organizations whose consent
# does not name them.
SENSITIVE_LABELS = frozenset({"BH", "ETH", "MH", "PSY", "PSYTHPN", "SDV", "SOC", "SUD"})
BEHAVIORAL_HEALTH = "BH"

# Reserved index parameters (a leading "@" cannot be a FHIR search parameter name, so no client
# search can name them).
LABEL_PARAM = "@label"
CLASS_PARAM = "@class"
PATIENT_PARAM = "@patient"  # the children whose Patient compartment holds the resource

# Every Consent that shares anything shares who the child is.
PATIENT_CLASS = "patient"
CARE_PLAN = "care-plan"
EMERGENCY_PLAN = "emergency-plan"
GOALS = "goals"
REFERRALS = "referrals"
NEEDS_ASSESSMENT = "needs-assessment"
MEDICAL_SUMMARY = "medical-summary"
CARE_TEAM = "care-team"
CONSENTABLE_CLASSES = (CARE_PLAN, GOALS, REFERRALS, NEEDS_ASSESSMENT, MEDICAL_SUMMARY, EMERGENCY_PLAN, CARE_TEAM)

CLASSES_BY_TYPE: dict[str, str] = {
    "Patient": PATIENT_CLASS,
    "Goal": GOALS,
    "CarePlan": CARE_PLAN,  # EMERGENCY_PLAN when its category says so
    "Task": CARE_PLAN,  # an action step; REFERRALS for a referral's Task
    "ServiceRequest": REFERRALS,
    "Communication": REFERRALS,
    "CommunicationRequest": REFERRALS,
    "DocumentReference": REFERRALS,
    "QuestionnaireResponse": NEEDS_ASSESSMENT,
    "RiskAssessment": NEEDS_ASSESSMENT,
    "Observation": NEEDS_ASSESSMENT,
    "Condition": MEDICAL_SUMMARY,
    "AllergyIntolerance": MEDICAL_SUMMARY,
    "MedicationStatement": MEDICAL_SUMMARY,
    "MedicationRequest": MEDICAL_SUMMARY,
    "Device": MEDICAL_SUMMARY,
    "DeviceUseStatement": MEDICAL_SUMMARY,
    "Encounter": MEDICAL_SUMMARY,
    "Procedure": MEDICAL_SUMMARY,
    "Immunization": MEDICAL_SUMMARY,
    "DiagnosticReport": MEDICAL_SUMMARY,
    "Composition": MEDICAL_SUMMARY,
    "CareTeam": CARE_TEAM,
    "RelatedPerson": CARE_TEAM,
}

PARTY_PARAM = "@party"  # the parties a referral resource names

# Referral resources are shared with an outside organization only when they name it as a party:
# an agency sees the referrals sent to it, not those sent to the school. (the elements per type)
REFERRAL_PARTIES: dict[str, tuple[str, ...]] = {
    "ServiceRequest": ("performer", "requester"),
    "Task": ("owner", "requester"),
    "Communication": ("sender", "recipient"),
    "CommunicationRequest": ("sender", "recipient", "requester"),
    "DocumentReference": ("author", "custodian"),
}


def sensitivity_labels(resource: dict[str, Any]) -> frozenset[str]:
    """The sensitive labels of a resource and everything it contains (empty when it is not sensitive)."""
    labels: set[str] = set()
    for part in (resource, *(c for c in _list(resource.get("contained")) if isinstance(c, dict))):
        labels |= _own_labels(part)
    return frozenset(labels)


def information_class(resource: dict[str, Any]) -> str | None:
    """The ``shared-information`` class a resource belongs to (None: no Consent shares it)."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return None
    if resource_type == "CarePlan" and _has_coding(resource.get("category"), PLAN_KIND, "emergency-plan"):
        return EMERGENCY_PLAN
    if resource_type == "Task" and is_referral_task(resource):
        return REFERRALS
    return CLASSES_BY_TYPE.get(resource_type)


def is_referral_task(task: dict[str, Any]) -> bool:
    """A referral's Task: code ``fulfill`` with the referral's ServiceRequest as its focus."""
    code = task.get("code")
    codings = _list(code.get("coding")) if isinstance(code, dict) else []
    is_fulfill = any(
        isinstance(c, dict) and c.get("code") == "fulfill" and c.get("system", TASK_CODE) == TASK_CODE for c in codings
    )
    focus = task.get("focus")
    reference = focus.get("reference") if isinstance(focus, dict) else None
    return is_fulfill and isinstance(reference, str) and "ServiceRequest/" in reference


def parties(resource: dict[str, Any]) -> frozenset[str]:
    """The relative references (``Organization/x``) a referral resource names as its parties."""
    found: set[str] = set()
    for element in REFERRAL_PARTIES.get(str(resource.get("resourceType")), ()):
        value = resource.get(element)
        for reference in value if isinstance(value, list) else [value]:
            target = reference.get("reference") if isinstance(reference, dict) else None
            if isinstance(target, str) and target.count("/") == 1 and target[:1].isupper():
                found.add(target)
    return frozenset(found)


def _own_labels(resource: dict[str, Any]) -> set[str]:
    meta = resource.get("meta")
    labels = {
        coding["code"]
        for coding in _list(meta.get("security") if isinstance(meta, dict) else None)
        if isinstance(coding, dict) and coding.get("system") == ACT_CODE and coding.get("code") in SENSITIVE_LABELS
    }
    if resource.get("resourceType") == "Condition" and _behavioral_health_condition(resource):
        labels.add(BEHAVIORAL_HEALTH)
    return labels


def _behavioral_health_condition(condition: dict[str, Any]) -> bool:
    code = condition.get("code")
    codings = _list(code.get("coding")) if isinstance(code, dict) else []
    return any(
        isinstance(coding, dict)
        and coding.get("system") in ICD10_SYSTEMS
        and str(coding.get("code", "")).strip().upper().startswith("F")
        for coding in codings
    )


def _has_coding(concepts: Any, system: str, code: str) -> bool:
    for concept in _list(concepts):
        if isinstance(concept, dict):
            for coding in _list(concept.get("coding")):
                if isinstance(coding, dict) and coding.get("system") == system and coding.get("code") == code:
                    return True
    return False


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = [
    "ACT_CODE",
    "BEHAVIORAL_HEALTH",
    "CLASSES_BY_TYPE",
    "CLASS_PARAM",
    "CONSENTABLE_CLASSES",
    "LABEL_PARAM",
    "PARTY_PARAM",
    "PATIENT_CLASS",
    "PATIENT_PARAM",
    "REFERRALS",
    "REFERRAL_PARTIES",
    "SENSITIVE_LABELS",
    "SHARED_INFORMATION",
    "information_class",
    "is_referral_task",
    "parties",
    "sensitivity_labels",
]
