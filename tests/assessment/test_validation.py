"""Validation of a QuestionnaireResponse against its Questionnaire, rule by rule."""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.assessment import require_valid_response, validate_response
from fhirbridge.errors import Issue, Unprocessable

URL = "http://example.org/Questionnaire/q"


def questionnaire(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "url": URL, "status": "active", "item": list(items)}


def response(*items: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "questionnaire": URL, "status": status, "item": list(items)}


def errors(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(issue.expression[0], issue.diagnostics) for issue in issues if issue.severity == "error"]


def error_paths(issues: list[Issue]) -> list[str]:
    return [path for path, _ in errors(issues)]


def test_a_complete_answer_has_no_issue() -> None:
    q = questionnaire({"linkId": "name", "type": "string", "required": True})
    assert validate_response(q, response({"linkId": "name", "answer": [{"valueString": "Ana"}]})) == []


def test_a_missing_required_answer_names_the_item() -> None:
    q = questionnaire({"linkId": "name", "type": "string", "required": True})
    issues = validate_response(q, response({"linkId": "name"}))
    assert errors(issues) == [("QuestionnaireResponse.item[0]", "No response answer found for required item 'name'")]
    assert issues[0].code == "required"


def test_a_required_item_absent_from_its_group_is_reported_on_the_group() -> None:
    q = questionnaire(
        {
            "linkId": "g",
            "type": "group",
            "item": [{"linkId": "a", "type": "string"}, {"linkId": "b", "type": "string", "required": True}],
        }
    )
    issues = validate_response(
        q, response({"linkId": "g", "item": [{"linkId": "a", "answer": [{"valueString": "x"}]}]})
    )
    assert error_paths(issues) == ["QuestionnaireResponse.item[0]"]
    assert "'b'" in errors(issues)[0][1]


def test_a_required_group_needs_content() -> None:
    q = questionnaire({"linkId": "g", "type": "group", "required": True, "item": [{"linkId": "a", "type": "string"}]})
    assert error_paths(validate_response(q, response())) == ["QuestionnaireResponse"]
    assert error_paths(validate_response(q, response({"linkId": "g"}))) == ["QuestionnaireResponse.item[0]"]


def test_required_items_are_not_enforced_while_the_response_is_in_progress() -> None:
    q = questionnaire({"linkId": "name", "type": "string", "required": True})
    assert validate_response(q, response(status="in-progress")) == []


@pytest.mark.parametrize(
    ("item_type", "good", "bad"),
    [
        ("boolean", {"valueBoolean": True}, {"valueString": "yes"}),
        ("integer", {"valueInteger": 3}, {"valueDecimal": 3.5}),
        ("decimal", {"valueDecimal": 3.5}, {"valueInteger": 3}),
        ("date", {"valueDate": "2026-01-02"}, {"valueDateTime": "2026-01-02T10:00:00Z"}),
        ("dateTime", {"valueDateTime": "2026-01-02T10:00:00Z"}, {"valueTime": "10:00:00"}),
        ("time", {"valueTime": "10:00:00"}, {"valueString": "ten"}),
        ("string", {"valueString": "x"}, {"valueCoding": {"code": "x"}}),
        ("text", {"valueString": "x"}, {"valueInteger": 1}),
        ("url", {"valueUri": "https://example.org"}, {"valueString": "https://example.org"}),
        ("quantity", {"valueQuantity": {"value": 1}}, {"valueDecimal": 1}),
        ("reference", {"valueReference": {"reference": "Patient/1"}}, {"valueString": "Patient/1"}),
        ("attachment", {"valueAttachment": {"url": "http://x/y"}}, {"valueUri": "http://x/y"}),
    ],
)
def test_answer_types_follow_the_item_type(item_type: str, good: dict[str, Any], bad: dict[str, Any]) -> None:
    q = questionnaire({"linkId": "q", "type": item_type})
    assert errors(validate_response(q, response({"linkId": "q", "answer": [good]}))) == []
    found = errors(validate_response(q, response({"linkId": "q", "answer": [bad]})))
    assert [path for path, _ in found] == ["QuestionnaireResponse.item[0].answer[0]"]
    assert "'q'" in found[0][1]


