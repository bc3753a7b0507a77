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
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
import uuid
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource as ResourceModel

from fhirbridge.assessment.answers import EnableWhen, ResponseItem, children, typed_value
from fhirbridge.assessment.definitions import value_set_codes
from fhirbridge.errors import Issue, Unprocessable

Resource = dict[str, Any]
ValueSets = Mapping[str, Collection[tuple[str, str]]]

EXT = "http://hl7.org/fhir/StructureDefinition/"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"

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
UCUM = "http://unitsofmeasure.org"
# Enough of UCUM to compare quantities in the units forms use: unit -> (dimension, factor to base).
UCUM_UNITS: dict[str, tuple[str, Decimal]] = {
    "mm": ("length", Decimal("0.001")),
    "cm": ("length", Decimal("0.01")),
    "m": ("length", Decimal(1)),
    "km": ("length", Decimal(1000)),
    "[in_i]": ("length", Decimal("0.0254")),
    "[ft_i]": ("length", Decimal("0.3048")),
    "[mi_i]": ("length", Decimal("1609.344")),
    "mg": ("mass", Decimal("0.001")),
    "g": ("mass", Decimal(1)),
    "kg": ("mass", Decimal(1000)),
    "[lb_av]": ("mass", Decimal("453.59237")),
    "[oz_av]": ("mass", Decimal("28.349523125")),
    "s": ("time", Decimal(1)),
    "min": ("time", Decimal(60)),
    "h": ("time", Decimal(3600)),
    "d": ("time", Decimal(86400)),
    "wk": ("time", Decimal(604800)),
    "mL": ("volume", Decimal("0.001")),
    "L": ("volume", Decimal(1)),
}
REFERENCE = re.compile(
    r"^(?:(?P<base>https?://\S+?/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/\S+)?"
    r"|#\S*|urn:uuid:\S+|urn:oid:\S+)$"
)


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


