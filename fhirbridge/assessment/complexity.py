"""The complexity RiskAssessment: one shape, whether ``$assess`` writes it or the record does.

A child's complexity level reaches FHIR two ways: stratifying a needs assessment (``$assess``, the
``assessment stratify`` command) and writing back a record whose ``complexity`` lists it. Both build the
RiskAssessment here, from the facts the record keeps (the level, when it was set, by whom, on what
basis, why), and derive the rest from them: the level's display, the next plan review (the level's
review interval after the assessment, in ``complexity-next-review`` and ``prediction.whenPeriod``), the
identifier naming the assessment it rests on, the narrative. So the record reads back exactly what
fhirbridge wrote, and fhirbridge's own RiskAssessments never appear in an import report as a partner's.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from fhirbridge.assessment.definitions import (
    ASSESSMENT_CODE_SYSTEM,
    BASE,
    COMPLEXITY_CODE_SYSTEM,
    COMPLEXITY_PROFILE,
    default_rules,
    display_of,
)
from fhirbridge.assessment.values import codings, exact_date

Resource = dict[str, Any]

# What a complexity RiskAssessment is about (RiskAssessment.code), as $assess and the record write it.
COMPLEXITY_RISK_CODE: dict[str, str] = {
    "system": ASSESSMENT_CODE_SYSTEM,
    "code": "care-coordination-complexity",
    "display": "Care-coordination complexity",
}
NEXT_REVIEW_EXTENSION = f"{BASE}/StructureDefinition/complexity-next-review"
RISK_IDENTIFIER_SYSTEM = f"{BASE}/identifier/complexity-assessment"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
# The levels that are also degrees of risk-probability (prediction.qualitativeRisk).
QUALITATIVE_LEVELS = ("low", "moderate", "high")


def level_schedule(level: str, rules: Mapping[str, Any] | None = None) -> tuple[str, int | None]:
    """The display of a complexity level and its plan review interval in days (None: the rules do not
    know the level), from the published stratification rules unless others are given."""
    for known in (rules if rules is not None else default_rules()).get("levels", []):
        if known.get("code") == level:
            return str(known.get("display") or level), int(known["reviewIntervalDays"])
    return display_of(COMPLEXITY_CODE_SYSTEM, level) or level, None


def complexity_risk(
    level: str,
    *,
    display: str,
    review_interval_days: int | None,
    subject: Resource,
    occurrence: str | None,
    basis: Resource | None = None,
    performer: Resource | None = None,
    rationale: str | None = None,
    status: str = "final",
) -> Resource:
    """The RiskAssessment recording ``level``, set at ``occurrence`` (a FHIR dateTime) for ``subject``."""
    assessed = exact_date(occurrence)
    next_review = (
        assessed + timedelta(days=review_interval_days)
        if assessed is not None and review_interval_days is not None
        else None
    )
    prediction: Resource = {
        "outcome": {"coding": [{"system": COMPLEXITY_CODE_SYSTEM, "code": level, "display": display}], "text": display},
    }
    if level in QUALITATIVE_LEVELS:
        prediction["qualitativeRisk"] = {"coding": [{"system": RISK_PROBABILITY, "code": level}]}
    if assessed is not None and next_review is not None:
        prediction["whenPeriod"] = {"start": assessed.isoformat(), "end": next_review.isoformat()}
    if rationale:
        prediction["rationale"] = rationale
    resource: Resource = {
        "resourceType": "RiskAssessment",
        "meta": {"profile": [COMPLEXITY_PROFILE]},
        "text": {"status": "generated", "div": _narrative(display, assessed, next_review, rationale)},
    }
    if next_review is not None:
        resource["extension"] = [{"url": NEXT_REVIEW_EXTENSION, "valueDate": next_review.isoformat()}]
    if basis and basis.get("reference"):
        resource["identifier"] = [{"system": RISK_IDENTIFIER_SYSTEM, "value": str(basis["reference"])}]
    resource["status"] = status
    resource["code"] = {"coding": [dict(COMPLEXITY_RISK_CODE)]}
    resource["subject"] = subject
    if occurrence:
        resource["occurrenceDateTime"] = occurrence
    if performer:
        resource["performer"] = performer
    if basis:
        resource["basis"] = [basis]
    resource["prediction"] = [prediction]
    return resource


def complexity_level(resource: Resource) -> str | None:
    """The level a RiskAssessment records: its ``complexity-level`` outcome, else a qualitative risk of
    low, moderate or high (how some partners say it); None when it records no complexity level."""
    predictions = [p for p in resource.get("prediction") or [] if isinstance(p, dict)]
    for prediction in predictions:
        for coding in codings(prediction.get("outcome")):
            if coding.get("system") == COMPLEXITY_CODE_SYSTEM and isinstance(coding.get("code"), str):
                return str(coding["code"])
    for prediction in predictions:
        for coding in codings(prediction.get("qualitativeRisk")):
            if coding.get("system") == RISK_PROBABILITY and coding.get("code") in QUALITATIVE_LEVELS:
                return str(coding["code"])
    return None


def complexity_rationale(resource: Resource) -> str | None:
    """Why the level was set: ``prediction.rationale``, else the first note (where some partners put it)."""
    for prediction in resource.get("prediction") or []:
        if isinstance(prediction, dict) and isinstance(prediction.get("rationale"), str):
            return str(prediction["rationale"])
    for note in resource.get("note") or []:
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            return str(note["text"])
    return None


def _narrative(display: str, assessed: date | None, next_review: date | None, rationale: str | None) -> str:
    when = f" (assessed {assessed.isoformat()})" if assessed else ""
    parts = [f"<p>Care-coordination complexity: <b>{html.escape(display)}</b>{when}.</p>"]
    if next_review:
        parts.append(f"<p>Next plan review by {next_review.isoformat()}.</p>")
    if rationale:
        parts.append(f"<p>{html.escape(rationale)}</p>")
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{"".join(parts)}</div>'


__all__ = [
    "COMPLEXITY_RISK_CODE",
    "NEXT_REVIEW_EXTENSION",
    "QUALITATIVE_LEVELS",
    "RISK_IDENTIFIER_SYSTEM",
    "RISK_PROBABILITY",
    "complexity_level",
    "complexity_rationale",
    "complexity_risk",
    "level_schedule",
]
