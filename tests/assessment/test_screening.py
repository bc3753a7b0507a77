"""The screening decides whether the full needs assessment is needed (CSHCN Screener pattern)."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.assessment import screening_outcome, screening_questionnaire, validate_response
from tests.assessment.builders import response_to

NO_TO_ALL = {f"screen-{stem}": False for stem in ("medication", "services", "limitation", "therapy", "behavioral")}


def screening(**answers: Any) -> dict[str, Any]:
    given = {**NO_TO_ALL, "screen-family-request": False}
    given.update({key.replace("_", "-"): value for key, value in answers.items()})
    return response_to(screening_questionnaire(), given)


def test_no_to_everything_means_no_full_assessment() -> None:
    response = screening()
    assert validate_response(screening_questionnaire(), response) == []
    result = screening_outcome(response)
    assert (result.needs_full_assessment, result.criteria_met, result.complete) == (False, (), True)


def test_a_stem_qualifies_only_with_all_its_follow_ups() -> None:
    qualifying = screening(screen_medication=True, screen_medication_condition=True, screen_medication_duration=True)
    assert validate_response(screening_questionnaire(), qualifying) == []
    assert screening_outcome(qualifying).criteria_met == ("medication",)
    assert screening_outcome(qualifying).needs_full_assessment

    short_lived = screening(screen_medication=True, screen_medication_condition=True, screen_medication_duration=False)
    assert not screening_outcome(short_lived).needs_full_assessment


def test_the_behavioral_stem_has_only_the_duration_follow_up() -> None:
    result = screening_outcome(screening(screen_behavioral=True, screen_behavioral_duration=True))
    assert result.criteria_met == ("behavioral",)


def test_a_family_asking_for_help_gets_the_full_assessment() -> None:
    result = screening_outcome(screening(screen_family_request=True))
    assert (result.needs_full_assessment, result.family_request, result.criteria_met) == (True, True, ())


def test_an_unanswered_follow_up_leaves_the_screening_incomplete() -> None:
    result = screening_outcome(screening(screen_therapy=True, screen_therapy_condition=True))
    assert (result.needs_full_assessment, result.complete) == (False, False)


@pytest.mark.parametrize("stem", ["medication", "services", "limitation", "therapy"])
def test_follow_ups_of_a_no_are_disabled(stem: str) -> None:
    stale = screening(**{f"screen_{stem}_condition": True, f"screen_{stem}_duration": True})
    issues = validate_response(screening_questionnaire(), stale)
    assert {issue.severity for issue in issues} == {"error"}
    assert all("not enabled" in issue.diagnostics for issue in issues)
    assert not screening_outcome(stale).needs_full_assessment
