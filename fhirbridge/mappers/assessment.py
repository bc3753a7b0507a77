"""Needs assessment (QuestionnaireResponse), the needs it found (Condition, health concern), diagnoses
(Condition, problem list) and the complexity level (RiskAssessment)."""

from __future__ import annotations

from typing import Any

from fhirbridge.domain.assessment import (
    AssessmentMethod,
    ComplexityAssessment,
    ComplexityLevel,
    Need,
    NeedPriority,
    NeedsAssessment,
    NeedStatus,
    Readiness,
)
from fhirbridge.domain.common import NEED_DOMAINS
from fhirbridge.domain.plan import Diagnosis, DiagnosisStatus
from fhirbridge.mappers._context import Links, Reader
from fhirbridge.mappers._fhir import (
    BASE,
    US_CORE,
    Resource,
    clean,
    codeable,
    codes,
    coding,
    extension,
    extension_values,
    first_code,
    instant_text,
    narrative,
    parse_date,
    parse_instant,
    pick,
    profile,
    resource_id,
    string,
    system_url,
    text_of,
)

__all__ = [
    "NEEDS_QUESTIONNAIRE",
    "complexity_from_fhir",
    "complexity_to_fhir",
    "diagnosis_from_fhir",
    "diagnosis_to_fhir",
    "is_complexity",
    "is_health_concern",
    "need_from_fhir",
    "need_to_fhir",
    "needs_assessment_from_fhir",
    "needs_assessment_to_fhir",
]

NEEDS_QUESTIONNAIRE = f"{BASE}/Questionnaire/needs-assessment"
NEED_DOMAIN = system_url("CodeSystem/need-domain")
ASSESSMENT_METHOD = system_url("CodeSystem/assessment-method")
READINESS = system_url("CodeSystem/information-readiness")
COMPLEXITY = system_url("CodeSystem/care-coordination-complexity")
NEED_PRIORITY = profile("need-priority")
NEED_STATUS = profile("need-status")
US_CORE_CONDITION_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
COMPLEXITY_LEVEL = f"{BASE}/CodeSystem/complexity-level"
CONDITION_PROFILE = f"{US_CORE}/us-core-condition-problems-health-concerns"

_NEED_CLINICAL = {
    "identified": "active",
    "being-addressed": "active",
    "met": "resolved",
    "deferred": "inactive",
}
_CLINICAL_NEED = {
    "active": "identified",
    "recurrence": "identified",
    "relapse": "identified",
    "inactive": "deferred",
    "remission": "met",
    "resolved": "met",
}
_ITEMS = {
    "method": "How the assessment was done",
    "domains": "Domains reviewed",
    "strengths": "Strengths of child and family",
    "family-goals": "The family's own goals",
    "readiness": "Readiness for information",
}


def needs_assessment_to_fhir(assessment: NeedsAssessment, links: Links) -> Resource:
    items: dict[str, list[dict[str, Any]]] = {
        "method": [{"valueCoding": coding(ASSESSMENT_METHOD, assessment.method)}]
        if assessment.method
        else [],
        "domains": [{"valueCoding": coding(NEED_DOMAIN, domain)} for domain in assessment.domains_reviewed],
        "strengths": [{"valueString": text} for text in assessment.strengths],
        "family-goals": [{"valueString": text} for text in assessment.family_goals],
        "readiness": [{"valueCoding": coding(READINESS, assessment.readiness)}]
        if assessment.readiness
        else [],
    }
    return clean(
        {
            "resourceType": "QuestionnaireResponse",
            "id": resource_id(assessment),
            "meta": {
                "profile": [
                    f"{US_CORE}/us-core-questionnaireresponse",
                    profile("fhirbridge-needs-assessment-response"),
                ]
            },
            "text": narrative(
                "Needs assessment",
                [
                    ("Done", assessment.assessed_at),
                    ("How", assessment.method),
                    ("By", links.display(assessment.assessor_id)),
                    ("With", links.display(assessment.informant_id)),
                    ("Domains reviewed", assessment.domains_reviewed),
                    ("Strengths", assessment.strengths),
                    ("Family goals", assessment.family_goals),
                    ("Readiness for information", assessment.readiness),
                ],
            ),
            "questionnaire": NEEDS_QUESTIONNAIRE,
            "status": assessment.status,
            "subject": links.patient(),
            "authored": instant_text(assessment.assessed_at) if assessment.assessed_at else None,
            "author": links.ref(assessment.assessor_id),
            "source": links.ref(assessment.informant_id),
            "item": [
                {"linkId": link, "text": _ITEMS[link], "answer": answers}
                for link, answers in items.items()
                if answers
            ],
        }
    )


