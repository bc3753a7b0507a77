"""The transition-readiness questionnaire: how ready a youth is to move from pediatric to adult care.

Modelled on the readiness domains of the Six Core Elements of Health Care Transition (knowing one's
health and medicines, managing one's own care, insurance, talking with the doctor alone, choosing adult
providers). The items are fhirbridge's own wording, answered on one four-step scale from "not yet" to
"on my own"; their codes and the scale are fhirbridge's own CodeSystem ``transition-readiness``, the
scale also a ValueSet. Imported by ``gen_assessment_data.py``, which writes and packs them with the needs
assessment.
"""

from __future__ import annotations

from typing import Any

Resource = dict[str, Any]

BASE = "http://fhirbridge.org/fhir"
QUESTIONNAIRE_URL = f"{BASE}/Questionnaire/transition-readiness"
CODE_SYSTEM_URL = f"{BASE}/CodeSystem/transition-readiness"
SCALE_URL = f"{BASE}/ValueSet/transition-readiness-scale"
DOMAIN_EXT = f"{BASE}/StructureDefinition/assessment-domain"
XHTML = "http://www.w3.org/1999/xhtml"

# The answer scale, least ready first: (code, display, definition).
SCALE = (
    ("not-yet", "Not yet", "The youth does not do this yet and has not started learning it."),
    ("learning", "Learning to do this", "The youth has started learning this with the care team or family."),
    ("with-help", "Does this with some help", "The youth does this, with reminders or help from an adult."),
    ("on-my-own", "Does this on my own", "The youth does this without help."),
)

# Readiness domains and their items: (domain code, heading, [(item code, question)]).
DOMAINS = (
    (
        "health-knowledge",
        "Knowing my health",
        [
            ("explain-condition", "I can explain my health condition, and how it affects my day, to a new doctor."),
            ("know-medicines", "I know the names of my medicines, what each one is for and when I take it."),
            ("know-allergies", "I know what I am allergic to and what happens when I am exposed to it."),
            ("know-emergency", "I know what to do, and whom to call, if my health suddenly gets worse."),
        ],
    ),
    (
        "self-management",
        "Managing my care",
        [
            ("make-appointments", "I make and keep my own medical appointments."),
            ("order-refills", "I ask for my prescription refills myself, before my medicine runs out."),
            ("keep-health-record", "I keep a list of my doctors, medicines and health needs on paper or my phone."),
        ],
    ),
    (
        "insurance",
        "Insurance and benefits",
        [
            ("use-insurance", "I carry my insurance card and know how to use it at a visit or pharmacy."),
            ("coverage-changes", "I know how my insurance or benefits may change when I become an adult."),
        ],
    ),
    (
        "communication",
        "Talking with my doctor",
        [
            ("see-doctor-alone", "I spend part of each visit with my doctor on my own, without a parent."),
            ("ask-questions", "I ask my doctors and nurses the questions I have about my health."),
            ("know-privacy", "I know which of my health information my parents can see once I am an adult."),
        ],
    ),
    (
        "adult-care",
        "Moving to adult care",
        [
            ("discussed-adult-care", "I have talked with my care team about when I will move to adult care."),
            ("chose-adult-provider", "I have helped choose the adult doctors I will see."),
        ],
    ),
)
GOALS_ITEM = ("own-goals", "In your own words: what do you want to be able to do for your health in the next year?")


def _coding(code: str, display: str) -> Resource:
    return {"system": CODE_SYSTEM_URL, "code": code, "display": display}


def _question(code: str, text: str) -> Resource:
    return {
        "linkId": code,
        "code": [_coding(code, text)],
        "text": text,
        "type": "choice",
        "required": True,
        "answerValueSet": SCALE_URL,
    }


def _domain(code: str, heading: str, questions: list[tuple[str, str]]) -> Resource:
    return {
        "extension": [{"url": DOMAIN_EXT, "valueCode": code}],
        "linkId": code,
        "code": [_coding(code, heading)],
        "text": heading,
        "type": "group",
        "required": True,
        "item": [_question(question, text) for question, text in questions],
    }


def questionnaire(version: str, date: str) -> Resource:
    title = "Transition readiness: moving from pediatric to adult care"
    description = (
        "Answered by the youth from about age 12, and again every year, to plan the move to adult care: "
        "how far the youth already knows their health and medicines, manages their own care, handles "
        "insurance and talks with the doctor alone. Modelled on the readiness domains of the Six Core "
        "Elements of Health Care Transition; the wording is fhirbridge's own."
    )
    code, text = GOALS_ITEM
    return {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_URL.rsplit("/", 1)[1],
        "text": {"status": "generated", "div": f'<div xmlns="{XHTML}"><p>{title}</p><p>{description}</p></div>'},
        "url": QUESTIONNAIRE_URL,
        "version": version,
        "name": "TransitionReadiness",
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "date": date,
        "publisher": "fhirbridge",
        "description": description,
        "code": [_coding("transition-readiness", "Transition readiness")],
        "item": [
            *(_domain(*domain) for domain in DOMAINS),
            {"linkId": code, "code": [_coding(code, "Goals in the youth's own words")], "text": text, "type": "text"},
        ],
    }


def _concepts() -> list[Resource]:
    concepts = [
        {
            "code": "transition-readiness",
            "display": "Transition readiness",
            "definition": "How ready a youth is to move from pediatric to adult health care.",
        }
    ]
    for domain, heading, questions in DOMAINS:
        concepts.append({"code": domain, "display": heading, "definition": f"Readiness domain: {heading.lower()}."})
        concepts += [{"code": code, "display": text, "definition": text} for code, text in questions]
    code, text = GOALS_ITEM
    concepts.append({"code": code, "display": "Goals in the youth's own words", "definition": text})
    concepts += [{"code": code, "display": display, "definition": definition} for code, display, definition in SCALE]
    return concepts


def code_system(version: str, date: str) -> Resource:
    concepts = _concepts()
    return {
        "resourceType": "CodeSystem",
        "id": CODE_SYSTEM_URL.rsplit("/", 1)[1],
        "text": {
            "status": "generated",
            "div": f'<div xmlns="{XHTML}"><p>Domains, items and answer scale of the fhirbridge transition-readiness '
            "questionnaire.</p></div>",
        },
        "url": CODE_SYSTEM_URL,
        "version": version,
        "name": "TransitionReadiness",
        "title": "Transition readiness codes",
        "status": "active",
        "date": date,
        "publisher": "fhirbridge",
        "description": "Readiness domains, question codes and the answer scale of the transition-readiness "
        "questionnaire (pediatric to adult care).",
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


def scale_value_set(version: str, date: str) -> Resource:
    return {
        "resourceType": "ValueSet",
        "id": SCALE_URL.rsplit("/", 1)[1],
        "text": {
            "status": "generated",
            "div": f'<div xmlns="{XHTML}"><p>How far a youth does a transition task alone.</p></div>',
        },
        "url": SCALE_URL,
        "version": version,
        "name": "TransitionReadinessScale",
        "status": "active",
        "date": date,
        "publisher": "fhirbridge",
        "compose": {
            "include": [
                {
                    "system": CODE_SYSTEM_URL,
                    "concept": [{"code": code, "display": display} for code, display, _ in SCALE],
                }
            ]
        },
    }


def resources(version: str, date: str) -> list[Resource]:
    return [questionnaire(version, date), code_system(version, date), scale_value_set(version, date)]
