"""``python -m bench --quick`` on SQLite: every scenario runs and the report has every section.

Benchmarks are never timed unit tests: this checks that the suite works and what the report covers,
never how fast anything is.
"""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import main
from bench.report import SECTIONS
from bench.rest import BASELINE, SCENARIOS, UNCACHED_READ


def test_quick_run_writes_a_report_with_every_section_and_scenario(tmp_path: Path) -> None:
    report_path = tmp_path / "benchmarks.md"
    lines: list[str] = []

    status = main(["--quick", "--backends", "sqlite", "--output", str(report_path)], log=lines.append)

    assert status == 0
    report = report_path.read_text()
    for section in SECTIONS:
        assert f"\n## {section}\n" in report, section
    assert "**Quick run**" in report
    for needle in ("| CPU |", "| logical CPUs |", "| memory |", "| OS |", "| Python |", "| database: SQLite |"):
        assert needle in report, needle
    for operation in ("JSON parse + validate", "JSON write", "XML write", "JSON -> XML", "XML -> JSON"):
        assert f"| CarePlan (2 KB) | {operation} |" in report, operation
    http = report.split("\n## HTTP\n", 1)[1].split("\n## Growth\n", 1)[0]
    for scenario in (BASELINE, UNCACHED_READ, *(scenario.name for scenario in SCENARIOS)):
        row = next((line for line in http.splitlines() if f"| {scenario} |" in line), None)
        assert row is not None, scenario
        # A scenario either ran cleanly or says plainly that what it needs has not landed yet.
        assert "failed requests" not in row and "no request completed" not in row and "probe failed" not in row, row
    assert "seconds into the soak" in report
    assert "| server memory flat over the soak" in report
