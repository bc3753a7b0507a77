"""Reading a QuestionnaireResponse: answers by linkId, typed answer values, and ``enableWhen``.

Shared by validation, extraction, stratification and screening so all four agree on which items are
enabled and what an answer means.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Resource = dict[str, Any]

# value[x] suffixes an answer (or an answerOption, or enableWhen.answer[x]) can carry.
VALUE_TYPES = (
    "Boolean",
    "Decimal",
    "Integer",
    "Date",
    "DateTime",
    "Time",
    "String",
    "Uri",
    "Attachment",
    "Coding",
    "Quantity",
    "Reference",
)


def typed_value(element: Mapping[str, Any], prefix: str = "value") -> tuple[str, Any] | None:
    """The ``(type, value)`` of an element's choice-of-type field, e.g. ``("Coding", {...})``."""
    for kind in VALUE_TYPES:
        key = prefix + kind
        if key in element:
            return kind, element[key]
    return None


@dataclass(frozen=True)
class ResponseItem:
    """One item of a response, with the FHIRPath that names it and its enclosing items."""

    item: Resource
    path: str
    ancestors: tuple[ResponseItem, ...] = ()

    @property
    def link_id(self) -> str:
        return str(self.item.get("linkId", ""))

    @property
    def answers(self) -> list[Resource]:
        return list(self.item.get("answer") or [])


def children(parent: ResponseItem | None, response: Resource) -> Iterator[ResponseItem]:
    """Items directly below ``parent`` (the response root when None), including those nested in answers."""
    if parent is None:
        for index, item in enumerate(response.get("item") or []):
            yield ResponseItem(item, f"QuestionnaireResponse.item[{index}]")
        return
    lineage = (*parent.ancestors, parent)
    for index, item in enumerate(parent.item.get("item") or []):
        yield ResponseItem(item, f"{parent.path}.item[{index}]", lineage)
    for answer_index, answer in enumerate(parent.item.get("answer") or []):
        for index, item in enumerate(answer.get("item") or []):
            yield ResponseItem(item, f"{parent.path}.answer[{answer_index}].item[{index}]", lineage)


def walk(response: Resource, parent: ResponseItem | None = None) -> Iterator[ResponseItem]:
    """Every item of a response, depth first, in document order."""
    for child in children(parent, response):
        yield child
        yield from walk(response, child)


def answers_by_link_id(response: Resource) -> dict[str, list[Resource]]:
    """All answers of a response grouped by linkId (repeating groups pooled together)."""
    found: dict[str, list[Resource]] = {}
    for entry in walk(response):
        found.setdefault(entry.link_id, []).extend(entry.answers)
    return found


def enabled_answers(questionnaire: Resource, response: Resource) -> dict[str, list[Resource]]:
    """Answers by linkId, leaving out answers to items that ``enableWhen`` disables.

    Scoring, need detection and extraction read only these, so a stale answer left in a disabled branch
    of a form never counts.
    """
    gate = EnableWhen(questionnaire, response)
    found: dict[str, list[Resource]] = {}
    for entry in walk(response):
        if entry.answers and gate.enabled_in_context(entry):
            found.setdefault(entry.link_id, []).extend(entry.answers)
    return found


def answer_key(answer: Resource) -> Any:
    """A plain comparable value of an answer: a code for a Coding, the number, the text, the flag."""
    typed = typed_value(answer)
    if typed is None:
        return None
    kind, value = typed
    if kind == "Coding":
        return value.get("code")
    if kind == "Quantity":
        return value.get("value")
    if kind == "Reference":
        return value.get("reference")
    if kind == "Attachment":
        return value.get("url") or value.get("title")
    return value


def questionnaire_index(questionnaire: Resource) -> dict[str, Resource]:
    """Questionnaire items by linkId, at any depth."""
    index: dict[str, Resource] = {}

    def visit(items: Sequence[Resource]) -> None:
        for item in items:
            index[str(item.get("linkId"))] = item
            visit(item.get("item") or [])

    visit(questionnaire.get("item") or [])
    return index


