"""One scenario's run against a server: its steps, the resources it made, and the clean-up afterwards.

A scenario is straight-line code; each step is a ``with run.step("...") as step:`` block. A step that
raises (a refused request, or an expectation the server does not meet) is reported as FAIL with the
server's OperationOutcome diagnostics and ends the scenario, because the steps after it build on it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from fhirbridge.client import FhirClient, FhirClientError
from fhirbridge.conformance.report import Status, StepResult


class StepFailed(Exception):
    """The server answered, but not as the scenario expects."""


class ScenarioStopped(Exception):
    """A step failed or was skipped; the rest of the scenario cannot run."""


class Step:
    """A step in progress: what it found (``detail``), or why the server fell short."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = Status.PASS
        self.detail = ""

    def expect(self, condition: bool, failure: str) -> None:
        if not condition:
            raise StepFailed(failure)

    def warn(self, detail: str) -> None:
        self.status, self.detail = Status.WARN, detail

    def skip(self, detail: str) -> None:
        self.status, self.detail = Status.SKIP, detail


class Run:
    """The context a scenario runs in: the client, a tag unique to this run, the steps so far."""

    def __init__(self, client: FhirClient, scenario: str, tag: str | None = None, actor: str | None = None) -> None:
        self.client = client
        # Whom the caller's credentials act as (``Organization/x``, ``Practitioner/y``), when known.
        self.actor = actor
        self.scenario = scenario
        # Ids and identifiers carry the tag, so runs against a shared server never meet each other.
        self.tag = tag or secrets.token_hex(4)
        self.results: list[StepResult] = []
        self.made: list[tuple[str, str]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        step = Step(name)
        try:
            yield step
        except StepFailed as exc:
            self._record(step, Status.FAIL, str(exc))
            raise ScenarioStopped from exc
        except FhirClientError as exc:
            self._record(step, Status.FAIL, describe_error(exc))
            raise ScenarioStopped from exc
        except requests.RequestException as exc:  # the few checks that look at raw HTTP answers
            self._record(step, Status.FAIL, f"no answer: {exc}")
            raise ScenarioStopped from exc
        self._record(step, step.status, step.detail)
        if step.status is Status.SKIP:
            raise ScenarioStopped

    def made_resource(self, resource_type: str, id: str) -> None:
        """Remember a resource this run created, to delete it afterwards."""
        self.made.append((resource_type, id))

    def clean_up(self) -> list[str]:
        """Delete what the run made, newest first (so nothing is deleted while still referenced);
        returns the resources the server would not delete."""
        left: list[str] = []
        for resource_type, id in reversed(self.made):
            try:
                self.client.delete(resource_type, id)
            except FhirClientError:
                left.append(f"{resource_type}/{id}")
        self.made.clear()
        return left

    def _record(self, step: Step, status: Status, detail: str) -> None:
        self.results.append(StepResult(self.scenario, step.name, status, detail))


def describe_error(exc: FhirClientError) -> str:
    """The failure as a partner's engineer needs it: the HTTP status, and what the server said."""
    text = str(exc)
    diagnostics = exc.diagnostics
    # The client already appends the diagnostics to its message; add them only when it did not.
    if diagnostics and not all(item in text for item in diagnostics):
        text = f"{text}: {'; '.join(diagnostics)}"
    return text


__all__ = ["Run", "ScenarioStopped", "Step", "StepFailed", "describe_error"]
