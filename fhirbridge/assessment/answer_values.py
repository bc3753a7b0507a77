"""The checks of what one answer's value says, by its type: a string's length and format, a URI, a number's,
date's or time's range and decimal places, a quantity's unit and limits, an attachment's type and size, a
reference's target type.

``AnswerValueChecks`` also holds the issues found and the ways they are reported (an error, or a warning
when only the structure is checked); the validator of a whole response (``validation``) builds on it.
Apart from it because these checks read only an item's definition and the one answer, never the rest of
the response.
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

from fhirbridge.assessment.answers import ResponseItem
from fhirbridge.errors import Issue

Resource = dict[str, Any]
ValueSets = Mapping[str, Collection[tuple[str, str]]]

EXT = "http://hl7.org/fhir/StructureDefinition/"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"

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


class AnswerValueChecks:
    """The issues found in a response and the checks of each answer's value; ``value_sets`` maps ValueSet
    URLs to their ``(system, code)`` pairs."""

    value_sets: ValueSets
    issues: list[Issue]
    structure_only: bool

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

    # -- answer values ----------------------------------------------------------------------------

    def _check_value(self, definition: Resource, entry: ResponseItem, where: str, kind: str, value: Any) -> None:
        link_id = entry.link_id
        if kind == "String":
            self._check_string(definition, link_id, where, str(value))
        elif kind == "Decimal":
            places = extension_value(definition, EXT + "maxDecimalPlaces")
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
        minimum = extension_value(definition, EXT + "minLength")
        if minimum is not None and len(text) < int(minimum):
            self.content_error(
                where, f"Item '{link_id}': the answer '{text}' is shorter than the minimum length {minimum}"
            )
        if maximum is not None and len(text) > int(maximum):
            self.content_error(
                where, f"Item '{link_id}': the answer '{text}' is longer than the maximum length {maximum}"
            )
        pattern = extension_value(definition, EXT + "regex")
        if pattern is not None:
            try:
                matched = re.fullmatch(str(pattern), text) is not None
            except re.error:
                self.warning(where, f"Item '{link_id}': the questionnaire's regex '{pattern}' cannot be evaluated")
            else:
                if not matched:
                    shape = extension_value(definition, EXT + "entryFormat") or pattern
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
        unit_value_set = extension_value(definition, EXT + "questionnaire-unitValueSet")
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
            limit = extension_value(definition, url)
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
        maximum = extension_value(definition, EXT + "maxSize")
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


@lru_cache(maxsize=256)
def _is_resource_type(name: str) -> bool:
    # One model import per type named, rather than loading every model up front.
    try:
        model = get_fhir_model_class(name)
    except (ValueError, KeyError, ImportError):
        return False
    return issubclass(model, ResourceModel) and name not in ("Resource", "DomainResource")


def extension_value(element: Resource, url: str) -> Any:
    typed = _typed_extension(element, url)
    return typed[1] if typed else None


def _typed_extension(element: Resource, url: str) -> tuple[str, Any] | None:
    for extension in element.get("extension") or []:
        if extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return key[len("value") :], value
    return None


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


__all__ = ["EXT", "SDC", "AnswerValueChecks", "Resource", "ValueSets", "extension_value"]
