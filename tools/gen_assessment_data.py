"""Generate the needs-assessment definitions: Questionnaires, CodeSystems, ValueSets.

The instruments are written here as Python (far shorter and easier to review than the JSON) and
published as FHIR JSON in ``profiles/questionnaires/``. The stratification rules are authored by hand in
``profiles/questionnaires/stratification-rules.json`` (they are meant to be tuned by a practice).

Everything the package reads at run time is then packed into
``fhirbridge/assessment/data/definitions.json``, so an installed fhirbridge needs neither this script
nor ``profiles/``.

Usage: python tools/gen_assessment_data.py [--check]
(``--check`` exits non-zero when the committed files differ from what the script would write.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import transition_readiness  # beside this script: the transition-readiness questionnaire

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles" / "questionnaires"
PACKAGE_DATA = ROOT / "fhirbridge" / "assessment" / "data" / "definitions.json"
RULES_FILE = PROFILES / "stratification-rules.json"

BASE = "http://fhirbridge.org/fhir"
ASSESSMENT_URL = f"{BASE}/Questionnaire/pediatric-care-coordination-needs-assessment"
SCREENING_URL = f"{BASE}/Questionnaire/pediatric-care-coordination-screening"
CS_ASSESSMENT = f"{BASE}/CodeSystem/care-coordination-assessment"
CS_COMPLEXITY = f"{BASE}/CodeSystem/complexity-level"
LOINC = "http://loinc.org"
BCP47 = "urn:ietf:bcp:47"
VERSION = "1.0.0"
DATE = "2026-11-23"

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition"
OBSERVATION_EXTRACT = f"{SDC}/sdc-questionnaire-observationExtract"
DEFINITION_EXTRACT = f"{SDC}/sdc-questionnaire-definitionExtract"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MIN_LENGTH = "http://hl7.org/fhir/StructureDefinition/minLength"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
# Which domain of the brief an item belongs to; the extractor uses it to choose Observation categories.
DOMAIN_EXT = f"{BASE}/StructureDefinition/assessment-domain"

Resource = dict[str, Any]

# Codes of our CodeSystem, collected while the instruments are built: code -> (display, definition).
CONCEPTS: dict[str, tuple[str, str]] = {}
# Answer lists published as ValueSets: name -> list of codes in CS_ASSESSMENT.
VALUE_SETS: dict[str, list[str]] = {}


def concept(code: str, display: str, definition: str = "") -> Resource:
    known = CONCEPTS.get(code)
    if known is not None and known[0] != display:
        raise ValueError(f"code {code} defined twice with different displays: {known[0]!r} / {display!r}")
    CONCEPTS[code] = (display, definition or display)
    return {"system": CS_ASSESSMENT, "code": code, "display": display}


def answers(*pairs: tuple[str, str]) -> list[Resource]:
    return [{"valueCoding": concept(code, display)} for code, display in pairs]


def value_set(name: str, *pairs: tuple[str, str]) -> str:
    for code, display in pairs:
        concept(code, display)
    VALUE_SETS[name] = [code for code, _ in pairs]
    return f"{BASE}/ValueSet/{name}"


def loinc(code: str, display: str) -> Resource:
    return {"system": LOINC, "code": code, "display": display}


def when(question: str, operator: str, **answer: Any) -> Resource:
    condition: Resource = {"question": question, "operator": operator}
    ((kind, value),) = answer.items()
    condition["answer" + kind[0].upper() + kind[1:]] = value
    return condition


def item(
    link_id: str,
    text: str,
    kind: str,
    *,
    code: Resource | None = None,
    own_code: bool = True,
    required: bool = False,
    repeats: bool = False,
    options: list[Resource] | None = None,
    value_set_url: str | None = None,
    enable_when: list[Resource] | None = None,
    enable_behavior: str | None = None,
    extract: bool = False,
    min_value: int | None = None,
    max_value: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    children: list[Resource] | None = None,
    definition: str | None = None,
    read_only: bool = False,
    control: str | None = None,
) -> Resource:
    entry: Resource = {}
    extensions: list[Resource] = []
    if control:
        extensions.append(
            {
                "url": ITEM_CONTROL,
                "valueCodeableConcept": {
                    "coding": [{"system": "http://hl7.org/fhir/questionnaire-item-control", "code": control}]
                },
            }
        )
    if min_value is not None:
        extensions.append({"url": MIN_VALUE, "valueInteger": min_value})
    if max_value is not None:
        extensions.append({"url": MAX_VALUE, "valueInteger": max_value})
    if min_length is not None:
        extensions.append({"url": MIN_LENGTH, "valueInteger": min_length})
    if extract:
        extensions.append({"url": OBSERVATION_EXTRACT, "valueBoolean": True})
    if extensions:
        entry["extension"] = extensions
    entry["linkId"] = link_id
    if definition:
        entry["definition"] = definition
    if code is None and own_code and kind != "display":
        code = concept(link_id, text.rstrip("?:"))
    if code is not None:
        entry["code"] = [code]
    entry["text"] = text
    entry["type"] = kind
    if enable_when:
        entry["enableWhen"] = enable_when
        if len(enable_when) > 1:
            entry["enableBehavior"] = enable_behavior or "all"
    if required:
        entry["required"] = True
    if repeats:
        entry["repeats"] = True
    if read_only:
        entry["readOnly"] = True
    if max_length is not None:
        entry["maxLength"] = max_length
    if value_set_url:
        entry["answerValueSet"] = value_set_url
    if options:
        entry["answerOption"] = options
    if children:
        entry["item"] = children
    return entry


def group(
    link_id: str, text: str, domain: str, children: list[Resource], *, extracts: str | None = None, **kwargs: Any
) -> Resource:
    # A section holding required questions is itself required, or leaving it out would skip them.
    kwargs.setdefault("required", any(child.get("required") for child in children))
    entry = item(link_id, text, "group", children=children, own_code=False, **kwargs)
    extensions = entry.setdefault("extension", [])
    extensions.insert(0, {"url": DOMAIN_EXT, "valueCode": domain})
    if extracts:
        # Definition-based extraction: each repetition of the group becomes one resource of this type.
        extensions.append(
            {
                "url": DEFINITION_EXTRACT,
                "extension": [
                    {"url": "definition", "valueCanonical": f"http://hl7.org/fhir/StructureDefinition/{extracts}"}
                ],
            }
        )
    return entry


YES_NO_LOINC = [{"valueCoding": loinc("LA33-6", "Yes")}, {"valueCoding": loinc("LA32-8", "No")}]
HUNGER_VITAL_SIGN = [
    {"valueCoding": loinc("LA28397-0", "Often true")},
    {"valueCoding": loinc("LA6729-3", "Sometimes true")},
    {"valueCoding": loinc("LA28398-8", "Never true")},
]


def assessment_items() -> list[Resource]:
    frequency = value_set(
        "cc-frequency",
        ("never", "Never"),
        ("rarely", "Rarely"),
        ("sometimes", "Sometimes"),
        ("often", "Often"),
        ("always", "Always"),
    )
    needs_met = value_set(
        "cc-needs-met",
        ("met-fully", "Yes, fully"),
        ("met-partly", "Partly"),
        ("met-not", "No"),
    )
    service_status = value_set(
        "cc-service-status",
        ("service-receiving", "Receiving the services needed"),
        ("service-needed-not-receiving", "Needs services but is not receiving them"),
        ("service-not-needed", "Does not need services"),
    )
    domains = value_set(
        "cc-assessment-domain",
        ("domain-medical", "Medical health"),
        ("domain-behavioral", "Behavioral health"),
        ("domain-dental", "Dental health"),
        ("domain-development", "Development and school"),
        ("domain-social", "Social supports"),
        ("domain-financial", "Financial needs and insurance"),
        ("domain-family", "Family demands, relationships and functioning"),
        ("domain-culture", "Cultural beliefs and values"),
        ("domain-language", "Language and interpreter needs"),
    )
    return [
        group(
            "about",
            "About this assessment",
            "administrative",
            [
                item(
                    "child-name",
                    "Child's name",
                    "string",
                    required=True,
                    read_only=True,
                    definition="http://hl7.org/fhir/StructureDefinition/Patient#Patient.name.text",
                ),
                item(
                    "child-birth-date",
                    "Child's date of birth",
                    "date",
                    required=True,
                    read_only=True,
                    definition="http://hl7.org/fhir/StructureDefinition/Patient#Patient.birthDate",
                ),
                item(
                    "respondent-relationship",
                    "Who is answering for the family?",
                    "choice",
                    required=True,
                    options=answers(
                        ("mother", "Mother"),
                        ("father", "Father"),
                        ("grandparent", "Grandparent"),
                        ("foster-parent", "Foster parent"),
                        ("legal-guardian", "Legal guardian"),
                        ("youth-self", "The young person"),
                        ("other-relationship", "Other"),
                    ),
                ),
                item(
                    "assessment-mode",
                    "How was the assessment done?",
                    "choice",
                    required=True,
                    options=answers(
                        ("mode-in-person", "In person"),
                        ("mode-phone", "By phone"),
                        ("mode-video", "By video"),
                        ("mode-form-at-home", "Form sent home"),
                    ),
                ),
            ],
        ),
        group(
            "medical",
            "Medical health status",
            "medical",
            [
                item("diagnoses", "Diagnoses and health conditions", "string", repeats=True, max_length=250),
                item("medications", "Current medications", "string", repeats=True, max_length=250),
                item(
                    "overall-health",
                    "In general, how would you describe your child's health?",
                    "choice",
                    required=True,
                    extract=True,
                    options=answers(
                        ("health-excellent", "Excellent"),
                        ("health-very-good", "Very good"),
                        ("health-good", "Good"),
                        ("health-fair", "Fair"),
                        ("health-poor", "Poor"),
                    ),
                ),
                item(
                    "hospitalizations-12m",
                    "Hospital stays in the past 12 months",
                    "integer",
                    required=True,
                    extract=True,
                    min_value=0,
                    max_value=60,
                ),
                item(
                    "ed-visits-12m",
                    "Emergency department visits in the past 12 months",
                    "integer",
                    extract=True,
                    min_value=0,
                    max_value=100,
                ),
                item(
                    "specialist-count",
                    "Number of specialists currently seeing the child",
                    "integer",
                    required=True,
                    extract=True,
                    min_value=0,
                    max_value=40,
                ),
                item(
                    "care-team-members",
                    "Doctors, therapists and agencies involved in the child's care",
                    "string",
                    repeats=True,
                    max_length=250,
                ),
                item(
                    "uses-equipment",
                    "Does your child use medical equipment or technology "
                    "(for example a feeding tube, wheelchair, oxygen, ventilator)?",
                    "boolean",
                    required=True,
                    extract=True,
                ),
                item(
                    "equipment",
                    "Which equipment or technology?",
                    "string",
                    repeats=True,
                    max_length=250,
                    enable_when=[when("uses-equipment", "=", boolean=True)],
                ),
                item(
                    "medical-needs-met",
                    "Are your child's medical care needs being met?",
                    "choice",
                    required=True,
                    extract=True,
                    value_set_url=needs_met,
                ),
            ],
        ),
        group(
            "behavioral",
            "Behavioral health status",
            "behavioral",
            [
                item(
                    "behavioral-concern",
                    "Do you have concerns about your child's emotions, behavior or mental health?",
                    "boolean",
                    required=True,
                    extract=True,
                ),
                item(
                    "behavioral-description",
                    "Please describe your concerns",
                    "text",
                    max_length=2000,
                    enable_when=[when("behavioral-concern", "=", boolean=True)],
                ),
                item(
                    "behavioral-services",
                    "Is your child getting the behavioral health services needed?",
                    "choice",
                    required=True,
                    extract=True,
                    value_set_url=service_status,
                    enable_when=[when("behavioral-concern", "=", boolean=True)],
                ),
            ],
        ),
        group(
            "dental",
            "Dental health status",
            "dental",
            [
                item("dental-home", "Does your child have a regular dentist?", "boolean", required=True, extract=True),
                item(
                    "last-dental-visit",
                    "When did your child last see a dentist?",
                    "choice",
                    extract=True,
                    options=answers(
                        ("dental-within-6m", "Within the past 6 months"),
                        ("dental-6-12m", "6 to 12 months ago"),
                        ("dental-over-12m", "More than 12 months ago"),
                        ("dental-never", "Never"),
                    ),
                ),
                item(
                    "dental-concern", "Do you have concerns about your child's teeth or mouth?", "boolean", extract=True
                ),
            ],
        ),
        group(
            "development",
            "Development and school performance",
            "development",
            [
                item(
                    "developmental-concern",
                    "Do you have concerns about how your child is learning, moving, talking or growing?",
                    "boolean",
                    required=True,
                    extract=True,
                ),
                item(
                    "education-setting",
                    "Where does your child spend the day?",
                    "choice",
                    required=True,
                    extract=True,
                    options=answers(
                        ("setting-home", "At home (not yet in a program)"),
                        ("setting-early-intervention", "Early intervention program"),
                        ("setting-child-care", "Child care or preschool"),
                        ("setting-school", "School"),
                        ("setting-not-attending", "Of school age but not attending"),
                    ),
                ),
                item(
                    "school-plan",
                    "Does your child have a school or early intervention plan?",
                    "choice",
                    extract=True,
                    enable_behavior="any",
                    enable_when=[
                        when("education-setting", "=", coding=concept("setting-school", "School")),
                        when(
                            "education-setting",
                            "=",
                            coding=concept("setting-early-intervention", "Early intervention program"),
                        ),
                        when("education-setting", "=", coding=concept("setting-child-care", "Child care or preschool")),
                    ],
                    options=answers(
                        ("plan-ifsp", "Individualized Family Service Plan (IFSP)"),
                        ("plan-iep", "Individualized Education Program (IEP)"),
                        ("plan-504", "Section 504 plan"),
                        ("plan-none", "No plan"),
                        ("plan-unknown", "Not sure"),
                    ),
                ),
                item(
                    "school-performance",
                    "How is your child doing in school?",
                    "choice",
                    extract=True,
                    enable_when=[when("education-setting", "=", coding=concept("setting-school", "School"))],
                    options=answers(
                        ("performance-above", "Above grade level"),
                        ("performance-at", "At grade level"),
                        ("performance-below", "Below grade level"),
                    ),
                ),
                item(
                    "school-days-missed",
                    "School days missed for health reasons in the past 3 months",
                    "integer",
                    extract=True,
                    min_value=0,
                    max_value=70,
                    enable_when=[when("education-setting", "=", coding=concept("setting-school", "School"))],
                ),
            ],
        ),
        group(
            "social",
            "Social supports",
            "social",
            [
                item(
                    "has-support-person",
                    "Is there someone you can turn to for help with your child?",
                    "boolean",
                    required=True,
                    extract=True,
                ),
                item(
                    "support-people",
                    "Who helps you?",
                    "string",
                    repeats=True,
                    max_length=250,
                    enable_when=[when("has-support-person", "=", boolean=True)],
                ),
                item(
                    "isolation",
                    "How often do you feel alone in caring for your child?",
                    "choice",
                    extract=True,
                    value_set_url=frequency,
                ),
                item(
                    "family-to-family-interest",
                    "Would you like to be connected with another family or a family support organization?",
                    "boolean",
                ),
            ],
        ),
        group(
            "financial",
            "Financial needs and insurance",
            "financial",
            [
                item(
                    "insurance-coverage",
                    "What health insurance does your child have?",
                    "choice",
                    required=True,
                    extract=True,
                    options=answers(
                        ("coverage-public", "Medicaid or CHIP"),
                        ("coverage-private", "Private"),
                        ("coverage-both", "Both public and private"),
                        ("coverage-none", "No insurance"),
                        ("coverage-other", "Other"),
                    ),
                ),
                item(
                    "coverage-gaps",
                    "Does insurance leave needed services, equipment or medications uncovered?",
                    "boolean",
                    extract=True,
                    enable_when=[when("insurance-coverage", "!=", coding=concept("coverage-none", "No insurance"))],
                ),
                item(
                    "ssi-status",
                    "Supplemental Security Income (SSI) for the child",
                    "choice",
                    options=answers(
                        ("ssi-receiving", "Receiving"),
                        ("ssi-applied", "Applied"),
                        ("ssi-not-applied", "Not applied"),
                        ("ssi-unknown", "Not sure"),
                    ),
                ),
                item(
                    "financial-strain",
                    "How hard is it for you to pay for the very basics like food, housing, medical care, and heating?",
                    "choice",
                    extract=True,
                    code=loinc(
                        "76513-1",
                        "How hard is it for you to pay for the very basics like food, "
                        "housing, medical care, and heating",
                    ),
                    options=answers(
                        ("strain-very-hard", "Very hard"),
                        ("strain-somewhat-hard", "Somewhat hard"),
                        ("strain-not-hard", "Not hard at all"),
                    ),
                ),
                item(
                    "food-worry",
                    "Within the past 12 months, we worried whether our food would run out before "
                    "we got money to buy more.",
                    "choice",
                    extract=True,
                    options=HUNGER_VITAL_SIGN,
                    code=loinc(
                        "88122-7",
                        "Within the past 12 months we worried whether our food would run out "
                        "before we got money to buy more",
                    ),
                ),
                item(
                    "food-ran-out",
                    "Within the past 12 months, the food we bought just didn't last and we didn't "
                    "have money to get more.",
                    "choice",
                    extract=True,
                    options=HUNGER_VITAL_SIGN,
                    code=loinc(
                        "88123-5",
                        "Within the past 12 months the food we bought just didn't last and "
                        "we didn't have money to get more",
                    ),
                ),
                item(
                    "housing",
                    "What is your living situation today?",
                    "choice",
                    required=True,
                    extract=True,
                    code=loinc("71802-3", "Housing status"),
                    options=answers(
                        ("housing-steady", "I have a steady place to live"),
                        (
                            "housing-worried",
                            "I have a place to live today, but I am worried about losing it in the future",
                        ),
                        ("housing-none", "I do not have a steady place to live"),
                    ),
                ),
                item(
                    "transportation",
                    "In the past 12 months, has lack of transportation kept you from medical "
                    "appointments, meetings, work, or from getting things needed for daily living?",
                    "choice",
                    extract=True,
                    options=YES_NO_LOINC,
                    code=loinc(
                        "93030-5",
                        "Has lack of transportation kept you from medical appointments, "
                        "meetings, work, or from getting things needed for daily living",
                    ),
                ),
            ],
        ),
        group(
            "family",
            "Family demands, relationships and functioning",
            "family",
            [
                item(
                    "caregiver-strain",
                    "How much strain does caring for your child put on you?",
                    "choice",
                    required=True,
                    extract=True,
                    options=answers(
                        ("strain-none", "None"),
                        ("strain-little", "A little"),
                        ("strain-moderate", "Moderate"),
                        ("strain-a-lot", "A lot"),
                    ),
                ),
                item(
                    "work-impact",
                    "Has anyone in the family stopped or cut back work because of the child's health?",
                    "boolean",
                    extract=True,
                ),
                item(
                    "other-dependents",
                    "Are you also caring for other children or adults with health needs?",
                    "boolean",
                    extract=True,
                ),
                item(
                    "family-functioning",
                    "How well does your family get along and handle problems together?",
                    "choice",
                    extract=True,
                    options=answers(
                        ("functioning-very-well", "Very well"),
                        ("functioning-well", "Well"),
                        ("functioning-somewhat", "Somewhat well"),
                        ("functioning-poorly", "Not well"),
                    ),
                ),
                item("respite-need", "Would you like help finding respite care?", "boolean", extract=True),
            ],
        ),
        group(
            "culture",
            "Cultural beliefs and values",
            "culture",
            [
                item(
                    "cultural-considerations",
                    "Are there cultural, religious or family beliefs and practices the care team should know about?",
                    "boolean",
                    required=True,
                ),
                item(
                    "cultural-description",
                    "What should the care team know?",
                    "text",
                    max_length=2000,
                    enable_when=[when("cultural-considerations", "=", boolean=True)],
                    required=True,
                ),
            ],
        ),
        group(
            "language",
            "Language and interpreter needs",
            "language",
            [
                item(
                    "preferred-language",
                    "What language does your family prefer for talking about your child's health?",
                    "choice",
                    required=True,
                    extract=True,
                    code=loinc("54899-0", "Preferred language"),
                    options=[
                        {"valueCoding": {"system": BCP47, "code": code, "display": display}}
                        for code, display in (
                            ("en", "English"),
                            ("es", "Spanish"),
                            ("vi", "Vietnamese"),
                            ("zh", "Chinese"),
                            ("ar", "Arabic"),
                            ("so", "Somali"),
                            ("ht", "Haitian Creole"),
                            ("pt", "Portuguese"),
                            ("ru", "Russian"),
                            ("fr", "French"),
                        )
                    ],
                ),
                item(
                    "interpreter-needed",
                    "Do you need an interpreter when talking with doctors or school staff?",
                    "boolean",
                    required=True,
                    extract=True,
                ),
                item(
                    "written-language",
                    "In which language should written materials be provided?",
                    "string",
                    max_length=100,
                    enable_when=[when("interpreter-needed", "=", boolean=True)],
                ),
            ],
        ),
        group(
            "strengths",
            "Strengths of child and family",
            "strengths",
            [
                item(
                    "child-strengths",
                    "What are your child's strengths, interests and what does your child enjoy?",
                    "text",
                    required=True,
                    min_length=2,
                    max_length=2000,
                ),
                item("family-strengths", "What are your family's strengths?", "text", max_length=2000),
            ],
        ),
        group(
            "goals",
            "The family's own goals",
            "goals",
            [
                group(
                    "family-goal",
                    "A goal of the family",
                    "goals",
                    [
                        item(
                            "goal-description",
                            "What would you like to achieve?",
                            "string",
                            required=True,
                            min_length=3,
                            max_length=500,
                            own_code=False,
                            definition="http://hl7.org/fhir/StructureDefinition/Goal#Goal.description.text",
                        ),
                        item(
                            "goal-domain",
                            "Which area is this about?",
                            "choice",
                            own_code=False,
                            value_set_url=domains,
                            definition="http://hl7.org/fhir/StructureDefinition/Goal#Goal.category",
                        ),
                        item(
                            "goal-priority",
                            "How important is it now?",
                            "choice",
                            own_code=False,
                            definition="http://hl7.org/fhir/StructureDefinition/Goal#Goal.priority",
                            options=[
                                {
                                    "valueCoding": {
                                        "system": "http://terminology.hl7.org/CodeSystem/goal-priority",
                                        "code": code,
                                        "display": display,
                                    }
                                }
                                for code, display in (
                                    ("high-priority", "High Priority"),
                                    ("medium-priority", "Medium Priority"),
                                    ("low-priority", "Low Priority"),
                                )
                            ],
                        ),
                        item(
                            "goal-target-date",
                            "By when?",
                            "date",
                            own_code=False,
                            definition="http://hl7.org/fhir/StructureDefinition/Goal#Goal.target.dueDate",
                        ),
                    ],
                    repeats=True,
                    required=True,
                    extracts="Goal",
                ),
            ],
        ),
        group(
            "readiness",
            "Readiness for information",
            "readiness",
            [
                item(
                    "information-readiness",
                    "How much information would you like right now about your child's condition and services?",
                    "choice",
                    required=True,
                    extract=True,
                    options=answers(
                        ("readiness-all", "As much as possible now"),
                        ("readiness-some", "Some, a little at a time"),
                        ("readiness-not-now", "Not right now"),
                    ),
                ),
                item(
                    "information-format",
                    "How do you prefer to receive information?",
                    "choice",
                    repeats=True,
                    enable_when=[
                        when("information-readiness", "!=", coding=concept("readiness-not-now", "Not right now"))
                    ],
                    options=answers(
                        ("format-written", "Written"),
                        ("format-conversation", "In conversation"),
                        ("format-video", "Video"),
                        ("format-portal", "Online portal"),
                    ),
                ),
                item(
                    "information-topics",
                    "Topics you would like to learn about",
                    "string",
                    repeats=True,
                    max_length=250,
                    enable_when=[
                        when("information-readiness", "!=", coding=concept("readiness-not-now", "Not right now"))
                    ],
                ),
            ],
        ),
    ]


# CSHCN Screener pattern: five stems, each qualifying only when its follow-ups are all "yes".
SCREENER_STEMS = [
    ("medication", "Does your child currently need or use medicine prescribed by a doctor, other than vitamins?", True),
    (
        "services",
        "Does your child need or use more medical care, mental health or educational services than is "
        "usual for most children of the same age?",
        True,
    ),
    (
        "limitation",
        "Is your child limited or prevented in any way in the ability to do the things most children "
        "of the same age can do?",
        True,
    ),
    ("therapy", "Does your child need or get special therapy, such as physical, occupational or speech therapy?", True),
    (
        "behavioral",
        "Does your child have any kind of emotional, developmental or behavioral problem for which "
        "treatment or counseling is needed?",
        False,
    ),
]


def screening_items() -> list[Resource]:
    stems: list[Resource] = []
    for name, text, asks_cause in SCREENER_STEMS:
        stem = f"screen-{name}"
        children: list[Resource] = []
        previous = stem
        if asks_cause:
            cause = f"{stem}-condition"
            children.append(
                item(
                    cause,
                    "Is this because of any medical, behavioral or other health condition?",
                    "boolean",
                    required=True,
                    enable_when=[when(stem, "=", boolean=True)],
                )
            )
            previous = cause
        children.append(
            item(
                f"{stem}-duration",
                "Is this a condition that has lasted or is expected to last for 12 months or longer?",
                "boolean",
                required=True,
                enable_when=[when(previous, "=", boolean=True)],
            )
        )
        stems.append(item(stem, text, "boolean", required=True))
        stems.extend(children)
    stems.append(
        item(
            "screen-family-request",
            "Would your family like help coordinating your child's care?",
            "boolean",
            required=True,
        )
    )
    return [group("screening", "Children with special health care needs screening", "screening", stems)]


def questionnaire(url: str, name: str, title: str, description: str, items: list[Resource]) -> Resource:
    return {
        "resourceType": "Questionnaire",
        "id": url.rsplit("/", 1)[1],
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-extr-obsn",
                "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-extr-defn",
            ]
        },
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{title}</p><p>{description}</p></div>',
        },
        "url": url,
        "version": VERSION,
        "name": name,
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "date": DATE,
        "publisher": "fhirbridge",
        "description": description,
        "item": items,
    }


def code_system_assessment() -> Resource:
    return {
        "resourceType": "CodeSystem",
        "id": "care-coordination-assessment",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Item, answer and '
            "identified-need codes of the fhirbridge pediatric care-coordination needs assessment.</p></div>",
        },
        "url": CS_ASSESSMENT,
        "version": VERSION,
        "name": "CareCoordinationAssessment",
        "title": "Care-coordination needs assessment codes",
        "status": "active",
        "date": DATE,
        "publisher": "fhirbridge",
        "description": "Question, answer and identified-need codes of the pediatric care-coordination needs "
        "assessment and its screening form, for the items that have no LOINC code.",
        "caseSensitive": True,
        "content": "complete",
        "count": len(CONCEPTS),
        "concept": [
            {"code": code, "display": display, "definition": definition}
            for code, (display, definition) in sorted(CONCEPTS.items())
        ],
    }


def code_system_complexity(rules: Resource) -> Resource:
    levels = rules["levels"]
    return {
        "resourceType": "CodeSystem",
        "id": "complexity-level",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Levels of care-coordination complexity.</p></div>',
        },
        "url": CS_COMPLEXITY,
        "version": VERSION,
        "name": "ComplexityLevel",
        "title": "Care-coordination complexity level",
        "status": "active",
        "date": DATE,
        "publisher": "fhirbridge",
        "description": "How much care coordination a child and family need, set by the stratification rules "
        "from the needs assessment; each level has its own plan-review interval.",
        "caseSensitive": True,
        "content": "complete",
        "count": len(levels),
        "concept": [
            {"code": level["code"], "display": level["display"], "definition": level["definition"]} for level in levels
        ],
    }


def value_set_resources() -> list[Resource]:
    return [
        {
            "resourceType": "ValueSet",
            "id": name,
            "text": {
                "status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>Answers for {name}.</p></div>',
            },
            "url": f"{BASE}/ValueSet/{name}",
            "version": VERSION,
            "name": "".join(part.capitalize() for part in name.split("-")),
            "status": "active",
            "date": DATE,
            "publisher": "fhirbridge",
            "compose": {
                "include": [
                    {
                        "system": CS_ASSESSMENT,
                        "concept": [{"code": code, "display": CONCEPTS[code][0]} for code in codes],
                    }
                ]
            },
        }
        for name, codes in sorted(VALUE_SETS.items())
    ]


def need_concepts(rules: Resource) -> None:
    # What a complexity RiskAssessment assesses, and the needs that become health-concern Conditions.
    concept(
        "care-coordination-complexity",
        "Care-coordination complexity",
        "The level of care coordination a child and family need, from the needs assessment",
    )
    for need in rules["needs"]:
        concept(need["code"], need["display"], need.get("definition", need["display"]))


def build() -> dict[str, str]:
    """File name -> JSON text of every generated file (profiles and package data)."""
    CONCEPTS.clear()
    VALUE_SETS.clear()
    rules = json.loads(RULES_FILE.read_text())
    assessment = questionnaire(
        ASSESSMENT_URL,
        "PediatricCareCoordinationNeedsAssessment",
        "Pediatric care-coordination needs assessment",
        "Comprehensive, family-centered needs assessment for children and youth with special health care "
        "needs: medical, behavioral and dental health; development and school; social supports; financial "
        "needs and insurance; family functioning; culture; language; strengths; the family's own goals; and "
        "readiness for information.",
        assessment_items(),
    )
    screening = questionnaire(
        SCREENING_URL,
        "PediatricCareCoordinationScreening",
        "Pediatric care-coordination screening",
        "Short screening on the pattern of the CSHCN Screener: a child meets a criterion when a stem is "
        "answered yes and its follow-up questions are all yes. Any criterion met, or a family asking for "
        "help, means the full needs assessment is needed.",
        screening_items(),
    )
    need_concepts(rules)
    resources = [
        assessment,
        screening,
        code_system_assessment(),
        code_system_complexity(rules),
        *value_set_resources(),
        *transition_readiness.resources(VERSION, DATE),
    ]
    files = {f"{resource['resourceType']}-{resource['id']}.json": _dump(resource) for resource in resources}
    package = {"resources": resources, "rules": rules}
    files["__package__"] = json.dumps(package, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"
    return files


def _dump(resource: Resource) -> str:
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare with the committed files")
    args = parser.parse_args(argv)
    stale: list[str] = []
    for name, text in build().items():
        path = PACKAGE_DATA if name == "__package__" else PROFILES / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print("out of date, run tools/gen_assessment_data.py:", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
