"""Complexity stratification: from a needs assessment to a level, a RiskAssessment and a review date.

The rules live in ``profiles/questionnaires/stratification-rules.json`` (packed with the package) and
can be replaced per practice by passing another rules dict. Each scoring rule that holds adds its
points; the level is the highest whose ``minScore`` the total reaches, raised to any ``minimumLevel`` a
holding rule sets. The level's ``reviewIntervalDays`` after the assessment is when the plan of care is
next due for review. The RiskAssessment (``complexity.py``) names every rule that fired, so the level
can be explained to the family and the team.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fhirbridge.assessment.answers import enabled_answers
from fhirbridge.assessment.complexity import complexity_risk
from fhirbridge.assessment.definitions import default_rules
from fhirbridge.assessment.rules import RuleError, holds
from fhirbridge.assessment.values import day_of, reference_to
from fhirbridge.errors import Unprocessable

Resource = dict[str, Any]


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
    basis = response_reference or reference_to(response)
    if basis is None:
        raise Unprocessable(
            "The QuestionnaireResponse needs an id to be the basis of a RiskAssessment",
            expression="QuestionnaireResponse.id",
        )
    subject = response.get("subject")
    if not subject:
        raise Unprocessable("The QuestionnaireResponse has no subject", expression="QuestionnaireResponse.subject")
    return complexity_risk(
        stratification.level,
        display=stratification.display,
        review_interval_days=stratification.review_interval_days,
        subject=subject,
        occurrence=str(response.get("authored") or stratification.assessed.isoformat()),
        basis={"reference": basis},
        performer=response.get("author"),
        rationale=rationale(stratification),
        status="final" if response.get("status") in ("completed", "amended") else "preliminary",
    )


def rationale(stratification: Stratification) -> str:
    """Why the level: the score, the rules version and every rule that held with its points."""
    rules = f" (stratification rules {stratification.rules_version})" if stratification.rules_version else ""
    held = "; ".join(f"{hit.description} (+{hit.points})" for hit in stratification.hits) or "no rule applied"
    return f"Score {stratification.score}{rules}: {held}"


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
    return day_of(authored)


__all__ = [
    "RuleHit",
    "Stratification",
    "assess_complexity",
    "complexity_risk_assessment",
    "rationale",
    "stratify",
]
