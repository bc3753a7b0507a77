"""Needs assessment (QuestionnaireResponse), the needs it found (Condition, health concern), diagnoses
(Condition, problem list) and the complexity level (RiskAssessment)."""

from __future__ import annotations

from typing import Any, Literal

from fhirbridge.assessment import (
    ASSESSMENT_URL,
    complexity_level,
    complexity_rationale,
    complexity_risk,
    is_screening,
    level_schedule,
)
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
from fhirbridge.mappers._needs_response import (
    ANSWERED_READINESS,
    ANSWERS_STATUS,
    METHODS,
    MODES,
    READINESS,
    READINESS_ANSWERS,
    RESPONDENTS,
    domains_answered,
    enabled_items,
    group,
    option,
    question,
)
from fhirbridge.mappers.transition import is_readiness_response

__all__ = [
    "NEEDS_QUESTIONNAIRE",
    "complexity_from_fhir",
    "complexity_to_fhir",
    "diagnosis_from_fhir",
    "diagnosis_to_fhir",
    "is_complexity",
    "is_health_concern",
    "is_needs_assessment",
    "need_from_fhir",
    "need_to_fhir",
    "needs_assessment_from_fhir",
    "needs_assessment_to_fhir",
]

NEEDS_QUESTIONNAIRE = ASSESSMENT_URL
ASSESSMENT_CODES = f"{BASE}/CodeSystem/care-coordination-assessment"
NEED_DOMAIN = system_url("CodeSystem/need-domain")
AssessmentStatus = Literal["in-progress", "completed", "amended", "stopped"]
NEED_PRIORITY = profile("need-priority")
NEED_STATUS = profile("need-status")
US_CORE_CONDITION_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
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


def needs_assessment_to_fhir(assessment: NeedsAssessment, links: Links) -> Resource:
    """A response to the published needs assessment answering what the record summarises (see
    ``_needs_response`` for why it is ``in-progress`` and what travels in ``meta.tag``)."""
    response_status = "stopped" if assessment.status == "stopped" else "in-progress"
    readiness_answer = READINESS_ANSWERS[assessment.readiness] if assessment.readiness else None
    tags = [
        coding(ANSWERS_STATUS, assessment.status) if assessment.status != response_status else None,
        *(coding(NEED_DOMAIN, domain) for domain in assessment.domains_reviewed),
        coding(READINESS, assessment.readiness)
        if assessment.readiness and readiness_answer and ANSWERED_READINESS[readiness_answer] != assessment.readiness
        else None,
    ]
    respondent = _respondent(assessment.informant_id, links)
    items = [
        group(
            "about",
            [
                question("respondent-relationship", [option("respondent-relationship", respondent)])
                if respondent
                else None,
                question("assessment-mode", [option("assessment-mode", MODES[assessment.method])])
                if assessment.method
                else None,
            ],
        ),
        # The record does not tell the child's strengths from the family's: all of them, one a line,
        # answer the group's required question.
        group("strengths", [question("child-strengths", [{"valueString": "\n".join(assessment.strengths)}])])
        if assessment.strengths
        else None,
        group(
            "goals",
            [
                group("family-goal", [question("goal-description", [{"valueString": goal}])])
                for goal in assessment.family_goals
            ],
        ),
        group("readiness", [question("information-readiness", [option("information-readiness", readiness_answer)])])
        if readiness_answer
        else None,
    ]
    return clean(
        {
            "resourceType": "QuestionnaireResponse",
            "id": resource_id(assessment),
            "meta": {
                "profile": [
                    f"{US_CORE}/us-core-questionnaireresponse",
                    profile("fhirbridge-needs-assessment-response"),
                ],
                "tag": tags,
            },
            "text": narrative(
                "Needs assessment",
                [
                    ("Done", assessment.assessed_at),
                    ("Status", assessment.status),
                    ("How", assessment.method),
                    ("By", links.display(assessment.assessor_id)),
                    ("With", links.display(assessment.informant_id)),
                    ("Domains reviewed", assessment.domains_reviewed),
                    ("Strengths", assessment.strengths),
                    ("Family goals", assessment.family_goals),
                    ("Readiness for information", assessment.readiness),
                ],
            ),
            "questionnaire": ASSESSMENT_URL,
            "status": response_status,
            "subject": links.patient(),
            "authored": instant_text(assessment.assessed_at) if assessment.assessed_at else None,
            "author": links.ref(assessment.assessor_id),
            "source": links.ref(assessment.informant_id),
            "item": [item for item in items if item],
        }
    )