def test_group_and_display_items_cannot_have_answers() -> None:
    q = questionnaire({"linkId": "d", "type": "display"}, {"linkId": "g", "type": "group"})
    issues = validate_response(
        q,
        response({"linkId": "d", "answer": [{"valueString": "x"}]}, {"linkId": "g", "answer": [{"valueString": "x"}]}),
    )
    assert error_paths(issues) == ["QuestionnaireResponse.item[0]", "QuestionnaireResponse.item[1]"]


def test_answers_must_be_among_the_options() -> None:
    q = questionnaire(
        {
            "linkId": "c",
            "type": "choice",
            "repeats": True,
            "answerOption": [
                {"valueCoding": {"system": "http://s", "code": "a"}},
                {"valueCoding": {"system": "http://s", "code": "b"}},
            ],
        }
    )
    ok = response({"linkId": "c", "answer": [{"valueCoding": {"system": "http://s", "code": "b"}}]})
    bad = response(
        {
            "linkId": "c",
            "answer": [
                {"valueCoding": {"system": "http://s", "code": "a"}},
                {"valueCoding": {"system": "http://other", "code": "a"}},
            ],
        }
    )
    assert validate_response(q, ok) == []
    assert error_paths(validate_response(q, bad)) == ["QuestionnaireResponse.item[0].answer[1]"]


def test_string_and_integer_options_are_checked_too() -> None:
    q = questionnaire({"linkId": "n", "type": "choice", "answerOption": [{"valueInteger": 1}, {"valueInteger": 2}]})
    assert validate_response(q, response({"linkId": "n", "answer": [{"valueInteger": 2}]})) == []
    assert error_paths(validate_response(q, response({"linkId": "n", "answer": [{"valueInteger": 3}]}))) == [
        "QuestionnaireResponse.item[0].answer[0]"
    ]


def test_open_choice_accepts_free_text_but_not_unknown_codes() -> None:
    q = questionnaire(
        {
            "linkId": "o",
            "type": "open-choice",
            "repeats": True,
            "answerOption": [{"valueCoding": {"system": "http://s", "code": "a"}}],
        }
    )
    good = response({"linkId": "o", "answer": [{"valueString": "something else"}]})
    bad = response({"linkId": "o", "answer": [{"valueCoding": {"system": "http://s", "code": "z"}}]})
    assert validate_response(q, good) == []
    assert error_paths(validate_response(q, bad)) == ["QuestionnaireResponse.item[0].answer[0]"]


def test_answer_value_sets_of_fhirbridge_are_known_and_others_can_be_supplied() -> None:
    ours = questionnaire(
        {"linkId": "f", "type": "choice", "answerValueSet": "http://fhirbridge.org/fhir/ValueSet/cc-frequency"}
    )
    system = "http://fhirbridge.org/fhir/CodeSystem/care-coordination-assessment"
    assert (
        validate_response(
            ours, response({"linkId": "f", "answer": [{"valueCoding": {"system": system, "code": "often"}}]})
        )
        == []
    )
    assert error_paths(
        validate_response(
            ours, response({"linkId": "f", "answer": [{"valueCoding": {"system": system, "code": "health-poor"}}]})
        )
    ) == ["QuestionnaireResponse.item[0].answer[0]"]

    theirs = questionnaire({"linkId": "f", "type": "choice", "answerValueSet": "http://example.org/vs"})
    answer = response({"linkId": "f", "answer": [{"valueCoding": {"system": "http://s", "code": "x"}}]})
    unknown = validate_response(theirs, answer)
    assert [issue.severity for issue in unknown] == ["warning"]
    supplied = validate_response(theirs, answer, value_sets={"http://example.org/vs": {("http://s", "y")}})
    assert error_paths(supplied) == ["QuestionnaireResponse.item[0].answer[0]"]


