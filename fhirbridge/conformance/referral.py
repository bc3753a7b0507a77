"""Scenario: a closed-loop referral. The requester sends a ServiceRequest with a ``fulfill`` Task; the
performer accepts it, starts it and completes it with its result in ``Task.output``. A closed referral
cannot be reopened: servers that enforce the referral state machine refuse the move (4xx); one that
does not is reported as a warning, since FHIR itself leaves Task status rules to implementation guides.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.client import FhirClientError
from fhirbridge.conformance.run import Run, Step
from fhirbridge.conformance.versioning import CHILD_SYSTEM

TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
Resource = dict[str, Any]


def referral_task(run: Run) -> None:
    with run.step("create the child, the ServiceRequest and its fulfill Task") as step:
        patient = _create(run, _patient(run.tag))
        child = f"Patient/{patient['id']}"
        request = _create(run, _service_request(child))
        task = _create(run, _task(child, f"ServiceRequest/{request['id']}", run.actor))
        step.expect(task.get("status") == "requested", f"the Task was stored as {task.get('status')}")
        step.detail = f"Task/{task['id']} for ServiceRequest/{request['id']}"
    for next_status in ("accepted", "in-progress"):
        with run.step(f"move the Task to {next_status}") as step:
            task = _move(run, step, task, next_status)
    with run.step("complete the Task with its output") as step:
        task["output"] = [
            {
                "type": {"text": "referral result"},
                "valueString": f"Evaluation done; report sent to the medical home ({run.tag})",
            }
        ]
        task = _move(run, step, task, "completed")
        read = run.client.read("Task", str(task["id"]))
        outputs = read.get("output") or []
        step.expect(bool(outputs) and outputs[0].get("valueString", "").endswith(f"({run.tag})"), "output not kept")
    with run.step("a completed referral cannot move back to requested") as step:
        reopened = {**task, "status": "requested"}
        try:
            run.client.update(reopened)
        except FhirClientError as exc:
            refused = exc.status or 0
            step.expect(400 <= refused < 500, f"refused with {refused or 'no answer'}, expected a 4xx: {exc}")
            step.detail = f"refused with {refused}" + (f": {'; '.join(exc.diagnostics)}" if exc.diagnostics else "")
        else:
            step.warn("not enforced: the server reopened a completed referral")


def _move(run: Run, step: Step, task: Resource, status: str) -> Resource:
    moved = run.client.update({**task, "status": status})
    step.expect(moved.get("status") == status, f"the server stored status {moved.get('status')}")
    step.detail = f"version {(moved.get('meta') or {}).get('versionId', '?')}"
    return moved


def _create(run: Run, resource: Resource) -> Resource:
    made = run.client.create(resource)
    run.made_resource(str(made["resourceType"]), str(made["id"]))
    return made


def _patient(tag: str) -> Resource:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": CHILD_SYSTEM, "value": f"referral-{tag}"}],
        "name": [{"family": "Conformance", "given": ["Referral"]}],
        "gender": "unknown",
        "birthDate": "2018-02-01",
    }


def _service_request(child: str) -> Resource:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"text": "Feeding therapy evaluation"},
        "subject": {"reference": child},
        "authoredOn": "2026-01-05",
    }


def _task(child: str, request: str, actor: str | None) -> Resource:
    # A server that checks who moves a referral needs the caller named as requester and performer.
    parties = {"requester": {"reference": actor}, "owner": {"reference": actor}} if actor else {}
    return {
        **parties,
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": "fulfill"}]},
        "focus": {"reference": request},
        "for": {"reference": child},
        "authoredOn": "2026-01-05",
    }


__all__ = ["referral_task"]