def needs_assessment_from_fhir(resource: Resource, reader: Reader) -> NeedsAssessment:
    """The record's summary of a response to the published needs assessment, whether the record wrote it
    or the family filled it in; answers the record has no place for stay in the retained response."""
    tags = [tag for tag in (resource.get("meta") or {}).get("tag", []) or [] if isinstance(tag, dict)]
    entries = enabled_items(resource) if _answers_instrument(resource) else []
    answers: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        answers.setdefault(entry.link_id, []).extend(a for a in entry.answers if isinstance(a, dict))
    tagged_status = _tagged(tags, ANSWERS_STATUS)
    status = tagged_status or resource.get("status")
    mode = _coded(answers.get("assessment-mode", []))
    tagged_domains = [code for system, code in _tag_codes(tags) if system == NEED_DOMAIN and code in NEED_DOMAINS]
    readiness = _tagged(tags, READINESS) or ANSWERED_READINESS.get(
        _coded(answers.get("information-readiness", [])) or ""
    )
    return NeedsAssessment(
        id=resource["id"],
        status=pick(status, AssessmentStatus, "completed"),
        assessed_at=parse_instant(resource.get("authored")),
        method=pick(METHODS.get(mode or ""), AssessmentMethod),
        assessor_id=reader.resolve(resource.get("author"), "author", "team member"),
        informant_id=reader.resolve(resource.get("source"), "source", "family member", "child"),
        domains_reviewed=list(dict.fromkeys(tagged_domains)) if tagged_domains else domains_answered(entries),
        strengths=[
            line
            for link_id in ("child-strengths", "family-strengths")
            for text in _strings(answers.get(link_id, []))
            for line in text.split("\n")
            if line.strip()
        ],
        family_goals=_strings(answers.get("goal-description", [])),
        readiness=pick(readiness, Readiness),
    )


def is_needs_assessment(resource: Resource) -> bool:
    """Whether a QuestionnaireResponse is a needs assessment for the record (``assessments``): any but a
    screening, which only says whether the full assessment is needed and assesses nothing, and the youth's
    transition-readiness answers, which inform the transition plan (kept as they came)."""
    return (
        resource.get("resourceType") == "QuestionnaireResponse"
        and not is_screening(resource)
        and not is_readiness_response(resource)
    )


def _respondent(informant_id: str | None, links: Links) -> str | None:
    """Who answered, as the form asks it; read back from ``source``, not from this answer."""
    if informant_id is None:
        return None
    if informant_id == links.record.child.id:
        return "youth-self"
    relative = next((person for person in links.record.family if person.id == informant_id), None)
    if relative is None:
        return None
    if relative.relationship in RESPONDENTS:
        return RESPONDENTS[relative.relationship]
    if "legal-guardian" in relative.roles:
        return "legal-guardian"
    return "other-relationship" if relative.relationship else None


def _answers_instrument(resource: Resource) -> bool:
    return str(resource.get("questionnaire") or "").split("|", 1)[0] in (
        ASSESSMENT_URL,
        "Questionnaire/pediatric-care-coordination-needs-assessment",
    )


def _tag_codes(tags: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(str(tag.get("system")), str(tag["code"])) for tag in tags if isinstance(tag.get("code"), str)]


def _tagged(tags: list[dict[str, Any]], system: str) -> str | None:
    return next((code for tag_system, code in _tag_codes(tags) if tag_system == system), None)


def _coded(answers: list[dict[str, Any]]) -> str | None:
    for answer in answers:
        value = answer.get("valueCoding")
        if isinstance(value, dict) and value.get("system") == ASSESSMENT_CODES and isinstance(value.get("code"), str):
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
            "evidence": [{"detail": [links.ref(need.assessment_id)]}] if links.ref(need.assessment_id) else [],
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
        assessment_id=reader.resolve(assessment, "evidence.detail", "needs assessment") if assessment else None,
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
    codings = [entry for entry in (resource.get("code") or {}).get("coding", []) or [] if isinstance(entry, dict)]
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
    level = complexity_level(resource)
    return level if pick(level, ComplexityLevel) else None


def complexity_to_fhir(level: ComplexityAssessment, links: Links) -> Resource:
    """The complexity RiskAssessment as ``$assess`` writes it (``fhirbridge.assessment.complexity``): the
    next review date, the identifier and the narrative follow from the level, the date and the basis."""
    display, interval = level_schedule(level.level)
    risk = complexity_risk(
        level.level,
        display=display,
        review_interval_days=interval,
        subject=links.patient(),
        occurrence=instant_text(level.assessed_at) if level.assessed_at else None,
        basis=links.ref(level.basis_assessment_id),
        performer=links.ref(level.assessor_id),
        rationale=level.rationale,
    )
    return clean({"resourceType": "RiskAssessment", "id": resource_id(level), **risk})


def complexity_from_fhir(resource: Resource, reader: Reader) -> ComplexityAssessment:
    basis = [ref for ref in resource.get("basis", []) or [] if reader.kind_of(ref) == "needs assessment"]
    return ComplexityAssessment(
        id=resource["id"],
        level=pick(_level(resource), ComplexityLevel, "moderate"),
        assessed_at=parse_instant(resource.get("occurrenceDateTime")),
        basis_assessment_id=reader.resolve(basis[0], "basis", "needs assessment") if basis else None,
        assessor_id=reader.resolve(resource.get("performer"), "performer", "team member"),
        rationale=complexity_rationale(resource),
    )
