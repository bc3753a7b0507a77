"""SDC ``$populate`` for the needs assessment: a response pre-filled from the child's record.

The record is given as FHIR resources by type (``{"Patient": [...], "Condition": [...], ...}``). What the
record says now wins: the child's name, birth date and preferred language from Patient, current
diagnoses from Condition, current medications from MedicationStatement and MedicationRequest, the care
team from CareTeam. Every other answer is carried over from the child's latest previous response to the
same questionnaire (repeating groups, such as the family's goals, whole), so the coordinator and family
review and update instead of starting again. Carried-over answers that no longer fit the item (its type
or options changed) are left out. The result is ``in-progress``: the family still has to confirm it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fhirbridge.assessment.answers import typed_value
from fhirbridge.assessment.definitions import ASSESSMENT_CODE_SYSTEM
from fhirbridge.assessment.validation import ANSWER_TYPES
from fhirbridge.errors import Unprocessable

Resource = dict[str, Any]
BCP47 = "urn:ietf:bcp:47"
INACTIVE_CONDITION = {"inactive", "resolved", "remission"}
QR_PROFILE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-questionnaireresponse"


def populate(
    questionnaire: Resource, context: Mapping[str, list[Resource]], *, authored: str | None = None
) -> Resource:
    """A QuestionnaireResponse to ``questionnaire`` pre-filled from the record in ``context``."""
    patients = list(context.get("Patient") or [])
    if not patients:
        raise Unprocessable("$populate needs the child's Patient resource in its context", expression="Patient")
    patient = patients[0]
    subject = f"Patient/{patient['id']}" if patient.get("id") else None
    from_record = _record_answers(questionnaire, patient, context, subject)
    previous = _previous_response(questionnaire, context.get("QuestionnaireResponse") or [], subject)
    items = _items(questionnaire.get("item") or [], (previous or {}).get("item") or [], from_record)
    response: Resource = {
        "resourceType": "QuestionnaireResponse",
        "meta": {"profile": [QR_PROFILE]},
        "questionnaire": _canonical(questionnaire),
        "status": "in-progress",
        "authored": authored or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if subject:
        response["subject"] = {"reference": subject, **({"display": _name(patient)} if _name(patient) else {})}
    if items:
        response["item"] = items
    return response


def _record_answers(
    questionnaire: Resource, patient: Resource, context: Mapping[str, list[Resource]], subject: str | None
) -> dict[str, list[Resource]]:
    def mine(resources: Iterable[Resource]) -> list[Resource]:
        return [
            resource
            for resource in resources
            if subject is None
            or (resource.get("subject") or resource.get("patient") or {}).get("reference") in (subject, None)
        ]

    answers: dict[str, list[Resource]] = {}
    name = _name(patient)
    if name:
        answers["child-name"] = [{"valueString": name}]
    if patient.get("birthDate"):
        answers["child-birth-date"] = [{"valueDate": patient["birthDate"]}]
    language = _preferred_language(questionnaire, patient)
    if language is not None:
        answers["preferred-language"] = [{"valueCoding": language}]
    diagnoses = _unique(_condition_text(condition) for condition in mine(context.get("Condition") or []))
    if diagnoses:
        answers["diagnoses"] = [{"valueString": text} for text in diagnoses]
    medications = _unique(
        [
            _medication_text(statement)
            for statement in mine(context.get("MedicationStatement") or [])
            if statement.get("status") in ("active", "intended", None)
        ]
        + [
            _medication_text(request)
            for request in mine(context.get("MedicationRequest") or [])
            if request.get("status") in ("active", "on-hold", None)
        ]
    )
    if medications:
        answers["medications"] = [{"valueString": text} for text in medications]
    members = _unique(
        _participant_text(participant)
        for team in mine(context.get("CareTeam") or [])
        if team.get("status") in ("active", None)
        for participant in team.get("participant") or []
    )
    if members:
        answers["care-team-members"] = [{"valueString": text} for text in members]
    return answers


def _items(definitions: list[Resource], previous: list[Resource], record: dict[str, list[Resource]]) -> list[Resource]:
    items: list[Resource] = []
    for definition in definitions:
        link_id = str(definition.get("linkId"))
        before = [item for item in previous if item.get("linkId") == link_id]
        kind = definition.get("type")
        if kind == "display":
            continue
        if kind == "group":
            repetitions = before if definition.get("repeats") and before else before[:1] or [{}]
            for repetition in repetitions:
                children = _items(definition.get("item") or [], repetition.get("item") or [], record)
                if children:
                    items.append(_item(definition, children=children))
            continue
        answers = record.get(link_id)
        if answers is None:
            answers = [answer for item in before for answer in item.get("answer") or [] if _fits(definition, answer)]
            if not definition.get("repeats"):
                answers = answers[:1]
        if answers:
            items.append(
                _item(
                    definition,
                    answers=[{key: value for key, value in answer.items() if key != "item"} for answer in answers],
                )
            )
    return items


def _item(
    definition: Resource, *, answers: list[Resource] | None = None, children: list[Resource] | None = None
) -> Resource:
    item: Resource = {"linkId": definition["linkId"]}
    if definition.get("text"):
        item["text"] = definition["text"]
    if answers:
        item["answer"] = answers
    if children:
        item["item"] = children
    return item


def _fits(definition: Resource, answer: Resource) -> bool:
    """Whether a carried-over answer still suits the item's type and options."""
    typed = typed_value(answer)
    if typed is None:
        return False
    kind, value = typed
    options = definition.get("answerOption") or []
    allowed = set(ANSWER_TYPES.get(str(definition.get("type")), frozenset()))
    allowed |= {found[0] for option in options if (found := typed_value(option)) is not None}
    if kind not in allowed:
        return False
    if options and not (definition.get("type") == "open-choice" and kind == "String"):
        keys = {
            (found[1].get("system"), found[1].get("code")) if found[0] == "Coding" else found[1]
            for option in options
            if (found := typed_value(option)) is not None
        }
        key = (value.get("system"), value.get("code")) if kind == "Coding" else value
        return key in keys
    return True


