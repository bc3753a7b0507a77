"""Needs-assessment operations: ``$populate``, ``$extract``, ``$assess`` (extract and stratify in one
step, or the screening decision), the worklist of overdue plan reviews, and the check of every
QuestionnaireResponse written against its Questionnaire.

Step one of care coordination happens over the API: the coordinator pre-fills the assessment from the
child's record, the family answers, and answering yields the extracted Observations, Conditions and
Goals, the complexity level (a RiskAssessment whose ``basis`` is the response) and the next review date.
A screening answers only whether the full assessment is needed; it is never stratified.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fhirbridge.assessment import (
    ASSESSMENT_URL,
    SCREENING_URL,
    OverdueReview,
    assess_complexity,
    check_response,
    definition,
    extract,
    is_screening,
    overdue_reviews,
    populate,
    require_valid_response,
    screening_outcome,
)
from fhirbridge.assessment.definitions import published_questionnaires
from fhirbridge.assessment.reviews import REVIEW_TASK_CODE, TASK_KIND, discharge
from fhirbridge.engine.bundles import new_bundle
from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.engine.operations.compartment import resources_of
from fhirbridge.engine.stores import IndexedCode, SearchStore
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.errors import BadRequest, Issue, NotFound, Unprocessable
from fhirbridge.security.access import SYSTEM_ACCESS, Access
from fhirbridge.storage.contract import Resource


class AssessmentOperations:
    def __init__(self, engine: FhirEngine, bundles: BundleProcessor) -> None:
        self.engine = engine
        self.bundles = bundles

    def publish_instruments(self) -> None:
        """Make the published Questionnaires readable and searchable on this server (once)."""
        for questionnaire in published_questionnaires():
            if self.engine.repository.read("Questionnaire", questionnaire["id"]) is None:
                self.engine.update(SYSTEM_ACCESS, "Questionnaire", questionnaire["id"], questionnaire)

    def questionnaire(self, access: Access, canonical: str) -> Resource:
        """A Questionnaire by canonical URL: one stored here first, else one fhirbridge publishes."""
        found = self.known_questionnaire(access, canonical)
        if found is None:
            raise NotFound(f"No Questionnaire is known by {canonical}", expression="questionnaire")
        return found

    def known_questionnaire(self, access: Access, canonical: str) -> Resource | None:
        """The Questionnaire ``canonical`` names (its URL, any version, or ``Questionnaire/{id}`` here):
        one stored here that ``access`` may read first, else one fhirbridge publishes; None if neither."""
        url = canonical.split("|", 1)[0]
        local_id = url.removeprefix("Questionnaire/") if url.startswith("Questionnaire/") else None
        access.require("Questionnaire", "r")
        for stored in self.engine.index.current(access, "Questionnaire"):
            if stored.get("url") == url or (local_id is not None and stored.get("id") == local_id):
                return dict(stored)
        published = definition(url)
        if published is None or published.get("resourceType") != "Questionnaire":
            return None
        return published

    def check_written_response(self, _previous: Resource | None, response: Resource) -> None:
        """Write rule: a QuestionnaireResponse whose Questionnaire is known here (stored or published)
        must answer it (``check_response``: all of it when finished, the structure while in progress);
        422 naming each item otherwise. One whose Questionnaire is unknown is stored unchecked.

        The Questionnaire is looked up as the server's own check, like the existence of a reference
        (engine/integrity.py), not as a read on the writer's behalf: questionnaires are shared
        definitions, and the writer learns no more than the answers it may give."""
        canonical = response.get("questionnaire")
        if not isinstance(canonical, str) or not canonical:
            return
        questionnaire = self.known_questionnaire(SYSTEM_ACCESS, canonical)
        if questionnaire is None:
            return
        issues = check_response(questionnaire, response)
        if any(issue.severity in ("error", "fatal") for issue in issues):
            raise Unprocessable(issues=issues)

    def populate(self, access: Access, questionnaire: Resource, subject: str) -> Resource:
        kind, _, patient_id = subject.partition("/")
        if kind != "Patient" or not patient_id:
            raise BadRequest("$populate needs subject=Patient/{id}", expression="subject")
        self.engine.read(access, "Patient", patient_id)
        members = resources_of(self.engine.index.compartment(access, patient_id))
        context: dict[str, list[Resource]] = {}
        for resource in members:
            context.setdefault(resource["resourceType"], []).append(resource)
        return populate(questionnaire, context)

    def extract(self, access: Access, response: Resource, *, base_url: str, commit: bool) -> Resource:
        questionnaire = self._questionnaire_of(access, response)
        require_valid_response(questionnaire, response)
        bundle = extract(questionnaire, response)
        if commit:
            return self.bundles.process(access, bundle, base_url)
        return bundle

    def assess(self, access: Access, response_id: str, *, base_url: str) -> Resource:
        """Extract a stored needs assessment's findings, set the child's complexity level, and commit
        both; for a screening, only the decision whether the full assessment is needed (nothing stored)."""
        response = resource_of(self.engine.read(access, "QuestionnaireResponse", response_id))
        questionnaire = self._questionnaire_of(access, response)
        if is_screening(response):
            require_valid_response(questionnaire, response)
            return screening_parameters(response, questionnaire)
        if not _is_needs_assessment(questionnaire):
            raise Unprocessable(
                f"$assess stratifies responses to the needs assessment ({ASSESSMENT_URL}) and decides "
                f"screenings ({SCREENING_URL}); this response answers {response.get('questionnaire')}",
                expression="QuestionnaireResponse.questionnaire",
                code="not-supported",
            )
        require_valid_response(questionnaire, response)
        extracted = self.bundles.process(access, extract(questionnaire, response), base_url)
        risk, next_review = assess_complexity(
            questionnaire, response, response_reference=f"QuestionnaireResponse/{response_id}"
        )
        stored = self.engine.create(access, "RiskAssessment", risk)
        assert stored.version is not None
        return {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "extracted", "resource": extracted},
                {"name": "complexity", "resource": resource_of(stored.version)},
                {"name": "nextReviewDate", "valueDate": next_review.isoformat()},
            ],
        }

    def overdue(self, access: Access, *, today: date | None = None) -> Resource:
        """The worklist: children whose plan of care is past its review date, most overdue first, each
        line saying which rule set the date. Hospital discharges count only as far as the caller may see
        the Encounters (and the hospitals' names, the Organizations)."""
        index = self.engine.index
        risks = _current_searchable(index, access, "RiskAssessment")
        plans = _current_searchable(index, access, "CarePlan")
        reviews = _plan_reviews(index, access)
        stays = _finished_encounters(index, access)
        hospitals = _organization_names(index, access, stays)
        lines = overdue_reviews(
            risks,
            plans,
            reviews=reviews,
            encounters=stays,
            hospital_names=hospitals,
            today=today or datetime.now(UTC).date(),
        )
        bundle = new_bundle("collection")
        bundle["entry"] = [{"resource": _worklist_line(line)} for line in lines]
        return bundle

    def _questionnaire_of(self, access: Access, response: Resource) -> Resource:
        canonical = response.get("questionnaire")
        if not isinstance(canonical, str):
            raise BadRequest("The response names no questionnaire", expression="QuestionnaireResponse.questionnaire")
        return self.questionnaire(access, canonical)


def screening_parameters(response: Resource, questionnaire: Resource) -> Resource:
    """``$assess`` of a screening: whether the full needs assessment is needed, and why."""
    result = screening_outcome(response, questionnaire)
    met = ", ".join(result.criteria_met) or "none"
    decision = (
        f"The full needs assessment ({ASSESSMENT_URL}) is needed"
        if result.needs_full_assessment
        else "The full needs assessment is not needed"
    )
    if not result.complete:
        decision += "; the screening is not finished, so the decision may change"
    summary = (
        f"{decision} (criteria met: {met}; family asks for help with coordination: "
        f"{'yes' if result.family_request else 'no'}). A screening sets no complexity level."
    )
    parameters: list[Resource] = [
        {"name": "needsFullAssessment", "valueBoolean": result.needs_full_assessment},
        *({"name": "criterionMet", "valueCode": stem} for stem in result.criteria_met),
        {"name": "familyRequest", "valueBoolean": result.family_request},
        {"name": "complete", "valueBoolean": result.complete},
    ]
    if result.needs_full_assessment:
        parameters.append({"name": "assessment", "valueCanonical": ASSESSMENT_URL})
    outcome = Issue(summary, code="informational", severity="information")
    parameters.append(
        {"name": "outcome", "resource": {"resourceType": "OperationOutcome", "issue": [outcome.to_fhir()]}}
    )
    return {"resourceType": "Parameters", "parameter": parameters}


def _is_needs_assessment(questionnaire: Resource) -> bool:
    """The published needs assessment, or a practice's version of it (``derivedFrom``): the forms the
    stratification rules are written for."""
    derived = [str(url).split("|", 1)[0] for url in questionnaire.get("derivedFrom") or []]
    return questionnaire.get("url") == ASSESSMENT_URL or ASSESSMENT_URL in derived


def _current_searchable(index: SearchStore, access: Access, resource_type: str) -> list[Resource]:
    """Every current resource of a type ``access`` lets the caller see, once its token may search them."""
    access.require(resource_type, "s")
    return index.current(access, resource_type)


def _plan_reviews(index: SearchStore, access: Access) -> list[Resource]:
    """The plan reviews (Task ``care-plan-review``) ``access`` lets the caller see, found by the index."""
    access.require("Task", "s")
    return index.current(access, "Task", code=IndexedCode("code", REVIEW_TASK_CODE, system=TASK_KIND))


def _finished_encounters(index: SearchStore, access: Access) -> list[Resource]:
    """The finished Encounters ``access`` lets the caller see, found by the index (none without the scope
    to search them: the worklist then knows of no discharge)."""
    if not access.can("Encounter", "s"):
        return []
    return index.current(access, "Encounter", code=IndexedCode("status", "finished"))


def _organization_names(index: SearchStore, access: Access, encounters: list[Resource]) -> dict[str, str]:
    """The names of the hospitals (``serviceProvider``) of the discharges, as far as the caller may read
    them, by reference."""
    ids = set()
    for encounter in encounters:
        provider = encounter.get("serviceProvider")
        target = provider.get("reference") if isinstance(provider, dict) else None
        if discharge(encounter) is not None and isinstance(target, str) and target.startswith("Organization/"):
            ids.add(target.removeprefix("Organization/"))
    if not ids or not access.can("Organization", "r"):
        return {}
    names: dict[str, str] = {}
    for organization in index.current(access, "Organization", ids=ids):
        if isinstance(organization.get("name"), str) and organization["name"]:
            names[f"Organization/{organization['id']}"] = organization["name"]
    return names


def _worklist_line(line: OverdueReview) -> Resource:
    def reference(name: str, target: str | None) -> list[Resource]:
        return [{"name": name, "valueReference": {"reference": target}}] if target else []

    return {
        "resourceType": "Parameters",
        "parameter": [
            *reference("subject", line.subject),
            *reference("carePlan", line.care_plan),
            {"name": "level", "valueCode": line.level},
            {"name": "due", "valueDate": line.due.isoformat()},
            {"name": "daysOverdue", "valueInteger": line.days_overdue},
            {"name": "rule", "valueCode": line.rule},
            {"name": "basis", "valueString": line.basis},
            *([{"name": "lastReview", "valueDate": line.last_review.isoformat()}] if line.last_review else []),
            *reference("review", line.review),
            *reference("riskAssessment", line.risk_assessment),
        ],
    }


def response_from(body: Any) -> Resource:
    """A QuestionnaireResponse from a ``$extract`` body: the response itself, or Parameters holding it."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for parameter in body.get("parameter") or []:
            if parameter.get("name") in ("questionnaire-response", "questionnaireResponse"):
                body = parameter.get("resource")
                break
    if not isinstance(body, dict) or body.get("resourceType") != "QuestionnaireResponse":
        raise BadRequest("$extract takes a QuestionnaireResponse", expression="resourceType")
    return body


__all__ = ["AssessmentOperations", "response_from", "screening_parameters"]
