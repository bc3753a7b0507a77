"""``Patient/$transfer-summary``: the document an adult practice receives when a youth moves to adult care.

A transition-of-care document (LOINC 18761-7, transfer summary) built by the ``$summary`` machinery
(``summary.patient_summary`` with its own ``DocumentKind``): the transition plan (when, to whom, the
youth's own goals), the youth's latest transition-readiness answers, then the summary's own problems,
medications, allergies, emergency plan and care team sections. Like ``$summary`` it holds only what the
caller may read: the receiving practice sees what the youth's Consent naming it shares.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.engine.operations.child_record import Built, ChildRecord, Section, text_of
from fhirbridge.engine.operations.summary import DocumentKind
from fhirbridge.engine.operations.summary_sections import SECTION_SYSTEM, SECTIONS
from fhirbridge.storage.contract import Resource

PLAN_KIND = "http://fhirbridge.org/fhir/CodeSystem/care-plan-kind"
STRUCTURE = "http://fhirbridge.org/fhir/StructureDefinition"
TARGET_AGE = f"{STRUCTURE}/transition-target-age"
TARGET_DATE = f"{STRUCTURE}/transition-target-date"
RECEIVING_PROVIDER = f"{STRUCTURE}/transition-receiving-provider"
READINESS_QUESTIONNAIRE = "http://fhirbridge.org/fhir/Questionnaire/transition-readiness"
TRANSFER_SUMMARY = "18761-7"
_CURRENT = ("active", "draft", "on-hold")


def is_transition_plan(resource: Resource) -> bool:
    return resource["resourceType"] == "CarePlan" and any(
        coding.get("system") == PLAN_KIND and coding.get("code") == "transition-plan"
        for concept in resource.get("category") or []
        if isinstance(concept, dict)
        for coding in concept.get("coding") or []
        if isinstance(coding, dict)
    )


def _extensions(element: Any, url: str) -> list[dict[str, Any]]:
    items = element.get("extension") if isinstance(element, dict) else None
    return [e for e in items or [] if isinstance(e, dict) and e.get("url") == url]


def _transition_plan(record: ChildRecord) -> Built:
    built = Built()
    labels = record.labels
    plans = [p for p in record.of_type("CarePlan") if is_transition_plan(p) and p.get("status") in _CURRENT]
    goals: list[Resource] = []
    for plan in plans:
        age = next((e["valueAge"].get("value") for e in _extensions(plan, TARGET_AGE) if e.get("valueAge")), None)
        day = next((e.get("valueDate") for e in _extensions(plan, TARGET_DATE)), None)
        built.add(
            plan.get("title") if isinstance(plan.get("title"), str) else None,
            [
                labels.format("transition.age", age=str(age)) if age is not None else "",
                labels.format("transition.date", date=str(day)) if day else "",
            ],
        )
        built.add(
            labels["transition.receiving"], [_provider_line(e, record) for e in _extensions(plan, RECEIVING_PROVIDER)]
        )
        found = [goal for ref in plan.get("goal") or [] if (goal := record.resolve(ref)) is not None]
        goals += found
        built.add(labels["transition.goals"], [text_of(g.get("description")) or "" for g in found])
        built.add(
            None, [note["text"] for note in plan.get("note") or [] if isinstance(note, dict) and note.get("text")]
        )
    built.entries = plans + goals
    return built


def _provider_line(extension: dict[str, Any], record: ChildRecord) -> str:
    who = next((e.get("valueReference") for e in _extensions(extension, "provider")), None)
    specialty = next((e.get("valueString") for e in _extensions(extension, "specialty")), None)
    name = record.name_of(who) or "—"
    return name + (f" ({specialty})" if isinstance(specialty, str) else "")


def _readiness(record: ChildRecord) -> Built:
    """The youth's latest answers to the transition-readiness questionnaire, question by question."""
    built = Built()
    responses = [
        r
        for r in record.of_type("QuestionnaireResponse")
        if str(r.get("questionnaire") or "").split("|", 1)[0] == READINESS_QUESTIONNAIRE
        and r.get("status") in ("completed", "amended")
    ]
    latest = max(responses, key=lambda r: str(r.get("authored") or ""), default=None)
    if latest is None:
        return built
    if isinstance(latest.get("authored"), str):
        built.add(None, [record.labels.format("readiness.answered", date=latest["authored"][:10])])
    for group in latest.get("item") or []:
        lines = [_answer_line(item) for item in group.get("item") or [] if isinstance(item, dict)]
        own = [] if group.get("item") else [_answer_line(group)]
        built.add(group.get("text") if group.get("item") else None, [*lines, *own])
    built.entries = [latest]
    return built


def _answer_line(item: dict[str, Any]) -> str:
    answers = []
    for answer in item.get("answer") or []:
        coding = answer.get("valueCoding") if isinstance(answer, dict) else None
        if isinstance(coding, dict):
            answers.append(str(coding.get("display") or coding.get("code")))
        elif isinstance(answer, dict) and isinstance(answer.get("valueString"), str):
            answers.append(answer["valueString"])
    question = item.get("text") or item.get("linkId") or ""
    return f"{question} — {'; '.join(answers)}" if answers else ""


_SUMMARY_SECTIONS = {section.key: section for section in SECTIONS}

TRANSFER_SUMMARY_DOCUMENT = DocumentKind(
    TRANSFER_SUMMARY,
    "Transfer summary note",
    "transfer.title",
    (
        Section("transition", SECTION_SYSTEM, "transition-plan", "Transition to adult care plan", _transition_plan),
        Section("readiness", SECTION_SYSTEM, "transition-readiness", "Transition readiness", _readiness),
        *(_SUMMARY_SECTIONS[key] for key in ("problems", "medications", "allergies", "emergency", "care_team")),
    ),
)

__all__ = ["TRANSFER_SUMMARY_DOCUMENT", "is_transition_plan"]
