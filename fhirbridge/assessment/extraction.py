"""SDC ``$extract`` for the needs assessment: a transaction Bundle of what the answers establish.

- Observation-based extraction: each enabled, answered item flagged ``sdc-questionnaire-observationExtract``
  (on itself or an enclosing group) with a code becomes one Observation per answer, conforming to US Core
  Observation Screening Assessment: category ``survey`` plus ``sdoh`` for social and financial items,
  ``derivedFrom`` the response, the answer as value.
- Needs: each need of the rules file that the answers show becomes a US Core health-concern Condition
  (with ``sdoh`` category where the need is social), its evidence pointing at the Observations.
- Definition-based extraction: each repetition of a group carrying ``sdc-questionnaire-definitionExtract``
  for Goal becomes a proposed US Core Goal, its elements set from the items' ``definition`` paths,
  ``expressedBy`` the family member who answered.

Every entry is a conditional create keyed by a stable identifier, so committing the same Bundle twice
creates nothing the second time. A need is keyed by child and need (not by assessment), so a need that
persists across reassessments stays one health concern.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import urlencode

from fhirbridge.assessment.answers import EnableWhen, ResponseItem, typed_value, walk
from fhirbridge.assessment.definitions import ASSESSMENT_CODE_SYSTEM, BASE, DOMAIN_EXTENSION, display_of
from fhirbridge.assessment.needs import identified_needs
from fhirbridge.errors import Unprocessable

Resource = dict[str, Any]

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
OBSERVATION_EXTRACT = SDC + "sdc-questionnaire-observationExtract"
DEFINITION_EXTRACT = SDC + "sdc-questionnaire-definitionExtract"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
OBSERVATION_PROFILE = US_CORE + "us-core-observation-screening-assessment"
CONDITION_PROFILE = US_CORE + "us-core-condition-problems-health-concerns"
GOAL_PROFILE = US_CORE + "us-core-goal"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
CONDITION_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
IDENTIFIER = f"{BASE}/identifier/"
SDOH_DOMAINS = frozenset({"social", "financial"})
FAMILY_TYPES = ("RelatedPerson", "Patient")
# Elements of Goal that repeat, so a definition path into them makes a list.
GOAL_LISTS = frozenset({"category", "target", "addresses", "note", "identifier", "outcomeCode"})
# Observation value[x] for each answer type (others, such as attachments, are not extracted).
OBSERVATION_VALUE = {
    "Boolean": "valueBoolean",
    "Integer": "valueInteger",
    "String": "valueString",
    "Uri": "valueString",
    "Date": "valueDateTime",
    "DateTime": "valueDateTime",
    "Time": "valueTime",
    "Quantity": "valueQuantity",
}


def extract(
    questionnaire: Resource,
    response: Resource,
    *,
    rules: Mapping[str, Any] | None = None,
) -> Resource:
    """The transaction Bundle of Observations, health-concern Conditions and proposed Goals."""
    subject = response.get("subject")
    if not subject or not subject.get("reference"):
        raise Unprocessable("The QuestionnaireResponse has no subject", expression="QuestionnaireResponse.subject")
    if not response.get("authored"):
        raise Unprocessable(
            "The QuestionnaireResponse has no authored date", expression="QuestionnaireResponse.authored"
        )
    builder = _Bundle(response)
    context = _Context(questionnaire, response, builder.response_reference)
    observations = _observations(context)
    for link_id, observation, key in observations:
        builder.add(observation, key, link_id=link_id)
    for need in identified_needs(questionnaire, response, rules):
        evidence = [builder.full_url_of(link_id) for link_id in need.evidence]
        builder.add(
            _condition(context, need.code, need.display, need.sdoh, [url for url in evidence if url]),
            f"{subject['reference']}/{need.code}",
            need_domain=need.domain,
        )
    for goal, key, domain in _goals(context):
        concerns = builder.concerns_in(domain)
        if concerns:
            goal["addresses"] = [{"reference": url} for url in concerns]
        builder.add(goal, key)
    return builder.bundle()


class _Context:
    def __init__(self, questionnaire: Resource, response: Resource, response_reference: str) -> None:
        self.questionnaire = questionnaire
        self.response = response
        self.response_reference = response_reference
        self.subject = response["subject"]
        self.authored = str(response["authored"])
        self.gate = EnableWhen(questionnaire, response)
        self.lineage = _lineage(questionnaire)
        self.final = response.get("status") in ("completed", "amended")

    def definition(self, link_id: str) -> Resource | None:
        found = self.lineage.get(link_id)
        return found[-1] if found else None

    def domain(self, link_id: str) -> str:
        for definition in reversed(self.lineage.get(link_id, [])):
            for extension in definition.get("extension") or []:
                if extension.get("url") == DOMAIN_EXTENSION:
                    return str(extension.get("valueCode"))
        return ""

    def flagged(self, link_id: str) -> bool:
        """observationExtract on the item, or else on the nearest enclosing item or questionnaire that says."""
        for definition in [self.questionnaire, *self.lineage.get(link_id, [])][::-1]:
            for extension in definition.get("extension") or []:
                if extension.get("url") == OBSERVATION_EXTRACT:
                    return bool(extension.get("valueBoolean"))
        return False

    def with_display(self, link_id: str, coding: Resource) -> Resource:
        """The answer's coding, with the option's display when the answer left it out."""
        if coding.get("display"):
            return dict(coding)
        definition = self.definition(link_id) or {}
        for option in definition.get("answerOption") or []:
            known = option.get("valueCoding") or {}
            same = known.get("code") == coding.get("code") and known.get("system") == coding.get("system")
            if same and known.get("display"):
                return {**coding, "display": known["display"]}
        display = display_of(str(coding.get("system")), str(coding.get("code")))
        return {**coding, "display": display} if display else dict(coding)

    def family_member(self) -> Resource | None:
        for element in ("source", "author"):
            parts = str((self.response.get(element) or {}).get("reference", "")).split("/")
            if len(parts) >= 2 and parts[-2] in FAMILY_TYPES:
                return dict(self.response[element])
        return None


def _observations(context: _Context) -> list[tuple[str, Resource, str]]:
    found: list[tuple[str, Resource, str]] = []
    for entry in walk(context.response):
        definition = context.definition(entry.link_id)
        if definition is None or not entry.answers or not definition.get("code"):
            continue
        if not context.flagged(entry.link_id) or not context.gate.enabled_in_context(entry):
            continue
        for index, answer in enumerate(entry.answers):
            value = _observation_value(answer, context, entry.link_id)
            if value is None:
                continue
            found.append(
                (entry.link_id, _observation(context, entry, definition, value), f"{entry.path}.answer[{index}]")
            )
    return found


def _observation(context: _Context, entry: ResponseItem, definition: Resource, value: Resource) -> Resource:
    categories = [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}]
    if context.domain(entry.link_id) in SDOH_DOMAINS:
        categories.append({"coding": [{"system": US_CORE_CATEGORY, "code": "sdoh", "display": "SDOH"}]})
    observation: Resource = {
        "resourceType": "Observation",
        "meta": {"profile": [OBSERVATION_PROFILE]},
        "status": "final" if context.final else "preliminary",
        "category": categories,
        "code": {"coding": [dict(coding) for coding in definition["code"]], "text": definition.get("text")},
        "subject": context.subject,
        "effectiveDateTime": context.authored,
        "derivedFrom": [{"reference": context.response_reference}],
        **value,
    }
    if not observation["code"]["text"]:
        del observation["code"]["text"]
    question = definition.get("text") or definition["code"][0].get("display") or entry.link_id
    observation["text"] = _narrative(f"{question}: {_value_text(value)}")
    author = context.response.get("author")
    if author and str(author.get("reference", "")).split("/")[0] in (
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "CareTeam",
        "Patient",
        "RelatedPerson",
    ):
        observation["performer"] = [author]
    return observation


def _observation_value(answer: Resource, context: _Context, link_id: str) -> Resource | None:
    typed = typed_value(answer)
    if typed is None:
        return None
    kind, value = typed
    if kind == "Coding":
        value = context.with_display(link_id, value)
        concept: Resource = {"coding": [value]}
        if value.get("display"):
            concept["text"] = value["display"]
        return {"valueCodeableConcept": concept}
    if kind == "Decimal":
        return {"valueQuantity": {"value": value}}
    element = OBSERVATION_VALUE.get(kind)
    return {element: value} if element else None


def _condition(context: _Context, code: str, display: str, sdoh: bool, evidence: list[str]) -> Resource:
    categories = [{"coding": [{"system": CONDITION_CATEGORY, "code": "health-concern", "display": "Health Concern"}]}]
    if sdoh:
        categories.append({"coding": [{"system": US_CORE_CATEGORY, "code": "sdoh", "display": "SDOH"}]})
    condition: Resource = {
        "resourceType": "Condition",
        "meta": {"profile": [CONDITION_PROFILE]},
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active", "display": "Active"}]},
        "category": categories,
        "code": {"coding": [{"system": ASSESSMENT_CODE_SYSTEM, "code": code, "display": display}], "text": display},
        "subject": context.subject,
        "recordedDate": context.authored,
        "evidence": [{"detail": [{"reference": url} for url in [*evidence, context.response_reference]]}],
    }
    if context.response.get("author"):
        condition["asserter"] = context.response["author"]
    condition["text"] = _narrative(f"Health concern identified by the needs assessment: {display}")
    return condition


def _goals(context: _Context) -> list[tuple[Resource, str, str]]:
    goals: list[tuple[Resource, str, str]] = []
    for entry in walk(context.response):
        definition = context.definition(entry.link_id)
        if definition is None or _extract_target(definition) != "Goal":
            continue
        if not context.gate.enabled_in_context(entry):
            continue
        goal: Resource = {
            "resourceType": "Goal",
            "meta": {"profile": [GOAL_PROFILE]},
            "lifecycleStatus": "proposed",
            "subject": context.subject,
            "startDate": context.authored[:10],
        }
        domain = ""
        for child in walk(context.response, entry):
            child_definition = context.definition(child.link_id)
            path = str((child_definition or {}).get("definition", ""))
            if "#Goal." not in path or not child.answers:
                continue
            typed = typed_value(child.answers[0])
            if typed is None:
                continue
            if typed[0] == "Coding":
                typed = ("Coding", context.with_display(child.link_id, typed[1]))
            _set_path(goal, path.split("#Goal.", 1)[1].split("."), _goal_value(typed))
            if path.endswith("#Goal.category") and typed[0] == "Coding":
                domain = str(typed[1].get("code", "")).removeprefix("domain-")
        if not (goal.get("description") or {}).get("text"):
            continue  # Goal.description is required; an empty repetition of the form is no goal
        family = context.family_member()
        if family is not None:
            goal["expressedBy"] = family
        goal["text"] = {"status": "generated", "div": _goal_narrative(goal)}
        goals.append((goal, f"{entry.path}", domain))
    return goals


def _extract_target(definition: Resource) -> str | None:
    for extension in definition.get("extension") or []:
        if extension.get("url") == DEFINITION_EXTRACT:
            for part in extension.get("extension") or []:
                if part.get("url") == "definition":
                    return str(part.get("valueCanonical", "")).rsplit("/", 1)[-1]
    return None


def _goal_value(typed: tuple[str, Any]) -> Any:
    kind, value = typed
    if kind == "Coding":
        return {"coding": [value], "text": value.get("display")} if value.get("display") else {"coding": [value]}
    return value


def _set_path(resource: Resource, path: list[str], value: Any) -> None:
    """Set ``Goal.target.dueDate``-style paths; repeating elements get (or reuse) their first entry."""
    node: Resource = resource
    for step in path[:-1]:
        node = node.setdefault(step, [{}])[0] if step in GOAL_LISTS else node.setdefault(step, {})
    last = path[-1]
    if last in GOAL_LISTS:
        node.setdefault(last, []).append(value)
    else:
        node[last] = value


def _narrative(sentence: str) -> Resource:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(sentence)}</p></div>'}


def _value_text(value: Resource) -> str:
    ((element, content),) = value.items()
    if element == "valueCodeableConcept":
        return str(content.get("text") or content["coding"][0].get("code"))
    if element == "valueBoolean":
        return "yes" if content else "no"
    if element == "valueQuantity":
        return f"{content.get('value')} {content.get('unit') or ''}".strip()
    return str(content)


def _goal_narrative(goal: Resource) -> str:
    text = escape(str(goal["description"]["text"]))
    due = (goal.get("target") or [{}])[0].get("dueDate")
    suffix = f" by {escape(str(due))}" if due else ""
    return f'<div xmlns="http://www.w3.org/1999/xhtml"><p>Family goal (proposed): {text}{suffix}</p></div>'


def _lineage(questionnaire: Resource) -> dict[str, list[Resource]]:
    """linkId -> the item's enclosing items and the item itself, outermost first."""
    found: dict[str, list[Resource]] = {}

    def visit(items: list[Resource], above: list[Resource]) -> None:
        for item in items:
            chain = [*above, item]
            found[str(item.get("linkId"))] = chain
            visit(item.get("item") or [], chain)

    visit(questionnaire.get("item") or [], [])
    return found