def needs_assessment_from_fhir(resource: Resource, reader: Reader) -> NeedsAssessment:
    answers: dict[str, list[dict[str, Any]]] = {}
    for item in resource.get("item", []) or []:
        if isinstance(item, dict) and item.get("linkId") in _ITEMS:
            answers[item["linkId"]] = [a for a in item.get("answer", []) or [] if isinstance(a, dict)]
    method = _coded(answers.get("method", []), ASSESSMENT_METHOD)
    readiness = _coded(answers.get("readiness", []), READINESS)
    status = resource.get("status")
    return NeedsAssessment(
        id=resource["id"],
        status=status if status in ("in-progress", "completed", "amended", "stopped") else "completed",
        assessed_at=parse_instant(resource.get("authored")),
        method=pick(method, AssessmentMethod),
        assessor_id=reader.resolve(resource.get("author"), "author", "team member"),
        informant_id=reader.resolve(resource.get("source"), "source", "family member", "child"),
        domains_reviewed=[
            code
            for answer in answers.get("domains", [])
            if (code := _coded([answer], NEED_DOMAIN)) in NEED_DOMAINS
        ],
        strengths=_strings(answers.get("strengths", [])),
        family_goals=_strings(answers.get("family-goals", [])),
        readiness=pick(readiness, Readiness),
    )


def _coded(answers: list[dict[str, Any]], system: str) -> str | None:
    for answer in answers:
        value = answer.get("valueCoding")
        if isinstance(value, dict) and value.get("system") == system and isinstance(value.get("code"), str):
            return str(value["code"])
    return None


def _strings(answers: list[dict[str, Any]]) -> list[str]:
    return [answer["valueString"] for answer in answers if isinstance(answer.get("valueString"), str)]


def is_health_concern(condition: Resource) -> bool:
    return any(code == "health-concern" for _, code in codes(condition.get("category", [])))


def need_to_fhir(need: Need, links: Links) -> Resource:
    return clean(
        {
            "resourceType": "Condition",
            "id": resource_id(need),
            "meta": {"profile": [CONDITION_PROFILE]},
            "text": narrative(
                f"Need: {need.description}",
                [
                    ("Domain", need.domain),
                    ("Priority", need.priority),
                    ("Status", need.status),
                    ("Identified", need.identified_on),
                ],
            ),
            "extension": [
                extension(NEED_PRIORITY, valueCode=need.priority) if need.priority else None,
                extension(NEED_STATUS, valueCode=need.status),
            ],
            "clinicalStatus": codeable(CLINICAL_STATUS, _NEED_CLINICAL[need.status]),
            "category": [
                codeable(US_CORE_CONDITION_CATEGORY, "health-concern", "Health Concern"),
                codeable(NEED_DOMAIN, need.domain) if need.domain else None,
            ],
            "code": {"text": need.description},
            "subject": links.patient(),
            "recordedDate": need.identified_on.isoformat() if need.identified_on else None,
            "evidence": [{"detail": [links.ref(need.assessment_id)]}]
            if links.ref(need.assessment_id)
            else [],
        }
    )


def need_from_fhir(resource: Resource, reader: Reader) -> Need:
    priority = _extension_code(resource, NEED_PRIORITY)
    status = _extension_code(resource, NEED_STATUS) or _CLINICAL_NEED.get(
        first_code(resource.get("clinicalStatus"), CLINICAL_STATUS) or "", "identified"
    )
    domain = first_code(resource.get("category", []), NEED_DOMAIN)
    evidence = [
        detail
        for entry in resource.get("evidence", []) or []
        if isinstance(entry, dict)
        for detail in entry.get("detail", []) or []
    ]
    assessment = next((detail for detail in evidence if reader.kind_of(detail) == "needs assessment"), None)
    return Need(
        id=resource["id"],
        description=text_of(resource.get("code")) or "Health concern without a description",
        domain=domain if domain in NEED_DOMAINS else None,
        priority=pick(priority, NeedPriority),
        status=pick(status, NeedStatus, "identified"),
        identified_on=parse_date(resource.get("recordedDate")),
        assessment_id=reader.resolve(assessment, "evidence.detail", "needs assessment")
        if assessment
        else None,
    )