class _Validator:
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

    def error(self, expression: str, message: str, code: str = "invariant") -> None:
        self.issues.append(Issue(diagnostics=message, code=code, severity="error", expression=(expression,)))

    def content_error(self, expression: str, message: str, code: str = "invariant") -> None:
        """An error in what an answer says (not in the response's shape): a warning when only the
        structure is checked."""
        if self.structure_only:
            self.warning(expression, message, code)
        else:
            self.error(expression, message, code)

    def warning(self, expression: str, message: str, code: str = "invariant") -> None:
        self.issues.append(Issue(diagnostics=message, code=code, severity="warning", expression=(expression,)))

    def information(self, expression: str, message: str) -> None:
        self.issues.append(
            Issue(diagnostics=message, code="informational", severity="information", expression=(expression,))
        )

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
        minimum = _extension(definition, EXT + "questionnaire-minOccurs")
        maximum = _extension(definition, EXT + "questionnaire-maxOccurs")
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
            if _extension(option, EXT + "questionnaire-optionExclusive") is True
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

    def _check_value(self, definition: Resource, entry: ResponseItem, where: str, kind: str, value: Any) -> None:
        link_id = entry.link_id
        if kind == "String":
            self._check_string(definition, link_id, where, str(value))
        elif kind == "Decimal":
            places = _extension(definition, EXT + "maxDecimalPlaces")
            written = getattr(value, "source", None) or str(value)
            digits = written.split(".", 1)[1] if "." in written else ""
            digits = re.split("[eE]", digits)[0]
            if places is not None and len(digits) > int(places):
                self.content_error(
                    where, f"Item '{link_id}': the value {written} has too many decimal places (limit = {places})"
                )
        elif kind == "Uri":
            self._check_uri(link_id, where, str(value))
        elif kind == "Quantity":
            self._check_quantity(definition, link_id, where, value)
        elif kind == "Attachment":
            self._check_attachment(definition, link_id, where, value)
        elif kind == "Reference":
            self._check_reference(definition, link_id, where, value)
        if kind in ("Integer", "Decimal", "Date", "DateTime", "Time"):
            self._check_range(definition, link_id, where, kind, value)

    def _check_string(self, definition: Resource, link_id: str, where: str, text: str) -> None:
        maximum = definition.get("maxLength")
        minimum = _extension(definition, EXT + "minLength")
        if minimum is not None and len(text) < int(minimum):
            self.content_error(
                where, f"Item '{link_id}': the answer '{text}' is shorter than the minimum length {minimum}"
            )
        if maximum is not None and len(text) > int(maximum):
            self.content_error(
                where, f"Item '{link_id}': the answer '{text}' is longer than the maximum length {maximum}"
            )
        pattern = _extension(definition, EXT + "regex")
        if pattern is not None:
            try:
                matched = re.fullmatch(str(pattern), text) is not None
            except re.error:
                self.warning(where, f"Item '{link_id}': the questionnaire's regex '{pattern}' cannot be evaluated")
            else:
                if not matched:
                    shape = _extension(definition, EXT + "entryFormat") or pattern
                    self.content_error(
                        where, f"Item '{link_id}': the answer '{text}' does not have the expected format '{shape}'"
                    )
        if definition.get("type") == "string" and ("\n" in text or "\r" in text):
            self.warning(where, f"Item '{link_id}': a string answer should not contain line breaks")

    def _check_uri(self, link_id: str, where: str, text: str) -> None:
        if text.startswith("urn:uuid:"):
            candidate = text[len("urn:uuid:") :]
            try:
                valid = str(uuid.UUID(candidate)) == candidate
            except ValueError:
                valid = False
            if not valid:
                self.content_error(where, f"Item '{link_id}': UUIDs must be valid and lowercase ({candidate})")
        elif text.startswith("urn:oid:") and not re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", text[len("urn:oid:") :]):
            self.content_error(where, f"Item '{link_id}': '{text}' is not a valid OID")
        elif re.search(r"\s", text):
            self.content_error(where, f"Item '{link_id}': '{text}' is not a valid URI")

    def _check_range(self, definition: Resource, link_id: str, where: str, kind: str, value: Any) -> None:
        for url, word, fails in (
            (EXT + "minValue", "less than the allowed minimum", operator.lt),
            (EXT + "maxValue", "greater than the allowed maximum", operator.gt),
        ):
            limit = _typed_extension(definition, url)
            if limit is None:
                continue
            left, right = _ordered(kind, value), _ordered(limit[0], limit[1])
            if left is None or right is None or type(left) is not type(right):
                continue
            if fails(left, right):
                self.content_error(where, f"Item '{link_id}': the value {value} is {word} of {limit[1]}")

    def _check_quantity(self, definition: Resource, link_id: str, where: str, quantity: Resource) -> None:
        units = [
            extension.get("valueCoding") or {}
            for extension in definition.get("extension") or []
            if extension.get("url") == EXT + "questionnaire-unitOption"
        ]
        if units and not any(
            unit.get("system") == quantity.get("system") and unit.get("code") == quantity.get("code") for unit in units
        ):
            allowed = ", ".join(str(unit.get("code")) for unit in units)
            self.content_error(
                where,
                f"Item '{link_id}': the unit {quantity.get('code') or quantity.get('unit')} is not one "
                f"of the allowed units ({allowed})",
            )
        unit_value_set = _extension(definition, EXT + "questionnaire-unitValueSet")
        if unit_value_set:
            codes = self.value_sets.get(str(unit_value_set))
            if codes is None:
                self.warning(
                    where,
                    f"Item '{link_id}': unit ValueSet '{unit_value_set}' is not known, the unit is not checked",
                    "not-found",
                )
            elif (quantity.get("system"), quantity.get("code")) not in codes:
                self.content_error(where, f"Item '{link_id}': the unit is not in the value set '{unit_value_set}'")
        for url, word, fails in (
            (SDC + "sdc-questionnaire-minQuantity", "less than the allowed minimum", operator.lt),
            (SDC + "sdc-questionnaire-maxQuantity", "greater than the allowed maximum", operator.gt),
        ):
            limit = _extension(definition, url)
            if not isinstance(limit, dict):
                continue
            left, right = _in_base_units(quantity), _in_base_units(limit)
            if left is None or right is None:
                self.content_error(
                    where,
                    f"Item '{link_id}': the quantity {_quantity_text(quantity)} cannot be compared to "
                    f"the limit {_quantity_text(limit)} because no formal (UCUM) units are given",
                )
            elif left[0] != right[0]:
                self.content_error(
                    where,
                    f"Item '{link_id}': the quantity {_quantity_text(quantity)} cannot be compared to "
                    f"the limit {_quantity_text(limit)}",
                )
            elif fails(left[1], right[1]):
                self.content_error(
                    where,
                    f"Item '{link_id}': the quantity {_quantity_text(quantity)} is {word} of {_quantity_text(limit)}",
                )

    def _check_attachment(self, definition: Resource, link_id: str, where: str, attachment: Resource) -> None:
        mime_types = [
            str(extension.get("valueCode"))
            for extension in definition.get("extension") or []
            if extension.get("url") == EXT + "mimeType"
        ]
        content_type = attachment.get("contentType")
        if mime_types and content_type not in mime_types:
            self.content_error(
                where,
                f"Item '{link_id}': the mime type {content_type} is not allowed (allowed = {', '.join(mime_types)})",
            )
        actual: int | None = None
        if attachment.get("data"):
            try:
                actual = len(base64.b64decode(str(attachment["data"]), validate=True))
            except (binascii.Error, ValueError):
                self.content_error(where, f"Item '{link_id}': the attachment data is not valid base64")
        stated = attachment.get("size")
        if actual is not None and stated is not None and int(stated) != actual:
            self.content_error(
                where, f"Item '{link_id}': the stated attachment size {stated} does not match the actual size {actual}"
            )
        size = actual if actual is not None else stated
        maximum = _extension(definition, EXT + "maxSize")
        if maximum is not None and size is not None and Decimal(str(size)) > Decimal(str(maximum)):
            self.content_error(
                where, f"Item '{link_id}': the attachment is too large (allowed = {maximum}, found = {size})"
            )

    def _check_reference(self, definition: Resource, link_id: str, where: str, reference: Resource) -> None:
        target = reference.get("reference")
        if target is None:
            return
        match = REFERENCE.match(str(target))
        if match is None:
            self.content_error(where, f"Item '{link_id}': '{target}' is not a valid reference")
            return
        resource_type = match.group("type")
        if resource_type is None:
            return
        if not _is_resource_type(resource_type):
            self.content_error(
                where,
                f"Item '{link_id}': the resource type {resource_type} in the reference {target} is "
                "not a FHIR resource type",
            )
            return
        allowed = [
            str(extension.get("valueCode"))
            for extension in definition.get("extension") or []
            if extension.get("url") == EXT + "questionnaire-referenceResource"
        ]
        if allowed and resource_type not in allowed:
            self.content_error(
                where,
                f"Item '{link_id}': a reference to {resource_type} is not allowed (allowed = {', '.join(allowed)})",
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


@lru_cache(maxsize=256)
def _is_resource_type(name: str) -> bool:
    # One model import per type named, rather than loading every model up front.
    try:
        model = get_fhir_model_class(name)
    except (ValueError, KeyError, ImportError):
        return False
    return issubclass(model, ResourceModel) and name not in ("Resource", "DomainResource")


def _has_content(item: Resource) -> bool:
    if item.get("answer"):
        return True
    return any(_has_content(child) for child in item.get("item") or [])


def _extension(element: Resource, url: str) -> Any:
    typed = _typed_extension(element, url)
    return typed[1] if typed else None


def _typed_extension(element: Resource, url: str) -> tuple[str, Any] | None:
    for extension in element.get("extension") or []:
        if extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return key[len("value") :], value
    return None


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


def _ordered(kind: str, value: Any) -> Any:
    """A value that orders like the FHIR value (ISO dates and times order as text at equal precision)."""
    if kind in ("Integer", "Decimal"):
        try:
            return Decimal(str(getattr(value, "source", None) or value))
        except InvalidOperation:
            return None
    if kind in ("Date", "DateTime", "Time") and isinstance(value, str):
        return value
    return None


def _in_base_units(quantity: Resource) -> tuple[str, Decimal] | None:
    if quantity.get("system") != UCUM or quantity.get("value") is None:
        return None
    unit = UCUM_UNITS.get(str(quantity.get("code")))
    if unit is None:
        return None
    return unit[0], Decimal(str(quantity["value"])) * unit[1]


def _quantity_text(quantity: Resource) -> str:
    return f"{quantity.get('value')} {quantity.get('unit') or quantity.get('code') or ''}".strip()


__all__ = ["ANSWER_TYPES", "FINISHED_STATUSES", "check_response", "require_valid_response", "validate_response"]
