"""Needs-assessment operations: ``$populate``, ``$extract``, ``$assess`` (extract and stratify in one
step) and the worklist of overdue plan reviews.

Step one of care coordination happens over the API: the coordinator pre-fills the assessment from the
child's record, the family answers, and answering yields the extracted Observations, Conditions and
Goals, the complexity level (a RiskAssessment whose ``basis`` is the response) and the next review date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fhirbridge.assessment import (
    assess_complexity,
    assessment_questionnaire,
    definition,
    extract,
    overdue_reviews,
    populate,
    require_valid_response,
    screening_questionnaire,
)
from fhirbridge.engine.bundles import new_bundle
from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.engine.operations.compartment import compartment_members, resources_of
from fhirbridge.engine.operations.compartment import visible_current as current_of_type
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.errors import BadRequest, NotFound
from fhirbridge.security.access import SYSTEM_ACCESS, Access
from fhirbridge.storage.contract import Resource


class AssessmentOperations:
    def __init__(self, engine: FhirEngine, bundles: BundleProcessor) -> None:
        self.engine = engine
        self.bundles = bundles

    def publish_instruments(self) -> None:
        """Make the published Questionnaires readable and searchable on this server (once)."""
        for questionnaire in (assessment_questionnaire(), screening_questionnaire()):
            if self.engine.repository.read("Questionnaire", questionnaire["id"]) is None:
                self.engine.update(SYSTEM_ACCESS, "Questionnaire", questionnaire["id"], questionnaire)

    def questionnaire(self, access: Access, canonical: str) -> Resource:
        """A Questionnaire by canonical URL: one stored here first, else one fhirbridge publishes."""
        url = canonical.split("|", 1)[0]
        with self.engine.repository.connect() as conn:
            for stored in current_of_type(conn, "Questionnaire", access, permission="r"):
                if stored.get("url") == url:
                    return dict(stored)
        published = definition(url)
        if published is None or published.get("resourceType") != "Questionnaire":
            raise NotFound(f"No Questionnaire is known by {canonical}", expression="questionnaire")
        return published

    def populate(self, access: Access, questionnaire: Resource, subject: str) -> Resource:
        kind, _, patient_id = subject.partition("/")
        if kind != "Patient" or not patient_id:
            raise BadRequest("$populate needs subject=Patient/{id}", expression="subject")
        self.engine.read(access, "Patient", patient_id)
        with self.engine.repository.connect() as conn:
            members = resources_of(compartment_members(conn, patient_id, access=access))
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
        """Extract a stored response's findings, set the child's complexity level, and commit both."""
        response = resource_of(self.engine.read(access, "QuestionnaireResponse", response_id))
        questionnaire = self._questionnaire_of(access, response)
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
        """The worklist: children whose plan of care is past its review date, most overdue first."""
        with self.engine.repository.connect() as conn:
            risks = current_of_type(conn, "RiskAssessment", access)
            plans = current_of_type(conn, "CarePlan", access)
        lines = overdue_reviews(risks, plans, today=today or datetime.now(UTC).date())
        bundle = new_bundle("collection")
        bundle["entry"] = [
            {
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "subject", "valueReference": {"reference": line.subject}},
                        *(
                            [{"name": "carePlan", "valueReference": {"reference": line.care_plan}}]
                            if line.care_plan
                            else []
                        ),
                        {"name": "level", "valueCode": line.level},
                        {"name": "due", "valueDate": line.due.isoformat()},
                        {"name": "daysOverdue", "valueInteger": line.days_overdue},
                    ],
                }
            }
            for line in lines
        ]
        return bundle

    def _questionnaire_of(self, access: Access, response: Resource) -> Resource:
        canonical = response.get("questionnaire")
        if not isinstance(canonical, str):
            raise BadRequest("The response names no questionnaire", expression="QuestionnaireResponse.questionnaire")
        return self.questionnaire(access, canonical)


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


__all__ = ["AssessmentOperations", "response_from"]
