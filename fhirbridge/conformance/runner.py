"""Run the exchange scenarios against a FHIR server and gather one report."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from fhirbridge.client import FhirClient, FhirClientError, TransportError
from fhirbridge.conformance.capabilities import capabilities
from fhirbridge.conformance.exchange import goal_search, patient_summary, shared_plan_transaction
from fhirbridge.conformance.referral import referral_task
from fhirbridge.conformance.report import Report, Status, StepResult
from fhirbridge.conformance.run import Run, ScenarioStopped
from fhirbridge.conformance.versioning import versioning

Scenario = Callable[[Run], None]

SCENARIOS: dict[str, Scenario] = {
    "capabilities": capabilities,
    "shared-plan-transaction": shared_plan_transaction,
    "goal-search": goal_search,
    "versioning": versioning,
    "patient-summary": patient_summary,
    "referral-task": referral_task,
}


class ServerUnreachable(Exception):
    """No HTTP answer at all from the server's base URL."""


def run_conformance(
    client: FhirClient, names: Sequence[str] | None = None, *, tag: str | None = None, actor: str | None = None
) -> Report:
    """Every scenario (or those named), each on its own; raises ``ServerUnreachable`` when the server
    does not answer at all, before any scenario runs. ``actor`` is the reference the client's token acts
    as; the referral scenario names it as the Task's requester and owner."""
    unknown = [name for name in names or () if name not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    _probe(client)
    tag = tag or secrets.token_hex(4)
    report = Report(client.base_url)
    for name in names or list(SCENARIOS):
        report.steps.extend(run_scenario(client, name, SCENARIOS[name], tag, actor))
    return report


def run_scenario(
    client: FhirClient, name: str, scenario: Scenario, tag: str, actor: str | None = None
) -> list[StepResult]:
    run = Run(client, name, tag, actor)
    try:
        scenario(run)
    except ScenarioStopped:
        pass  # the failing (or skipped) step is already in the results
    finally:
        left = run.clean_up()
    if left:
        detail = f"the server would not delete {', '.join(left[:5])}" + (" ..." if len(left) > 5 else "")
        run.results.append(StepResult(name, "clean up", Status.WARN, detail))
    return run.results


def _probe(client: FhirClient) -> None:
    try:
        client.capabilities()
    except TransportError as exc:
        raise ServerUnreachable(str(exc)) from exc
    except FhirClientError:
        pass  # it answered; the capabilities scenario reports what is wrong with the answer


__all__ = ["SCENARIOS", "Scenario", "ServerUnreachable", "run_conformance", "run_scenario"]
