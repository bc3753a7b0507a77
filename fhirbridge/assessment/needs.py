"""Needs identified by an assessment, from the ``needs`` section of the stratification rules file.

Each need becomes a health-concern Condition when the assessment is extracted; the linkIds its
condition reads tell which extracted Observations are its evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhirbridge.assessment.answers import enabled_answers
from fhirbridge.assessment.definitions import default_rules
from fhirbridge.assessment.rules import holds, referenced_link_ids

Resource = dict[str, Any]


@dataclass(frozen=True)
class Need:
    code: str
    display: str
    domain: str
    sdoh: bool
    evidence: tuple[str, ...]  # linkIds of the answers that show the need


def identified_needs(questionnaire: Resource, response: Resource, rules: Mapping[str, Any] | None = None) -> list[Need]:
    """The needs whose conditions hold for the response's enabled answers, in rules-file order."""
    rules = rules if rules is not None else default_rules()
    answers = enabled_answers(questionnaire, response)
    needs: list[Need] = []
    for need in rules.get("needs", []):
        if holds(need["when"], answers):
            evidence = tuple(sorted(link_id for link_id in referenced_link_ids(need["when"]) if answers.get(link_id)))
            needs.append(
                Need(
                    str(need["code"]),
                    str(need["display"]),
                    str(need.get("domain", "")),
                    bool(need.get("sdoh", False)),
                    evidence,
                )
            )
    return needs


__all__ = ["Need", "identified_needs"]
