"""Validation of a QuestionnaireResponse against its Questionnaire.

Checks what the Questionnaire says about each item: linkIds and their nesting and order, item text,
required items and groups (when the response is completed), answer types per item type, answer options
and value sets, exclusive options, ``enableWhen``/``enableBehavior`` (answers to disabled items are
errors), repeats and min/max occurs, min/max length, regex, min/max value and quantity, decimal places,
unit options, attachment type and size, reference targets. Every issue names the item with a FHIRPath
``expression`` (``QuestionnaireResponse.item[2].item[0].answer[0]``) and its linkId in ``diagnostics``.

``check_response`` is what a write and ``$validate`` apply: every check to a finished response
(``completed``, ``amended``); to one still being filled in (``in-progress``, ``stopped``) the structure
only (linkIds, nesting, order, repeats, answer types), its content problems (options, enableWhen,
formats, ranges) reported as warnings and its completeness not asked for.

The checks of one answer's value (formats, ranges, units, attachments, references) and the reporting of
issues are in ``answer_values``, whose ``AnswerValueChecks`` the validator here builds on.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fhirbridge.assessment.answer_values import EXT, AnswerValueChecks, Resource, ValueSets, extension_value
from fhirbridge.assessment.answers import EnableWhen, ResponseItem, children, typed_value
from fhirbridge.assessment.definitions import value_set_codes
from fhirbridge.errors import Issue, Unprocessable

# The answer value[x] types each item type accepts (choice items also accept their options' types).
ANSWER_TYPES: dict[str, frozenset[str]] = {
    "boolean": frozenset({"Boolean"}),
    "decimal": frozenset({"Decimal"}),
    "integer": frozenset({"Integer"}),
    "date": frozenset({"Date"}),
    "dateTime": frozenset({"DateTime"}),
    "time": frozenset({"Time"}),
    "string": frozenset({"String"}),
    "text": frozenset({"String"}),
    "url": frozenset({"Uri"}),
    "choice": frozenset({"Coding"}),
    "open-choice": frozenset({"Coding", "String"}),
    "attachment": frozenset({"Attachment"}),
    "reference": frozenset({"Reference"}),
    "quantity": frozenset({"Quantity"}),
}
FHIR_TYPE_NAMES = {
    "Boolean": "boolean",
    "Decimal": "decimal",
    "Integer": "integer",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
    "String": "string",
    "Uri": "uri",
    "Coding": "Coding",
    "Quantity": "Quantity",
    "Reference": "Reference",
    "Attachment": "Attachment",
}
NO_ANSWER_TYPES = {"group", "display", "question"}


FINISHED_STATUSES = ("completed", "amended")


def validate_response(
    questionnaire: Resource,
    response: Resource,
    *,
    value_sets: ValueSets | None = None,
    structure_only: bool = False,
) -> list[Issue]:
    """Every problem of ``response`` measured against ``questionnaire``, errors and warnings alike.

    ``value_sets`` maps ValueSet URLs to their ``(system, code)`` pairs for ``answerValueSet`` checks;
    fhirbridge's own value sets are always known. An answer bound to an unknown value set gets a warning.
    Required items and groups are asked for only when the response is finished. ``structure_only``
    turns the problems of the answers' content (options, enableWhen, formats, ranges) into warnings.
    """
    known: dict[str, Collection[tuple[str, str]]] = dict(value_set_codes())
    known.update(_contained_value_sets(questionnaire))
    known.update(value_sets or {})
    return _Validator(questionnaire, response, known, structure_only=structure_only).run()


def check_response(questionnaire: Resource, response: Resource, *, value_sets: ValueSets | None = None) -> list[Issue]:
    """The check of a response as it is written or ``$validate``d: all of it once the response is
    finished, only its structure while it is being filled in (a draft may hold an answer a later one
    disables, or a value still being typed)."""
    unfinished = response.get("status") not in FINISHED_STATUSES
    return validate_response(questionnaire, response, value_sets=value_sets, structure_only=unfinished)


def require_valid_response(
    questionnaire: Resource, response: Resource, *, value_sets: ValueSets | None = None
) -> list[Issue]:
    """Raise ``Unprocessable`` (422, every issue in its OperationOutcome) when the response has an error;
    otherwise return its warnings and information, for the caller to pass on."""
    issues = validate_response(questionnaire, response, value_sets=value_sets)
    if any(issue.severity in ("error", "fatal") for issue in issues):
        raise Unprocessable(issues=issues)
    return issues


class _Validator(AnswerValueChecks):
    def __init__(
        self, questionnaire: Resource, response: Resource, value_sets: ValueSets, *, structure_only: bool
    ) -> None:
        self.questionnaire = questionnaire
        self.response = response
        self.value_sets = value_sets
        self.enable_when = EnableWhen(questionnaire, response)
        self.issues: list[Issue] = []
        self.check_required = response.get("status") in FINISHED_STATUSES
        self.structure_only = structure_only

    def run(self) -> list[Issue]:
        self._check_header()
        self._check_items(self.questionnaire.get("item") or [], None, "QuestionnaireResponse")
        return self.issues

    # -- the response as a whole ------------------------------------------------------------------

    def _check_header(self) -> None:
        if self.response.get("resourceType") != "QuestionnaireResponse":
            self.error("QuestionnaireResponse", "The resource is not a QuestionnaireResponse", "structure")
        canonical = str(self.response.get("questionnaire") or "").split("|", 1)[0]
        url = self.questionnaire.get("url")
        local = f"Questionnaire/{self.questionnaire.get('id')}"
        if canonical and url and canonical not in (url, local):
            self.error(
                "QuestionnaireResponse.questionnaire",
                f"The response answers '{canonical}', not the questionnaire '{url}'",
            )
        authored = str(self.response.get("authored") or "")
        period = self.questionnaire.get("effectivePeriod") or {}
        if authored and period.get("start") and authored[: len(period["start"])] < period["start"]:
            self.warning(
                "QuestionnaireResponse.authored",
                f"The authored date '{authored}' is before the start of the questionnaire's effective period "
                f"('{period['start']}')",
            )
        if authored and period.get("end") and authored[: len(period["end"])] > period["end"]:
            self.warning(
                "QuestionnaireResponse.authored",
                f"The authored date '{authored}' is after the end of the questionnaire's effective period "
                f"('{period['end']}')",
            )

    # -- items ------------------------------------------------------------------------------------

    def _check_items(self, definitions: list[Resource], parent: ResponseItem | None, parent_path: str) -> None:
        by_link_id = {str(definition.get("linkId")): definition for definition in definitions}
        order = {link_id: position for position, link_id in enumerate(by_link_id)}
        entries = list(children(parent, self.response))
        last_position = -1
        for entry in entries:
            definition = by_link_id.get(entry.link_id)
            if definition is None:
                if entry.link_id in self.enable_when.definitions:
                    self.error(entry.path, f"Item '{entry.link_id}' is not allowed at this place in the response")
                else:
                    self.error(entry.path, f"LinkId '{entry.link_id}' not found in questionnaire")
                continue
            position = order[entry.link_id]
            if position < last_position:
                self.error(entry.path, f"Item '{entry.link_id}' is out of order: items must follow the questionnaire")
            last_position = max(last_position, position)
        for definition in definitions:
            link_id = str(definition.get("linkId"))
            matching = [entry for entry in entries if entry.link_id == link_id]
            self._check_definition(definition, matching, parent, parent_path)

    def _check_definition(
        self, definition: Resource, entries: list[ResponseItem], parent: ResponseItem | None, parent_path: str
    ) -> None:
        link_id = str(definition.get("linkId"))
        kind = definition.get("type")
        enabled = self.enable_when.enabled(definition, parent) and (
            parent is None or self.enable_when.enabled_in_context(parent)
        )
        if not enabled:
            for entry in entries:
                if _has_content(entry.item):
                    self.content_error(entry.path, f"Item '{link_id}' is not enabled (enableWhen) but has answers")
            return
        if len(entries) > 1 and not (kind == "group" and definition.get("repeats")):
            for entry in entries[1:]:
                self.error(entry.path, f"Only one response item with linkId '{link_id}' allowed")
        if kind == "group":
            self._check_group(definition, entries, parent_path)
        else:
            self._check_question(definition, entries, parent_path)
        for entry in entries:
            self._check_text(definition, entry)

    def _check_group(self, definition: Resource, entries: list[ResponseItem], parent_path: str) -> None:
        link_id = str(definition.get("linkId"))
        filled = [entry for entry in entries if _has_content(entry.item)]
        if self.check_required and definition.get("required") and not filled:
            where = entries[0].path if entries else parent_path
            message = "No sub-items found for required group" if entries else "No response found for required group"
            self.error(where, f"{message} '{link_id}'", "required")
        self._check_occurs(definition, len(filled), entries[0].path if entries else parent_path)
        for entry in entries:
            if entry.answers:
                self.error(entry.path, f"Item '{link_id}' is a group and cannot have answers")
            self._check_items(definition.get("item") or [], entry, entry.path)

    def _check_question(self, definition: Resource, entries: list[ResponseItem], parent_path: str) -> None:
        link_id = str(definition.get("linkId"))
        kind = str(definition.get("type"))
        if kind in NO_ANSWER_TYPES:
            for entry in entries:
                if entry.answers:
                    self.error(entry.path, f"Items of type '{kind}' cannot have answers ('{link_id}')")
            return
        answer_count = sum(len(entry.answers) for entry in entries)
        if self.check_required and definition.get("required") and answer_count == 0:
            where = entries[0].path if entries else parent_path
            self.error(where, f"No response answer found for required item '{link_id}'", "required")
        for entry in entries:
            if len(entry.answers) > 1 and not definition.get("repeats"):
                self.error(entry.path, f"Item '{link_id}' does not repeat: only one answer allowed")
            self._check_occurs(definition, len(entry.answers), entry.path)
            self._check_answers(definition, entry)
            if entry.item.get("item") and not definition.get("item"):
                self.error(entry.path, f"Item '{link_id}' has no child items in the questionnaire")
            elif definition.get("item"):
                if entry.item.get("item"):
                    self.error(entry.path, f"Child items of question '{link_id}' belong inside its answers")
                for answer_index, answer in enumerate(entry.answers):
                    if answer.get("item"):
                        self._check_items(definition["item"], entry, f"{entry.path}.answer[{answer_index}]")

    def _check_occurs(self, definition: Resource, count: int, where: str) -> None:
        link_id = definition.get("linkId")
        minimum = extension_value(definition, EXT + "questionnaire-minOccurs")
        maximum = extension_value(definition, EXT + "questionnaire-maxOccurs")
        if self.check_required and minimum is not None and count < int(minimum):
            self.error(where, f"Item '{link_id}': the minimum number of answers is {minimum} but this has {count}")
        if maximum is not None and count > int(maximum):
            self.error(where, f"Item '{link_id}': the maximum number of answers is {maximum} but this has {count}")

    def _check_text(self, definition: Resource, entry: ResponseItem) -> None:
        text = entry.item.get("text")
        if text is not None and definition.get("text") is not None and text != definition["text"]:
            self.warning(
                entry.path,
                f"Item '{entry.link_id}': text '{text}' differs from the questionnaire's '{definition['text']}'",
            )

    # -- answers ----------------------------------------------------------------------------------

    def _check_answers(self, definition: Resource, entry: ResponseItem) -> None:
        kind = str(definition.get("type"))
        options = definition.get("answerOption") or []
        allowed = set(ANSWER_TYPES.get(kind, frozenset()))
        option_types = {typed[0] for option in options if (typed := typed_value(option)) is not None}
        if kind in ("choice", "open-choice"):
            allowed |= option_types
            if not options and not definition.get("answerValueSet"):
                allowed |= {"String", "Integer", "Date", "Time"}
        exclusive = {
            _option_key(typed)
            for option in options
            if extension_value(option, EXT + "questionnaire-optionExclusive") is True
            and (typed := typed_value(option)) is not None
        }
        for index, answer in enumerate(entry.answers):
            where = f"{entry.path}.answer[{index}]"
            typed = typed_value(answer)
            if typed is None:
                self.error(where, f"Item '{entry.link_id}': the answer has no value")
                continue
            answer_type, value = typed
            if answer_type not in allowed:
                expected = " or ".join(sorted(FHIR_TYPE_NAMES[name] for name in allowed)) or kind
                self.error(
                    where,
                    f"Item '{entry.link_id}': answer value must be of the type {expected} not "
                    f"{FHIR_TYPE_NAMES[answer_type]}",
                    "value",
                )
                continue
            self._check_option(definition, entry, where, answer_type, value)
            self._check_value(definition, entry, where, answer_type, value)
            if exclusive and len(entry.answers) > 1 and _option_key(typed) in exclusive:
                self.content_error(
                    where,
                    f"Item '{entry.link_id}': answer {_describe(typed)} is an exclusive option and cannot be "
                    "selected with other answers",
                )

    def _check_option(self, definition: Resource, entry: ResponseItem, where: str, kind: str, value: Any) -> None:
        link_id = entry.link_id
        options = definition.get("answerOption") or []
        open_string = definition.get("type") == "open-choice" and kind == "String"
        if options and not open_string:
            if not _in_options((kind, value), options):
                self.content_error(
                    where,
                    f"Item '{link_id}': {_describe((kind, value))} is not one of the permitted answers",
                    "code-invalid",
                )
                return
            if kind == "Coding":
                self._check_display(options, entry, where, value)
            return
        value_set = definition.get("answerValueSet")
        if value_set and kind == "Coding":
            codes = self.value_sets.get(str(value_set).split("|", 1)[0])
            if codes is None:
                self.warning(
                    where,
                    f"Item '{link_id}': ValueSet '{value_set}' is not known, the answer is not checked",
                    "not-found",
                )
            elif (value.get("system"), value.get("code")) not in codes:
                self.content_error(
                    where,
                    f"Item '{link_id}': {_describe((kind, value))} is not in the value set '{value_set}'",
                    "code-invalid",
                )

    def _check_display(self, options: list[Resource], entry: ResponseItem, where: str, coding: Resource) -> None:
        for option in options:
            expected = option.get("valueCoding") or {}
            if (
                expected.get("code") == coding.get("code")
                and expected.get("system") == coding.get("system")
                and expected.get("display")
                and coding.get("display")
                and expected["display"] != coding["display"]
            ):
                self.warning(
                    where,
                    f"Item '{entry.link_id}': display '{coding['display']}' of {coding.get('code')} differs from "
                    f"the option's '{expected['display']}'",
                )


def _contained_value_sets(questionnaire: Resource) -> dict[str, set[tuple[str, str]]]:
    """Enumerated ValueSets contained in the questionnaire, by their local reference ``#id``."""
    found: dict[str, set[tuple[str, str]]] = {}
    for resource in questionnaire.get("contained") or []:
        if resource.get("resourceType") != "ValueSet" or not resource.get("id"):
            continue
        pairs = {
            (str(include.get("system")), str(concept.get("code")))
            for include in (resource.get("compose") or {}).get("include") or []
            for concept in include.get("concept") or []
        }
        pairs |= {
            (str(entry.get("system")), str(entry.get("code")))
            for entry in (resource.get("expansion") or {}).get("contains") or []
        }
        if pairs:
            found[f"#{resource['id']}"] = pairs
    return found


def _has_content(item: Resource) -> bool:
    if item.get("answer"):
        return True
    return any(_has_content(child) for child in item.get("item") or [])


def _in_options(typed: tuple[str, Any], options: list[Resource]) -> bool:
    """Whether an answer is one of the options; a Coding without a system matches on its code."""
    key = _option_key(typed)
    for option in options:
        option_typed = typed_value(option)
        if option_typed is None:
            continue
        candidate = _option_key(option_typed)
        if candidate == key or (key[0] == "Coding" and key[1] is None and candidate[::2] == key[::2]):
            return True
    return False


def _option_key(typed: tuple[str, Any]) -> tuple[Any, ...]:
    kind, value = typed
    if kind == "Coding":
        return ("Coding", value.get("system"), value.get("code"))
    if kind == "Reference":
        return ("Reference", value.get("reference"))
    return (kind, str(value))


def _describe(typed: tuple[str, Any]) -> str:
    kind, value = typed
    if kind == "Coding":
        return f"the code {value.get('system') or ''}#{value.get('code')}"
    return f"the {FHIR_TYPE_NAMES.get(kind, kind)} {value}"


__all__ = ["ANSWER_TYPES", "FINISHED_STATUSES", "check_response", "require_valid_response", "validate_response"]