def _previous_response(questionnaire: Resource, responses: list[Resource], subject: str | None) -> Resource | None:
    url = questionnaire.get("url")
    candidates = [
        response
        for response in responses
        if str(response.get("questionnaire") or "").split("|", 1)[0] == url
        and response.get("status") in ("completed", "amended")
        and (subject is None or (response.get("subject") or {}).get("reference") == subject)
    ]
    return max(candidates, key=lambda response: str(response.get("authored") or ""), default=None)


def _preferred_language(questionnaire: Resource, patient: Resource) -> Resource | None:
    options = _options_of(questionnaire, "preferred-language")
    communications = patient.get("communication") or []
    ordered = sorted(communications, key=lambda communication: not communication.get("preferred"))
    for communication in ordered:
        for coding in (communication.get("language") or {}).get("coding") or []:
            if coding.get("system") not in (BCP47, None):
                continue
            base = str(coding.get("code", "")).split("-")[0].lower()
            for option in options:
                if option.get("code") == base:
                    return dict(option)
    return None


def _options_of(questionnaire: Resource, link_id: str) -> list[Resource]:
    def visit(items: list[Resource]) -> list[Resource]:
        for item in items:
            if item.get("linkId") == link_id:
                return [option["valueCoding"] for option in item.get("answerOption") or [] if "valueCoding" in option]
            found = visit(item.get("item") or [])
            if found:
                return found
        return []

    return visit(questionnaire.get("item") or [])


def _name(patient: Resource) -> str:
    names = patient.get("name") or []
    official = next((name for name in names if name.get("use") == "official"), names[0] if names else None)
    if not official:
        return ""
    if official.get("text"):
        return str(official["text"])
    return " ".join([*official.get("given", []), official.get("family", "")]).strip()


def _condition_text(condition: Resource) -> str | None:
    status = {coding.get("code") for coding in (condition.get("clinicalStatus") or {}).get("coding") or []}
    verification = {coding.get("code") for coding in (condition.get("verificationStatus") or {}).get("coding") or []}
    codings = (condition.get("code") or {}).get("coding") or []
    # Needs this assessment identified earlier are health concerns, not diagnoses.
    if status & INACTIVE_CONDITION or verification & {"refuted", "entered-in-error"}:
        return None
    if any(coding.get("system") == ASSESSMENT_CODE_SYSTEM for coding in codings):
        return None
    return _concept_text(condition.get("code"))


def _medication_text(resource: Resource) -> str | None:
    if resource.get("medicationCodeableConcept"):
        return _concept_text(resource["medicationCodeableConcept"])
    return (resource.get("medicationReference") or {}).get("display")


def _participant_text(participant: Resource) -> str | None:
    member = (participant.get("member") or {}).get("display")
    if not member:
        return None
    roles = [_concept_text(role) for role in participant.get("role") or []]
    role = ", ".join(text for text in roles if text)
    return f"{member} ({role})" if role else str(member)


def _concept_text(concept: Resource | None) -> str | None:
    if not concept:
        return None
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    return None


def _unique(texts: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        if text:
            seen.setdefault(text[:250], None)
    return list(seen)


def _canonical(questionnaire: Resource) -> str:
    url = str(questionnaire.get("url", ""))
    return f"{url}|{questionnaire['version']}" if questionnaire.get("version") else url


__all__ = ["populate"]
