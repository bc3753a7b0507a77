"""Generate the needs-assessment definitions: Questionnaires, CodeSystems, ValueSets.

The instruments are authored in ``assessment_instruments.toml`` beside this script (far shorter and
easier to review than the JSON; its opening comment says how an item is written) and published as FHIR
JSON in ``profiles/questionnaires/``. The stratification rules are authored by hand in
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
import tomllib
from pathlib import Path
from typing import Any

import transition_readiness  # beside this script: the transition-readiness questionnaire

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENTS_FILE = Path(__file__).with_name("assessment_instruments.toml")
PROFILES = ROOT / "profiles" / "questionnaires"
PACKAGE_DATA = ROOT / "fhirbridge" / "assessment" / "data" / "definitions.json"
RULES_FILE = PROFILES / "stratification-rules.json"

BASE = "http://fhirbridge.org/fhir"
CS_ASSESSMENT = f"{BASE}/CodeSystem/care-coordination-assessment"
CS_COMPLEXITY = f"{BASE}/CodeSystem/complexity-level"
LOINC = "http://loinc.org"
VERSION = "1.0.0"
DATE = "2026-11-23"

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition"
OBSERVATION_EXTRACT = f"{SDC}/sdc-questionnaire-observationExtract"
DEFINITION_EXTRACT = f"{SDC}/sdc-questionnaire-definitionExtract"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MIN_LENGTH = "http://hl7.org/fhir/StructureDefinition/minLength"
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


def value_set(name: str, pairs: list[list[str]]) -> None:
    for code, display in pairs:
        concept(code, display)
    VALUE_SETS[name] = [code for code, _ in pairs]


def when(question: str, operator: str, **answer: Any) -> Resource:
    """An enableWhen condition; an answer ``coding`` names a code of our CodeSystem an item before defines."""
    condition: Resource = {"question": question, "operator": operator}
    ((kind, value),) = answer.items()
    if kind == "coding":
        if value not in CONCEPTS:
            raise ValueError(f"enable_when on {question} names {value!r}, which no answer before it defines")
        value = {"system": CS_ASSESSMENT, "code": value, "display": CONCEPTS[value][0]}
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
) -> Resource:
    entry: Resource = {}
    extensions: list[Resource] = []
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


def from_table(entry: Resource, answer_lists: dict[str, list[Resource]]) -> Resource:
    """One item of the instruments file, a question or a group with what is in it, as a Questionnaire item."""
    fields = dict(entry)
    if "domain" in fields:
        children = [*screener_stems(fields), *(from_table(child, answer_lists) for child in fields.pop("items", []))]
        return group(fields.pop("link_id"), fields.pop("text"), fields.pop("domain"), children, **fields)
    if "loinc" in fields:
        code, display = fields.pop("loinc")
        fields["code"] = {"system": LOINC, "code": code, "display": display}
    if "options" in fields:
        fields["options"] = [{"valueCoding": concept(code, display)} for code, display in fields["options"]]
    if "answer_list" in fields:
        fields["options"] = answer_lists[fields.pop("answer_list")]
    if "value_set" in fields:
        fields["value_set_url"] = f"{BASE}/ValueSet/{fields.pop('value_set')}"
    if "enable_when" in fields:
        fields["enable_when"] = [when(**condition) for condition in fields["enable_when"]]
    return item(fields.pop("link_id"), fields.pop("text"), fields.pop("type"), **fields)


def screener_stems(fields: Resource) -> list[Resource]:
    """The stems of a screening group (taken out of its ``fields``), each followed by its follow-ups."""
    stems: list[Resource] = []
    for entry in fields.pop("stems", []):
        stem = f"screen-{entry['name']}"
        children: list[Resource] = []
        previous = stem
        if entry["asks_cause"]:
            cause = f"{stem}-condition"
            children.append(
                item(
                    cause,
                    fields["cause_question"],
                    "boolean",
                    required=True,
                    enable_when=[when(stem, "=", boolean=True)],
                )
            )
            previous = cause
        children.append(
            item(
                f"{stem}-duration",
                fields["duration_question"],
                "boolean",
                required=True,
                enable_when=[when(previous, "=", boolean=True)],
            )
        )
        stems.append(item(stem, entry["text"], "boolean", required=True))
        stems.extend(children)
    if stems:
        del fields["cause_question"], fields["duration_question"]
    return stems


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
    instruments = tomllib.loads(INSTRUMENTS_FILE.read_text())
    rules = json.loads(RULES_FILE.read_text())
    for name, pairs in instruments["value_sets"].items():
        value_set(name, pairs)
    answer_lists = {
        name: [
            {"valueCoding": {"system": listed["system"], "code": code, "display": display}}
            for code, display in listed["answers"]
        ]
        for name, listed in instruments["answer_lists"].items()
    }
    assessment, screening = (
        questionnaire(
            f"{BASE}/Questionnaire/{form['id']}",
            form["name"],
            form["title"],
            form["description"],
            [from_table(entry, answer_lists) for entry in form["items"]],
        )
        for form in (instruments["assessment"], instruments["screening"])
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