def test_an_exclusive_option_cannot_be_combined() -> None:
    exclusive = {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive", "valueBoolean": True}
    q = questionnaire(
        {
            "linkId": "c",
            "type": "choice",
            "repeats": True,
            "answerOption": [
                {"valueCoding": {"system": "http://s", "code": "a"}},
                {"extension": [exclusive], "valueCoding": {"system": "http://s", "code": "none"}},
            ],
        }
    )
    both = response(
        {
            "linkId": "c",
            "answer": [
                {"valueCoding": {"system": "http://s", "code": "a"}},
                {"valueCoding": {"system": "http://s", "code": "none"}},
            ],
        }
    )
    assert error_paths(validate_response(q, both)) == ["QuestionnaireResponse.item[0].answer[1]"]


def test_a_non_repeating_item_takes_one_answer() -> None:
    q = questionnaire({"linkId": "s", "type": "string"})
    two = response({"linkId": "s", "answer": [{"valueString": "a"}, {"valueString": "b"}]})
    assert error_paths(validate_response(q, two)) == ["QuestionnaireResponse.item[0]"]
    q["item"][0]["repeats"] = True
    assert validate_response(q, two) == []


def test_min_and_max_occurs() -> None:
    ext = "http://hl7.org/fhir/StructureDefinition/questionnaire-"
    q = questionnaire(
        {
            "linkId": "s",
            "type": "string",
            "repeats": True,
            "extension": [{"url": ext + "minOccurs", "valueInteger": 2}, {"url": ext + "maxOccurs", "valueInteger": 3}],
        }
    )
    one = response({"linkId": "s", "answer": [{"valueString": "a"}]})
    four = response({"linkId": "s", "answer": [{"valueString": c} for c in "abcd"]})
    assert "minimum number of answers is 2" in errors(validate_response(q, one))[0][1]
    assert "maximum number of answers is 3" in errors(validate_response(q, four))[0][1]


def test_min_and_max_length() -> None:
    q = questionnaire(
        {
            "linkId": "s",
            "type": "string",
            "maxLength": 5,
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minLength", "valueInteger": 2}],
        }
    )
    assert validate_response(q, response({"linkId": "s", "answer": [{"valueString": "abc"}]})) == []
    short = errors(validate_response(q, response({"linkId": "s", "answer": [{"valueString": "a"}]})))
    long = errors(validate_response(q, response({"linkId": "s", "answer": [{"valueString": "abcdef"}]})))
    assert "shorter" in short[0][1] and short[0][0] == "QuestionnaireResponse.item[0].answer[0]"
    assert "longer" in long[0][1]


@pytest.mark.parametrize(
    ("value_type", "minimum", "maximum", "inside", "below", "above"),
    [
        ("Integer", 0, 10, 5, -1, 11),
        ("Decimal", 1.5, 2.5, 2.0, 1.0, 3.0),
        ("Date", "2020-01-01", "2022-12-31", "2021-06-01", "2019-12-31", "2023-01-01"),
    ],
)
def test_min_and_max_value(value_type: str, minimum: Any, maximum: Any, inside: Any, below: Any, above: Any) -> None:
    base = "http://hl7.org/fhir/StructureDefinition/"
    item_type = value_type[0].lower() + value_type[1:]
    q = questionnaire(
        {
            "linkId": "v",
            "type": item_type,
            "extension": [
                {"url": base + "minValue", f"value{value_type}": minimum},
                {"url": base + "maxValue", f"value{value_type}": maximum},
            ],
        }
    )
    key = f"value{value_type}"
    assert validate_response(q, response({"linkId": "v", "answer": [{key: inside}]})) == []
    assert "less than" in errors(validate_response(q, response({"linkId": "v", "answer": [{key: below}]})))[0][1]
    assert "greater than" in errors(validate_response(q, response({"linkId": "v", "answer": [{key: above}]})))[0][1]


def gate(operator: str, **answer: Any) -> dict[str, Any]:
    ((kind, value),) = answer.items()
    return {"question": "age", "operator": operator, "answer" + kind: value}


@pytest.mark.parametrize(
    ("condition", "age", "enabled"),
    [
        (gate("=", Integer=5), 5, True),
        (gate("=", Integer=5), 6, False),
        (gate("!=", Integer=5), 6, True),
        (gate("!=", Integer=5), 5, False),
        (gate(">", Integer=5), 6, True),
        (gate(">", Integer=5), 5, False),
        (gate(">=", Integer=5), 5, True),
        (gate(">=", Integer=5), 4, False),
        (gate("<", Integer=5), 4, True),
        (gate("<", Integer=5), 5, False),
        (gate("<=", Integer=5), 5, True),
        (gate("<=", Integer=5), 6, False),
        (gate("exists", Boolean=True), 1, True),
        (gate("exists", Boolean=True), None, False),
        (gate("exists", Boolean=False), None, True),
        (gate("exists", Boolean=False), 1, False),
        (gate("=", Integer=5), None, False),
    ],
)
def test_enable_when_operators(condition: dict[str, Any], age: int | None, enabled: bool) -> None:
    q = questionnaire(
        {"linkId": "age", "type": "integer"},
        {"linkId": "school", "type": "string", "required": True, "enableWhen": [condition]},
    )
    age_item = {"linkId": "age", "answer": [{"valueInteger": age}]} if age is not None else {"linkId": "age"}
    answered = validate_response(q, response(age_item, {"linkId": "school", "answer": [{"valueString": "x"}]}))
    unanswered = validate_response(q, response(age_item))
    if enabled:
        assert errors(answered) == []
        assert "required item 'school'" in errors(unanswered)[0][1]
    else:
        assert error_paths(answered) == ["QuestionnaireResponse.item[1]"]
        assert "not enabled" in errors(answered)[0][1]
        assert errors(unanswered) == []


def test_coding_conditions_compare_system_and_code() -> None:
    coding = {"system": "http://s", "code": "yes"}
    q = questionnaire(
        {
            "linkId": "c",
            "type": "choice",
            "answerOption": [{"valueCoding": coding}, {"valueCoding": {"system": "http://s", "code": "no"}}],
        },
        {"linkId": "why", "type": "string", "enableWhen": [{"question": "c", "operator": "=", "answerCoding": coding}]},
    )
    yes = response(
        {"linkId": "c", "answer": [{"valueCoding": coding}]}, {"linkId": "why", "answer": [{"valueString": "x"}]}
    )
    no = response(
        {"linkId": "c", "answer": [{"valueCoding": {"system": "http://s", "code": "no"}}]},
        {"linkId": "why", "answer": [{"valueString": "x"}]},
    )
    assert validate_response(q, yes) == []
    assert error_paths(validate_response(q, no)) == ["QuestionnaireResponse.item[1]"]


@pytest.mark.parametrize(
    ("behavior", "a", "b", "enabled"),
    [("all", True, True, True), ("all", True, False, False), ("any", True, False, True), ("any", False, False, False)],
)
def test_enable_behavior(behavior: str, a: bool, b: bool, enabled: bool) -> None:
    q = questionnaire(
        {"linkId": "a", "type": "boolean"},
        {"linkId": "b", "type": "boolean"},
        {
            "linkId": "c",
            "type": "string",
            "enableBehavior": behavior,
            "enableWhen": [
                {"question": "a", "operator": "=", "answerBoolean": True},
                {"question": "b", "operator": "=", "answerBoolean": True},
            ],
        },
    )
    r = response(
        {"linkId": "a", "answer": [{"valueBoolean": a}]},
        {"linkId": "b", "answer": [{"valueBoolean": b}]},
        {"linkId": "c", "answer": [{"valueString": "x"}]},
    )
    assert (errors(validate_response(q, r)) == []) is enabled


def test_an_item_gated_on_a_disabled_item_is_disabled_too() -> None:
    q = questionnaire(
        {"linkId": "a", "type": "boolean"},
        {"linkId": "b", "type": "boolean", "enableWhen": [{"question": "a", "operator": "=", "answerBoolean": True}]},
        {
            "linkId": "c",
            "type": "string",
            "enableWhen": [{"question": "b", "operator": "exists", "answerBoolean": True}],
        },
    )
    r = response(
        {"linkId": "a", "answer": [{"valueBoolean": False}]},
        {"linkId": "b", "answer": [{"valueBoolean": True}]},
        {"linkId": "c", "answer": [{"valueString": "x"}]},
    )
    assert error_paths(validate_response(q, r)) == ["QuestionnaireResponse.item[1]", "QuestionnaireResponse.item[2]"]


def test_conditions_inside_a_repeating_group_read_their_own_repetition() -> None:
    q = questionnaire(
        {
            "linkId": "member",
            "type": "group",
            "repeats": True,
            "item": [
                {"linkId": "works", "type": "boolean"},
                {
                    "linkId": "employer",
                    "type": "string",
                    "required": True,
                    "enableWhen": [{"question": "works", "operator": "=", "answerBoolean": True}],
                },
            ],
        }
    )
    r = response(
        {
            "linkId": "member",
            "item": [
                {"linkId": "works", "answer": [{"valueBoolean": True}]},
                {"linkId": "employer", "answer": [{"valueString": "Acme"}]},
            ],
        },
        {
            "linkId": "member",
            "item": [
                {"linkId": "works", "answer": [{"valueBoolean": False}]},
                {"linkId": "employer", "answer": [{"valueString": "Acme"}]},
            ],
        },
    )
    assert error_paths(validate_response(q, r)) == ["QuestionnaireResponse.item[1].item[1]"]


def test_nested_answer_items_are_validated_with_their_path() -> None:
    q = questionnaire(
        {
            "linkId": "g",
            "type": "group",
            "item": [{"linkId": "has", "type": "boolean", "item": [{"linkId": "detail", "type": "integer"}]}],
        }
    )
    r = response(
        {
            "linkId": "g",
            "item": [
                {
                    "linkId": "has",
                    "answer": [
                        {"valueBoolean": True, "item": [{"linkId": "detail", "answer": [{"valueString": "two"}]}]}
                    ],
                }
            ],
        }
    )
    assert error_paths(validate_response(q, r)) == ["QuestionnaireResponse.item[0].item[0].answer[0].item[0].answer[0]"]


def test_unknown_misplaced_and_out_of_order_link_ids() -> None:
    q = questionnaire(
        {"linkId": "a", "type": "string"}, {"linkId": "g", "type": "group", "item": [{"linkId": "b", "type": "string"}]}
    )
    unknown = validate_response(q, response({"linkId": "zz", "answer": [{"valueString": "x"}]}))
    assert errors(unknown) == [("QuestionnaireResponse.item[0]", "LinkId 'zz' not found in questionnaire")]
    misplaced = validate_response(q, response({"linkId": "b", "answer": [{"valueString": "x"}]}))
    assert "not allowed at this place" in errors(misplaced)[0][1]
    swapped = validate_response(
        q,
        response(
            {"linkId": "g", "item": [{"linkId": "b", "answer": [{"valueString": "x"}]}]},
            {"linkId": "a", "answer": [{"valueString": "x"}]},
        ),
    )
    assert "out of order" in errors(swapped)[0][1]


def test_item_text_must_match_the_questionnaire() -> None:
    q = questionnaire({"linkId": "a", "text": "Name", "type": "string"})
    issues = validate_response(q, response({"linkId": "a", "text": "Surname", "answer": [{"valueString": "x"}]}))
    assert [(issue.severity, issue.expression[0]) for issue in issues] == [("warning", "QuestionnaireResponse.item[0]")]


def test_a_response_to_another_questionnaire_is_an_error() -> None:
    q = questionnaire({"linkId": "a", "type": "string"})
    r = response()
    r["questionnaire"] = "http://example.org/Questionnaire/other"
    assert error_paths(validate_response(q, r)) == ["QuestionnaireResponse.questionnaire"]


def test_regex_decimal_places_uuid_and_references() -> None:
    base = "http://hl7.org/fhir/StructureDefinition/"
    q = questionnaire(
        {"linkId": "mail", "type": "string", "extension": [{"url": base + "regex", "valueString": "[^@]+@[^@]+"}]},
        {"linkId": "dose", "type": "decimal", "extension": [{"url": base + "maxDecimalPlaces", "valueInteger": 1}]},
        {"linkId": "id", "type": "url"},
        {
            "linkId": "who",
            "type": "reference",
            "extension": [{"url": base + "questionnaire-referenceResource", "valueCode": "Patient"}],
        },
    )
    r = response(
        {"linkId": "mail", "answer": [{"valueString": "no-at-sign"}]},
        {"linkId": "dose", "answer": [{"valueDecimal": 1.25}]},
        {"linkId": "id", "answer": [{"valueUri": "urn:uuid:NOT-A-UUID"}]},
        {"linkId": "who", "answer": [{"valueReference": {"reference": "Organization/1"}}]},
    )
    assert error_paths(validate_response(q, r)) == [f"QuestionnaireResponse.item[{n}].answer[0]" for n in range(4)]


def test_contained_value_sets_are_used_for_answer_value_sets() -> None:
    q = questionnaire({"linkId": "eye", "type": "choice", "answerValueSet": "#eye"})
    q["contained"] = [
        {
            "resourceType": "ValueSet",
            "id": "eye",
            "status": "active",
            "compose": {
                "include": [{"system": "http://loinc.org", "concept": [{"code": "LA6556-0"}, {"code": "LA6557-8"}]}]
            },
        }
    ]
    good = response({"linkId": "eye", "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6557-8"}}]})
    bad = response({"linkId": "eye", "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA0000-0"}}]})
    assert validate_response(q, good) == []
    assert error_paths(validate_response(q, bad)) == ["QuestionnaireResponse.item[0].answer[0]"]


