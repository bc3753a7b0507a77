"""Complexity stratification: from a needs assessment to a level, a RiskAssessment and a review date.

The rules live in ``profiles/questionnaires/stratification-rules.json`` (packed with the package) and
can be replaced per practice by passing another rules dict. Each scoring rule that holds adds its
points; the level is the highest whose ``minScore`` the total reaches, raised to any ``minimumLevel`` a
holding rule sets. The level's ``reviewIntervalDays`` after the assessment is when the plan of care is
next due for review. The RiskAssessment names every rule that fired, so the level can be explained to
the family and the team.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fhirbridge.assessment.answers import enabled_answers
from fhirbridge.assessment.definitions import (
    ASSESSMENT_CODE_SYSTEM,
    BASE,
    COMPLEXITY_CODE_SYSTEM,
    COMPLEXITY_PROFILE,
    default_rules,
)
from fhirbridge.assessment.rules import RuleError, holds
from fhirbridge.errors import Unprocessable

Resource = dict[str, Any]
NEXT_REVIEW_EXTENSION = f"{BASE}/StructureDefinition/complexity-next-review"
LAST_REVIEW_EXTENSION = f"{BASE}/StructureDefinition/careplan-last-review"
RISK_IDENTIFIER_SYSTEM = f"{BASE}/identifier/complexity-assessment"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"


@dataclass(frozen=True)
class RuleHit:
    """A scoring rule that held for the assessment."""

    id: str
    description: str
    domain: str
    points: int


@dataclass(frozen=True)
class Stratification:
    level: str
    display: str
    score: int
    review_interval_days: int
    assessed: date
    next_review: date
    hits: tuple[RuleHit, ...]
    rules_version: str


@dataclass(frozen=True)
class OverdueReview:
    """A line of the worklist: a child whose plan of care is past its review date."""

    subject: str
    care_plan: str | None
    level: str
    last_review: date | None
    due: date
    days_overdue: int
    risk_assessment: str | None


def stratify(questionnaire: Resource, response: Resource, rules: Mapping[str, Any] | None = None) -> Stratification:
    """Score a needs assessment with the rules (the published ones by default)."""
    rules = rules if rules is not None else default_rules()
    levels = _levels(rules)
    answers = enabled_answers(questionnaire, response)
    hits: list[RuleHit] = []
    floor_rank = len(levels) - 1
    ranks = {level["code"]: rank for rank, level in enumerate(levels)}
    for rule in rules.get("rules", []):
        try:
            held = holds(rule["when"], answers)
        except (RuleError, KeyError) as exc:
            raise ValueError(f"stratification rule {rule.get('id')!r} is malformed: {exc}") from exc
        if not held:
            continue
        hits.append(
            RuleHit(
                str(rule["id"]),
                str(rule.get("description", "")),
                str(rule.get("domain", "")),
                int(rule.get("points", 0)),
            )
        )
        minimum = rule.get("minimumLevel")
        if minimum is not None:
            if minimum not in ranks:
                raise ValueError(f"stratification rule {rule['id']!r} names unknown level {minimum!r}")
            floor_rank = min(floor_rank, ranks[minimum])
    score = sum(hit.points for hit in hits)
    rank = next(index for index, level in enumerate(levels) if score >= level["minScore"])
    level = levels[min(rank, floor_rank)]
    assessed = _assessed_on(response)
    interval = int(level["reviewIntervalDays"])
    return Stratification(
        level=str(level["code"]),
        display=str(level.get("display", level["code"])),
        score=score,
        review_interval_days=interval,
        assessed=assessed,
        next_review=assessed + timedelta(days=interval),
        hits=tuple(hits),
        rules_version=str(rules.get("version", "")),
    )


def complexity_risk_assessment(
    response: Resource, stratification: Stratification, *, response_reference: str | None = None
) -> Resource:
    """The RiskAssessment recording a complexity level, based on the assessment it came from."""
    basis = response_reference or _reference_to(response)
    if basis is None:
        raise Unprocessable(
            "The QuestionnaireResponse needs an id to be the basis of a RiskAssessment",
            expression="QuestionnaireResponse.id",
        )
    subject = response.get("subject")
    if not subject:
        raise Unprocessable("The QuestionnaireResponse has no subject", expression="QuestionnaireResponse.subject")
    rationale = "; ".join(f"{hit.description} (+{hit.points})" for hit in stratification.hits) or "no rule applied"
    outcome = {
        "coding": [{"system": COMPLEXITY_CODE_SYSTEM, "code": stratification.level, "display": stratification.display}],
        "text": stratification.display,
    }
    prediction: Resource = {
        "outcome": outcome,
        "whenPeriod": {"start": stratification.assessed.isoformat(), "end": stratification.next_review.isoformat()},
        "rationale": f"Score {stratification.score}: {rationale}",
    }
    if stratification.level in ("low", "moderate", "high"):
        prediction["qualitativeRisk"] = {"coding": [{"system": RISK_PROBABILITY, "code": stratification.level}]}
    resource: Resource = {
        "resourceType": "RiskAssessment",
        "meta": {"profile": [COMPLEXITY_PROFILE]},
        "text": {"status": "generated", "div": _narrative(stratification)},
        "extension": [{"url": NEXT_REVIEW_EXTENSION, "valueDate": stratification.next_review.isoformat()}],
        "status": "final" if response.get("status") in ("completed", "amended") else "preliminary",
        "method": {"text": f"fhirbridge complexity stratification rules {stratification.rules_version}".strip()},
        "code": {
            "coding": [
                {
                    "system": ASSESSMENT_CODE_SYSTEM,
                    "code": "care-coordination-complexity",
                    "display": "Care-coordination complexity",
                }
            ]
        },
        "subject": subject,
        "occurrenceDateTime": str(response.get("authored") or stratification.assessed.isoformat()),
        "basis": [{"reference": basis}],
        "prediction": [prediction],
    }
    key = _response_key(response)
    if key:
        resource["identifier"] = [{"system": RISK_IDENTIFIER_SYSTEM, "value": key}]
    if response.get("author"):
        resource["performer"] = response["author"]
    return resource


def assess_complexity(
    questionnaire: Resource,
    response: Resource,
    rules: Mapping[str, Any] | None = None,
    *,
    response_reference: str | None = None,
) -> tuple[Resource, date]:
    """The complexity RiskAssessment of an assessment and the date the plan is next due for review."""
    result = stratify(questionnaire, response, rules)
    return complexity_risk_assessment(response, result, response_reference=response_reference), result.next_review


def overdue_reviews(
    risk_assessments: Iterable[Resource],
    care_plans: Iterable[Resource],
    *,
    today: date,
    rules: Mapping[str, Any] | None = None,
) -> list[OverdueReview]:
    """The worklist of plans of care past their review date, most overdue first.

    A child's level is that of its latest complexity RiskAssessment. Its plan is due for review the
    level's interval after the later of the plan's last review and that assessment (the plan's last
    review is the ``careplan-last-review`` extension, or else the plan's ``created`` date). A child
    assessed but without an active plan is due once the assessment's own review date has passed.
    Children with a plan but no assessment have no level and are not listed.
    """
    intervals = {level["code"]: int(level["reviewIntervalDays"]) for level in _levels(rules or default_rules())}
    latest: dict[str, Resource] = {}
    for assessment in risk_assessments:
        subject = _subject(assessment)
        level = _complexity_level(assessment)
        if subject is None or level is None or assessment.get("status") == "entered-in-error":
            continue
        current = latest.get(subject)
        if current is None or _day(current.get("occurrenceDateTime")) < _day(assessment.get("occurrenceDateTime")):
            latest[subject] = assessment
    plans: dict[str, list[Resource]] = {}
    for plan in care_plans:
        subject = _subject(plan)
        # Only the main plan is reviewed; an emergency plan is part of it (partOf).
        if subject is not None and plan.get("status") == "active" and not plan.get("partOf"):
            plans.setdefault(subject, []).append(plan)
    worklist: list[OverdueReview] = []
    for subject, assessment in latest.items():
        level = _complexity_level(assessment) or ""
        interval = intervals.get(level)
        if interval is None:
            continue
        assessed = _day(assessment.get("occurrenceDateTime"))
        assessment_ref = _reference_to(assessment)
        subject_plans: list[Resource | None] = list(plans.get(subject, [])) or [None]
        for open_plan in subject_plans:
            last_review = _last_review(open_plan) if open_plan is not None else None
            start = max(day for day in (last_review, assessed) if day is not None)
            due = start + timedelta(days=interval)
            if due < today:
                worklist.append(
                    OverdueReview(
                        subject=subject,
                        care_plan=_reference_to(open_plan),
                        level=level,
                        last_review=last_review,
                        due=due,
                        days_overdue=(today - due).days,
                        risk_assessment=assessment_ref,
                    )
                )
    return sorted(worklist, key=lambda line: (-line.days_overdue, line.subject))


def _levels(rules: Mapping[str, Any]) -> list[dict[str, Any]]:
    levels = sorted(rules.get("levels", []), key=lambda level: -int(level["minScore"]))
    if not levels or int(levels[-1]["minScore"]) > 0:
        raise ValueError("the stratification rules need levels, one of them with minScore 0")
    return levels


def _assessed_on(response: Resource) -> date:
    authored = response.get("authored")
    if not authored:
        raise Unprocessable(
            "The QuestionnaireResponse has no authored date", expression="QuestionnaireResponse.authored"
        )
    return _day(authored)


def _day(value: Any) -> date:
    text = str(value or "")
    if len(text) >= 10:
        return date.fromisoformat(text[:10])
    if len(text) == 7:
        return date.fromisoformat(text + "-01")
    if len(text) == 4:
        return date(int(text), 1, 1)
    return date.min


def _last_review(plan: Resource) -> date | None:
    for extension in plan.get("extension") or []:
        if extension.get("url") == LAST_REVIEW_EXTENSION:
            value = extension.get("valueDateTime") or extension.get("valueDate")
            if value:
                return _day(value)
    if plan.get("created"):
        return _day(plan["created"])
    return None


def _complexity_level(assessment: Resource) -> str | None:
    for prediction in assessment.get("prediction") or []:
        for coding in (prediction.get("outcome") or {}).get("coding") or []:
            if coding.get("system") == COMPLEXITY_CODE_SYSTEM:
                return str(coding.get("code"))
    return None


def _subject(resource: Resource) -> str | None:
    reference = (resource.get("subject") or {}).get("reference")
    return str(reference) if reference else None


def _reference_to(resource: Resource | None) -> str | None:
    if resource is None or not resource.get("id"):
        return None
    return f"{resource['resourceType']}/{resource['id']}"


def _response_key(response: Resource) -> str | None:
    if response.get("id"):
        return f"QuestionnaireResponse/{response['id']}"
    identifier = response.get("identifier") or {}
    if identifier.get("value"):
        return f"{identifier.get('system', '')}|{identifier['value']}"
    return None


def _narrative(result: Stratification) -> str:
    rows = (
        "".join(f"<li>{html.escape(hit.description)} (+{hit.points})</li>" for hit in result.hits)
        or "<li>No rule applied</li>"
    )
    return (
        '<div xmlns="http://www.w3.org/1999/xhtml">'
        f"<p>Care-coordination complexity: <b>{html.escape(result.display)}</b> (score {result.score}).</p>"
        f"<p>Plan of care review every {result.review_interval_days} days; next review by "
        f"{result.next_review.isoformat()}.</p><ul>{rows}</ul></div>"
    )


__all__ = [
    "LAST_REVIEW_EXTENSION",
    "NEXT_REVIEW_EXTENSION",
    "OverdueReview",
    "RuleHit",
    "Stratification",
    "assess_complexity",
    "complexity_risk_assessment",
    "overdue_reviews",
    "stratify",
]
