"""A partner's check of a FHIR server: the shared-plan exchange scenarios, run against any server.

    with FhirClient("https://ehr.example.org/fhir", token="...") as fhir:
        report = run_conformance(fhir)
    print(report_text(report))

Scenarios: capabilities, shared-plan-transaction, goal-search, versioning, patient-summary and
referral-task. Each makes its own resources (ids and identifiers unique to the run) and deletes them
afterwards, so the check can run again and again against a shared server.
"""

from fhirbridge.conformance.report import Report, Status, StepResult, report_json, report_text
from fhirbridge.conformance.run import Run, Step
from fhirbridge.conformance.runner import SCENARIOS, Scenario, ServerUnreachable, run_conformance, run_scenario

__all__ = [
    "SCENARIOS",
    "Report",
    "Run",
    "Scenario",
    "ServerUnreachable",
    "Status",
    "Step",
    "StepResult",
    "report_json",
    "report_text",
    "run_conformance",
    "run_scenario",
]