class _Bundle:
    """Collects entries with deterministic urn:uuid fullUrls and conditional-create requests."""

    def __init__(self, response: Resource) -> None:
        self.entries: list[Resource] = []
        self.by_link_id: dict[str, list[str]] = {}
        self.concerns: dict[str, list[str]] = {}
        self.key = _response_key(response)
        if response.get("id"):
            self.response_reference = f"QuestionnaireResponse/{response['id']}"
        else:
            # The response travels in the same transaction, created once.
            stored = {key: value for key, value in response.items() if key != "meta"}
            self.response_reference = self._full_url("QuestionnaireResponse", self.key)
            identifiers = stored.get("identifier") or {
                "system": IDENTIFIER + "questionnaire-response",
                "value": self.response_reference.removeprefix("urn:uuid:"),
            }
            stored["identifier"] = identifiers
            self.entries.append(_entry(self.response_reference, stored, identifiers))

    def add(self, resource: Resource, key: str, *, link_id: str | None = None, need_domain: str | None = None) -> None:
        kind = resource["resourceType"]
        scope = key if need_domain is not None else f"{self.key}/{key}"
        full_url = self._full_url(kind, scope)
        identifier = {"system": IDENTIFIER + f"extracted-{kind.lower()}", "value": full_url.removeprefix("urn:uuid:")}
        resource["identifier"] = [identifier]
        self.entries.append(_entry(full_url, resource, identifier))
        if link_id is not None:
            self.by_link_id.setdefault(link_id, []).append(full_url)
        if need_domain is not None:
            self.concerns.setdefault(need_domain, []).append(full_url)

    def full_url_of(self, link_id: str) -> str | None:
        urls = self.by_link_id.get(link_id)
        return urls[0] if urls else None

    def concerns_in(self, domain: str) -> list[str]:
        return list(self.concerns.get(domain, []))

    def bundle(self) -> Resource:
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}

    @staticmethod
    def _full_url(kind: str, key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{BASE}/{kind}/{key}')}"


def _entry(full_url: str, resource: Resource, identifier: Resource) -> Resource:
    token = f"{identifier['system']}|{identifier['value']}" if identifier.get("system") else str(identifier["value"])
    search = urlencode({"identifier": token})
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": search},
    }


def _response_key(response: Resource) -> str:
    """A stable key of the response: its id, its identifier, or else a digest of its content."""
    if response.get("id"):
        return f"QuestionnaireResponse/{response['id']}"
    identifier = response.get("identifier") or {}
    if identifier.get("value"):
        return f"{identifier.get('system', '')}|{identifier['value']}"
    content = {key: value for key, value in response.items() if key not in ("meta", "id", "text")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return f"sha256-{digest[:32]}"


__all__ = ["extract"]
