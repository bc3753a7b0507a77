"""Scenarios of the shared-plan exchange: post the plan, search its goals, pull the child's summary.

Each scenario posts its own copy of the plan, so any one of them can run (or fail) alone.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.client import FhirClientError
from fhirbridge.conformance.capabilities import declares_operation
from fhirbridge.conformance.plan import key_of_location, post_shared_plan
from fhirbridge.conformance.run import Run, StepFailed

Resource = dict[str, Any]
# Resources of the plan that belong to the child's Patient compartment (FHIR R4 CompartmentDefinition
# patient), so $everything must return them whatever else it includes.
COMPARTMENT_TYPES = ("Patient", "CarePlan", "CareTeam", "Goal", "Condition", "ServiceRequest")
# How a server says "I do not have this operation".
NOT_SUPPORTED = {400, 404, 405, 501}


def shared_plan_transaction(run: Run) -> None:
    plan = post_shared_plan(run)
    care_plan_key = next(
        key for demo, key in plan.keys.items() if key.startswith("CarePlan/") and demo.endswith("-plan")
    )
    with run.step("read back the CarePlan") as step:
        care_plan = run.client.read("CarePlan", care_plan_key.split("/")[1])
        step.expect(
            care_plan.get("id") == care_plan_key.split("/")[1], f"read {care_plan_key}, got id {care_plan.get('id')}"
        )
        step.detail = care_plan_key
    with run.step("its subject is the posted Patient") as step:
        about = _local((care_plan.get("subject") or {}).get("reference"))
        step.expect(about == plan.patient, f"subject is {about}, expected {plan.patient}")
        _read(run, about)
        step.detail = str(about)
    with run.step("its goals resolve to the posted Goals") as step:
        goals = {str(_local(goal.get("reference"))) for goal in care_plan.get("goal") or []}
        sent_goals = plan.server_keys("Goal")
        step.expect(goals == sent_goals, f"CarePlan.goal is {sorted(goals)}, expected {sorted(sent_goals)}")
        for goal in sorted(goals):
            read = _read(run, goal)
            subject = _local((read.get("subject") or {}).get("reference"))
            step.expect(subject == plan.patient, f"{goal}.subject is {subject}, expected {plan.patient}")
        step.detail = f"{len(goals)} goals read"


def goal_search(run: Run) -> None:
    plan = post_shared_plan(run)
    goals = {key: plan.resource_of(key) for key in plan.server_keys("Goal")}
    with run.step("Goal?patient= finds exactly the plan's goals") as step:
        found = _search(run, {"patient": plan.patient})
        _expect_same(step.expect, found, set(goals))
        step.detail = f"{len(found)} goals"
    with run.step("Goal?patient=&lifecycle-status=active") as step:
        active = {key for key, goal in goals.items() if goal.get("lifecycleStatus") == "active"}
        found = _search(run, {"patient": plan.patient, "lifecycle-status": "active"})
        _expect_same(step.expect, found, active)
        step.detail = f"{len(found)} of {len(goals)} goals"
    with run.step("Goal?patient=&target-date=ge (US Core)") as step:
        due = {key: _due_dates(goal) for key, goal in goals.items()}
        latest = max((date for dates in due.values() for date in dates), default=None)
        step.expect(latest is not None, "the demo plan has no goal with a target date")
        expected = {key for key, dates in due.items() if latest in dates}
        found = _search(run, {"patient": plan.patient, "target-date": f"ge{latest}"})
        _expect_same(step.expect, found, expected)
        step.detail = f"target-date=ge{latest}: {len(found)} goal(s)"


def patient_summary(run: Run) -> None:
    plan = post_shared_plan(run)
    patient_id = plan.patient.split("/")[1]
    with run.step("Patient/$everything holds the plan's resources") as step:
        found: set[str] = set()
        # The client's paging (next links kept to the same server, errors mapped) serves any GET whose
        # answer is a Bundle, an operation's included.
        for page in run.client.search_pages(f"Patient/{patient_id}/$everything"):
            for entry in page.get("entry") or []:
                resource = entry.get("resource") or {}
                found.add(f"{resource.get('resourceType')}/{resource.get('id')}")
        expected = {key for key in plan.keys.values() if key.split("/")[0] in COMPARTMENT_TYPES}
        missing = expected - found
        step.expect(not missing, f"missing {len(missing)}: {', '.join(sorted(missing))}")
        step.detail = f"{len(found)} resources, {len(found & set(plan.keys.values()))} of the {len(plan.keys)} posted"
    with run.step("Patient/$summary answers a document") as step:
        declared = declares_operation(run.client.capabilities(), "Patient", "summary")
        try:
            document = next(iter(run.client.search_pages(f"Patient/{patient_id}/$summary")))
        except FhirClientError as exc:
            if declared or exc.status not in NOT_SUPPORTED:
                raise
            step.skip(f"not supported: not in the CapabilityStatement, and the server answers {exc.status}")
            return
        step.expect(
            document.get("resourceType") == "Bundle" and document.get("type") == "document",
            f"expected a document Bundle, got {document.get('resourceType')} {document.get('type')}",
        )
        composition = ((document.get("entry") or [{}])[0]).get("resource") or {}
        step.expect(composition.get("resourceType") == "Composition", "the first entry is not a Composition")
        subject = _local((composition.get("subject") or {}).get("reference"))
        step.expect(subject == plan.patient, f"the Composition is about {subject}, expected {plan.patient}")
        step.detail = f"{len(document.get('entry') or [])} entries, {len(composition.get('section') or [])} sections"


def _search(run: Run, params: dict[str, str]) -> set[str]:
    return {f"Goal/{goal.get('id')}" for goal in run.client.search("Goal", params)}


def _expect_same(expect: Any, found: set[str], expected: set[str]) -> None:
    extra, missing = found - expected, expected - found
    problems = [f"missing {sorted(missing)}" if missing else "", f"unexpected {sorted(extra)}" if extra else ""]
    expect(not extra and not missing, "; ".join(problem for problem in problems if problem))


def _due_dates(goal: Resource) -> set[str]:
    return {str(target["dueDate"]) for target in goal.get("target") or [] if target.get("dueDate")}


def _read(run: Run, key: str | None) -> Resource:
    if key is None or "/" not in key:
        raise StepFailed(f"not a resolvable reference: {key}")
    resource_type, id = key.split("/", 1)
    return run.client.read(resource_type, id)


def _local(reference: Any) -> str | None:
    """``Goal/7``, or an absolute URL on the server, -> ``Goal/7``."""
    return key_of_location(reference) if isinstance(reference, str) else None


__all__ = ["goal_search", "patient_summary", "shared_plan_transaction"]
