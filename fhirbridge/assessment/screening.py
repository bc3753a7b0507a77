"""The screening decision: does this child need the full care-coordination needs assessment?

The screening form follows the CSHCN Screener: each stem (prescription medicine, more services than
usual, functional limitation, special therapy, emotional/developmental/behavioral problem) qualifies
only when answered yes together with its follow-up questions (because of a health condition; lasting or
expected to last 12 months or more). Any qualifying stem, or a family asking for help with coordination,
means the full assessment is needed. A screening sets no complexity level: only the full assessment
is stratified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.assessment.answers import answer_key, enabled_answers
from fhirbridge.assessment.definitions import SCREENING_URL, screening_questionnaire

Resource = dict[str, Any]
STEMS = ("medication", "services", "limitation", "therapy", "behavioral")


@dataclass(frozen=True)
class ScreeningResult:
    needs_full_assessment: bool
    criteria_met: tuple[str, ...]  # stems that qualified, e.g. ("medication", "therapy")
    family_request: bool
    complete: bool  # every enabled question of the screening was answered


def is_screening(response: Resource) -> bool:
    """Whether a QuestionnaireResponse answers the screening (by canonical URL, any version, or as the
    local ``Questionnaire/{id}`` of the published screening)."""
    canonical = str(response.get("questionnaire") or "").split("|", 1)[0]
    return canonical in (SCREENING_URL, f"Questionnaire/{SCREENING_URL.rsplit('/', 1)[1]}")


def screening_outcome(response: Resource, questionnaire: Resource | None = None) -> ScreeningResult:
    """Decide from a screening response whether the full needs assessment is needed."""
    questionnaire = questionnaire or screening_questionnaire()
    answers = enabled_answers(questionnaire, response)

    def yes(link_id: str) -> bool | None:
        values = [answer_key(answer) for answer in answers.get(link_id, [])]
        return None if not values else values[0] is True

    met: list[str] = []
    complete = True
    for stem in STEMS:
        chain = [f"screen-{stem}", f"screen-{stem}-condition", f"screen-{stem}-duration"]
        links = [link_id for link_id in chain if _defined(questionnaire, link_id)]
        verdicts = [yes(link_id) for link_id in links]
        if verdicts[0] is None:
            complete = False
        if all(verdict is True for verdict in verdicts):
            met.append(stem)
        elif any(verdict is True for verdict in verdicts) and None in verdicts:
            # A yes whose follow-up is unanswered: the screening is unfinished, not negative.
            complete = False
    family_request = yes("screen-family-request") is True
    if yes("screen-family-request") is None:
        complete = False
    return ScreeningResult(bool(met) or family_request, tuple(met), family_request, complete)


def _defined(questionnaire: Resource, link_id: str) -> bool:
    def visit(items: list[Resource]) -> bool:
        return any(item.get("linkId") == link_id or visit(item.get("item") or []) for item in items)

    return visit(questionnaire.get("item") or [])


__all__ = ["STEMS", "ScreeningResult", "is_screening", "screening_outcome"]
