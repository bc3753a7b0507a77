"""The record's needs assessment as a response to the published instrument, and back.

The record keeps a summary of the assessment done with the family, not every answer of the form, so the
response it writes answers only the items the record has a value for (how the assessment was done,
strengths, the family's goals, readiness for information) and is ``in-progress`` (``stopped`` when the
record says so): a ``completed`` response must answer every required item, which a summary cannot.
What the instrument has no item for travels in ``meta.tag``: the domains reviewed (``need-domain``), the
assessment's own status when it differs from the response's (``questionnaire-answers-status``), and the
record's readiness when the instrument's coarser answer would not give it back (``information-readiness``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhirbridge.assessment import assessment_questionnaire
from fhirbridge.assessment.answers import EnableWhen, ResponseItem, questionnaire_index, walk
from fhirbridge.domain.common import NEED_DOMAINS
from fhirbridge.mappers._fhir import Resource, system_url

ANSWERS_STATUS = "http://hl7.org/fhir/questionnaire-answers-status"
NEED_DOMAIN = system_url("CodeSystem/need-domain")
READINESS = system_url("CodeSystem/information-readiness")

# Record method <-> the instrument's assessment-mode option (one to one).
MODES = {
    "in-person": "mode-in-person",
    "phone": "mode-phone",
    "video": "mode-video",
    "form-sent-home": "mode-form-at-home",
}
METHODS = {mode: method for method, mode in MODES.items()}

# The informant's relationship to the child (HL7 RoleCode, as the record keeps it) -> the instrument's
# respondent-relationship option; a relationship the form has no option for is "other".
RESPONDENTS = {
    "MTH": "mother",
    "FTH": "father",
    "GRMTH": "grandparent",
    "GRFTH": "grandparent",
    "FOSMTH": "foster-parent",
    "FOSFTH": "foster-parent",
    "GUARD": "legal-guardian",
}

# Record readiness -> the instrument's information-readiness option. The instrument asks how much
# information the family wants now; "considering" (not yet, thinking about it) is closest to "some".
READINESS_ANSWERS = {
    "not-ready": "readiness-not-now",
    "considering": "readiness-some",
    "ready": "readiness-some",
    "seeking": "readiness-all",
}
ANSWERED_READINESS = {
    "readiness-not-now": "not-ready",
    "readiness-some": "ready",
    "readiness-all": "seeking",
}

# The instrument's domain groups -> the record's need domains. A group covering two record domains
# (development and school, financial needs and insurance) counts the second one when a question about
# it was answered.
GROUP_DOMAINS = {
    "medical": "medical",
    "behavioral": "behavioral",
    "dental": "dental",
    "development": "development",
    "social": "social-support",
    "financial": "financial",
    "family": "family-functioning",
    "culture": "cultural",
    "language": "language",
}
QUESTION_DOMAINS = {
    "school-plan": "school",
    "school-performance": "school",
    "school-days-missed": "school",
    "insurance-coverage": "insurance",
    "coverage-gaps": "insurance",
    "ssi-status": "insurance",
}


@cache
def _definitions() -> dict[str, Resource]:
    return questionnaire_index(assessment_questionnaire())


def text_of(link_id: str) -> str:
    return str(_definitions()[link_id]["text"])


def option(link_id: str, code: str) -> dict[str, Any]:
    """The answer option with this code, as the instrument gives it (system, code, display)."""
    for entry in _definitions()[link_id].get("answerOption") or []:
        coding = entry.get("valueCoding") or {}
        if coding.get("code") == code:
            return {"valueCoding": dict(coding)}
    raise LookupError(f"'{code}' is not an answer option of '{link_id}'")  # pragma: no cover - fixed tables


def question(link_id: str, answers: list[dict[str, Any]]) -> dict[str, Any] | None:
    return {"linkId": link_id, "text": text_of(link_id), "answer": answers} if answers else None


def group(link_id: str, items: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    present = [item for item in items if item]
    return {"linkId": link_id, "text": text_of(link_id), "item": present} if present else None


def enabled_items(response: Resource) -> list[ResponseItem]:
    """The response's items that carry answers and are enabled (stale answers in disabled branches of a
    form say nothing about the assessment)."""
    gate = EnableWhen(assessment_questionnaire(), response)
    return [entry for entry in walk(response) if entry.answers and gate.enabled_in_context(entry)]


def domains_answered(entries: list[ResponseItem]) -> list[str]:
    """The record's need domains whose questions the response answers, in the record's order."""
    found: set[str] = set()
    for entry in entries:
        for node in (*entry.ancestors, entry):
            if node.link_id in GROUP_DOMAINS:
                found.add(GROUP_DOMAINS[node.link_id])
        if entry.link_id in QUESTION_DOMAINS:
            found.add(QUESTION_DOMAINS[entry.link_id])
    return [domain for domain in NEED_DOMAINS if domain in found]


__all__ = [
    "ANSWERED_READINESS",
    "ANSWERS_STATUS",
    "METHODS",
    "MODES",
    "NEED_DOMAIN",
    "READINESS",
    "READINESS_ANSWERS",
    "RESPONDENTS",
    "domains_answered",
    "enabled_items",
    "group",
    "option",
    "question",
    "text_of",
]
