"""The official R4 Questionnaire/QuestionnaireResponse example pairs, checked as a partner would send them.

Several official examples do not match their questionnaire; the issues pinned here are real mismatches
in the examples (typos in linkIds and codes, answers of the wrong type), each named on its item.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fhirbridge.assessment import validate_response
from fhirbridge.formats.json import loads

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", ROOT / ".." / "shared")) / "fhir" / "r4-core-examples" / "json"

pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason="shared R4 examples not available")

EXPECTED_ERRORS = {
    "gcs": [],
    "f201-lifelines": [
        "QuestionnaireResponse.item[0]",  # nests an item under a boolean question that has none
        "QuestionnaireResponse.item[2].item[0].answer[0]",  # string answer to a boolean question
        "QuestionnaireResponse.item[2].item[1].answer[0]",
    ],
    "bluebook": [
        "QuestionnaireResponse.item[0].item[0].item[1].answer[0]",  # code 'f' where the options are 'F' and 'M'
        "QuestionnaireResponse.item[0].item[1].item[2].answer[0].item[0].item[0]",  # vitaminKDose1 vs vitaminiKDose1
        "QuestionnaireResponse.item[0].item[1].item[2].answer[0].item[0].item[1]",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_official_example_pairs(name: str) -> None:
    questionnaire = loads((EXAMPLES / f"questionnaire-example-{name}.json").read_bytes())
    response = loads((EXAMPLES / f"questionnaireresponse-example-{name}.json").read_bytes())
    issues = validate_response(questionnaire, response)
    assert [issue.expression[0] for issue in issues if issue.severity == "error"] == EXPECTED_ERRORS[name]
