"""What a conformance run found: one line per step of each scenario, as a table or as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    # The server does not offer something the scenario treats as optional: not held against it.
    SKIP = "SKIP"
    # Works, but not as fhirbridge's partners would hope (a rule not enforced): not held against it.
    WARN = "WARN"


@dataclass(frozen=True)
class StepResult:
    scenario: str
    step: str
    status: Status
    detail: str = ""


@dataclass
class Report:
    server: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.status is not Status.FAIL for step in self.steps)

    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(step.scenario for step in self.steps))

    def failed_scenarios(self) -> list[str]:
        return list(dict.fromkeys(step.scenario for step in self.steps if step.status is Status.FAIL))

    def counts(self) -> dict[str, int]:
        return {status.value: sum(step.status is status for step in self.steps) for status in Status}


def report_text(report: Report) -> str:
    """A fixed-width table (scenario, step, status, detail) and a closing verdict."""
    headings = ("scenario", "step", "status", "detail")
    rows = [(step.scenario, step.step, step.status.value, step.detail) for step in report.steps]
    widths = [max([len(headings[i]), *(len(row[i]) for row in rows)]) for i in range(3)]

    def line(cells: tuple[str, str, str, str]) -> str:
        fixed = "  ".join(cell.ljust(width) for cell, width in zip(cells[:3], widths, strict=True))
        return f"{fixed}  {cells[3]}".rstrip()

    rule = "  ".join("-" * width for width in (*widths, len(headings[3])))
    lines = [f"FHIR conformance of {report.server}", "", line(headings), rule]
    lines.extend(line(row) for row in rows)
    counts = ", ".join(f"{count} {status}" for status, count in report.counts().items())
    failed = report.failed_scenarios()
    verdict = f"FAILED: {', '.join(failed)}" if failed else "every scenario passed"
    lines += ["", f"{len(report.scenarios())} scenarios, {len(report.steps)} steps ({counts}): {verdict}"]
    return "\n".join(lines)


def report_json(report: Report) -> str:
    document = {
        "server": report.server,
        "ok": report.ok,
        "counts": report.counts(),
        "failedScenarios": report.failed_scenarios(),
        "steps": [{**asdict(step), "status": step.status.value} for step in report.steps],
    }
    return json.dumps(document, indent=2)


__all__ = ["Report", "Status", "StepResult", "report_json", "report_text"]