class EnableWhen:
    """Evaluates ``enableWhen``/``enableBehavior`` of questionnaire items against one response.

    The question an ``enableWhen`` names is looked up in the nearest enclosing response item that
    contains it (so a condition inside a repeating group reads its own repetition), then in the whole
    response. An item whose own condition refers to a disabled item treats that item as unanswered.
    """

    def __init__(self, questionnaire: Resource, response: Resource) -> None:
        self.definitions = questionnaire_index(questionnaire)
        self.response = response
        self._all = list(walk(response))
        self._memo: dict[str, bool] = {}

    def enabled(self, definition: Resource, context: ResponseItem | None) -> bool:
        """Whether a questionnaire item is enabled where ``context`` (its enclosing response item) is."""
        return self._enabled(definition, context, frozenset())

    def enabled_in_context(self, entry: ResponseItem) -> bool:
        """Whether this response item and every item enclosing it are enabled."""
        known = self._memo.get(entry.path)
        if known is None:
            known = self._enabled_in_context(entry, frozenset())
            self._memo[entry.path] = known
        return known

    def _enabled_in_context(self, entry: ResponseItem, visiting: frozenset[str]) -> bool:
        if entry.path in visiting:
            # enableWhen conditions that depend on each other: break the cycle by taking the item as enabled.
            return True
        visiting = visiting | {entry.path}
        lineage = (*entry.ancestors, entry)
        for position, node in enumerate(lineage):
            definition = self.definitions.get(node.link_id)
            if definition is None or not definition.get("enableWhen"):
                continue
            parent = lineage[position - 1] if position else None
            if not self._enabled(definition, parent, visiting):
                return False
        return True

    def _enabled(self, definition: Resource, context: ResponseItem | None, visiting: frozenset[str]) -> bool:
        results = [
            _evaluate(condition, self._answers(str(condition.get("question")), context, visiting))
            for condition in definition.get("enableWhen") or []
        ]
        if definition.get("enableBehavior") == "any":
            return any(results)
        return all(results)

    def _answers(self, link_id: str, context: ResponseItem | None, visiting: frozenset[str]) -> list[Resource]:
        scopes: list[ResponseItem] = list(reversed([*context.ancestors, context])) if context else []
        found: list[ResponseItem] = []
        for scope in scopes:
            found = [entry for entry in walk(self.response, scope) if entry.link_id == link_id]
            if found:
                break
        if not found:
            found = [entry for entry in self._all if entry.link_id == link_id]
        answers: list[Resource] = []
        for entry in found:
            if self._enabled_in_context(entry, visiting):
                answers.extend(entry.answers)
        return answers


def _evaluate(condition: Resource, answers: list[Resource]) -> bool:
    operator = condition.get("operator")
    expected = typed_value(condition, "answer")
    if operator == "exists":
        wanted = bool(expected[1]) if expected else True
        return bool(answers) == wanted
    if not answers or expected is None:
        return False
    matches = [_compare(answer, expected, operator) for answer in answers]
    if operator == "!=":
        return all(matches)
    return any(matches)


def _compare(answer: Resource, expected: tuple[str, Any], operator: Any) -> bool:
    actual = typed_value(answer)
    if actual is None:
        return False
    kind, value = expected
    if kind == "Coding":
        if actual[0] != "Coding":
            return bool(operator == "!=")
        same = bool(value.get("code") == actual[1].get("code")) and bool(
            not value.get("system") or not actual[1].get("system") or value.get("system") == actual[1].get("system")
        )
        return same if operator == "=" else (not same if operator == "!=" else False)
    left = _comparable(actual)
    right = _comparable(expected)
    if left is None or right is None or type(left) is not type(right):
        return bool(operator == "!=")
    if operator == "=":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    if isinstance(left, bool):
        return False
    try:
        if operator == ">":
            return bool(left > right)
        if operator == ">=":
            return bool(left >= right)
        if operator == "<":
            return bool(left < right)
        if operator == "<=":
            return bool(left <= right)
    except TypeError:
        return False
    return False


def _comparable(typed: tuple[str, Any]) -> Any:
    kind, value = typed
    if kind == "Boolean":
        return bool(value)
    if kind in ("Integer", "Decimal"):
        return Decimal(str(value))
    if kind == "Quantity":
        return Decimal(str(value.get("value"))) if value.get("value") is not None else None
    if kind == "Reference":
        return str(value.get("reference"))
    if isinstance(value, str):
        return value
    return None


__all__ = [
    "VALUE_TYPES",
    "EnableWhen",
    "ResponseItem",
    "answer_key",
    "answers_by_link_id",
    "children",
    "enabled_answers",
    "questionnaire_index",
    "typed_value",
    "walk",
]