def test_a_relative_reference_to_the_questionnaire_is_accepted() -> None:
    q = questionnaire({"linkId": "a", "type": "string"}) | {"id": "q"}
    r = response() | {"questionnaire": "Questionnaire/q"}
    assert validate_response(q, r) == []


def test_long_enable_when_chains_are_followed_to_their_start_and_cycles_end() -> None:
    chain = [{"linkId": "i0", "type": "boolean"}] + [
        {"linkId": f"i{k}", "type": "boolean", "enableWhen": [
            {"question": f"i{k - 1}", "operator": "=", "answerBoolean": True}]}
        for k in range(1, 20)
    ]  # fmt: skip
    answered = [{"linkId": f"i{k}", "answer": [{"valueBoolean": k > 0}]} for k in range(20)]
    assert error_paths(validate_response(questionnaire(*chain), response(*answered))) == [
        f"QuestionnaireResponse.item[{k}]" for k in range(1, 20)
    ]
    chain[0]["enableWhen"] = [{"question": "i19", "operator": "=", "answerBoolean": True}]
    validate_response(questionnaire(*chain), response(*answered))  # terminates


def test_require_valid_response_raises_a_422_outcome_naming_the_items() -> None:
    q = questionnaire({"linkId": "name", "text": "Name", "type": "string", "required": True})
    with pytest.raises(Unprocessable) as raised:
        require_valid_response(q, response({"linkId": "name"}))
    outcome = raised.value.operation_outcome()
    assert raised.value.status == 422
    assert outcome["issue"][0]["expression"] == ["QuestionnaireResponse.item[0]"]
    assert "'name'" in outcome["issue"][0]["diagnostics"]
    warnings = require_valid_response(q, response({"linkId": "name", "text": "Nom", "answer": [{"valueString": "x"}]}))
    assert [issue.severity for issue in warnings] == ["warning"]