def _extension_code(resource: Resource, url: str) -> str | None:
    values = [ext.get("valueCode") for ext in extension_values(resource, url)]
    return values[0] if values and isinstance(values[0], str) else None


def diagnosis_to_fhir(diagnosis: Diagnosis, links: Links) -> Resource:
    code = [coding(diagnosis.code_system, diagnosis.code)] if diagnosis.code and diagnosis.code_system else []
    return clean(
        {
            "resourceType": "Condition",
            "id": resource_id(diagnosis),
            "meta": {"profile": [CONDITION_PROFILE]},
            "text": narrative(
                f"Diagnosis: {diagnosis.description}",
                [("Code", diagnosis.code), ("Status", diagnosis.status), ("Since", diagnosis.onset)],
            ),
            "clinicalStatus": codeable(CLINICAL_STATUS, diagnosis.status) if diagnosis.status else None,
            "category": [codeable(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": {"coding": code, "text": diagnosis.description},
            "subject": links.patient(),
            "onsetDateTime": diagnosis.onset.isoformat() if diagnosis.onset else None,
        }
    )


def diagnosis_from_fhir(resource: Resource, reader: Reader) -> Diagnosis:
    codings = [
        entry for entry in (resource.get("code") or {}).get("coding", []) or [] if isinstance(entry, dict)
    ]
    first = codings[0] if codings else {}
    status = first_code(resource.get("clinicalStatus"), CLINICAL_STATUS)
    return Diagnosis(
        id=resource["id"],
        description=text_of(resource.get("code")) or "Condition without a description",
        code=string(first.get("code")),
        code_system=string(first.get("system")),
        status=pick(status, DiagnosisStatus),
        onset=parse_date(resource.get("onsetDateTime")),
    )


def is_complexity(resource: Resource) -> bool:
    return _level(resource) is not None


def _level(resource: Resource) -> str | None:
    for prediction in resource.get("prediction", []) or []:
        if isinstance(prediction, dict):
            level = first_code(prediction.get("qualitativeRisk"), RISK_PROBABILITY)
            if level in ("low", "moderate", "high"):
                return level
    return None


def complexity_to_fhir(level: ComplexityAssessment, links: Links) -> Resource:
    return clean(
        {
            "resourceType": "RiskAssessment",
            "id": resource_id(level),
            "meta": {"profile": [profile("fhirbridge-complexity-riskassessment")]},
            "text": narrative(
                f"Care coordination complexity: {level.level}",
                [
                    ("Assessed", level.assessed_at),
                    ("By", links.display(level.assessor_id)),
                    ("Why", level.rationale),
                ],
            ),
            "status": "final",
            "code": codeable(COMPLEXITY, "complexity", "Care coordination complexity"),
            "subject": links.patient(),
            "occurrenceDateTime": instant_text(level.assessed_at) if level.assessed_at else None,
            "performer": links.ref(level.assessor_id),
            "basis": [links.ref(level.basis_assessment_id)],
            "prediction": [
                {
                    "outcome": codeable(COMPLEXITY_LEVEL, level.level, text="Need for care coordination"),
                    "qualitativeRisk": codeable(RISK_PROBABILITY, level.level),
                }
            ],
            "note": [{"text": level.rationale}] if level.rationale else [],
        }
    )


def complexity_from_fhir(resource: Resource, reader: Reader) -> ComplexityAssessment:
    notes = [note for note in resource.get("note", []) or [] if isinstance(note, dict)]
    basis = [ref for ref in resource.get("basis", []) or [] if reader.kind_of(ref) == "needs assessment"]
    return ComplexityAssessment(
        id=resource["id"],
        level=pick(_level(resource), ComplexityLevel, "moderate"),
        assessed_at=parse_instant(resource.get("occurrenceDateTime")),
        basis_assessment_id=reader.resolve(basis[0], "basis", "needs assessment") if basis else None,
        assessor_id=reader.resolve(resource.get("performer"), "performer", "team member"),
        rationale=string(notes[0].get("text")) if notes else None,
    )
