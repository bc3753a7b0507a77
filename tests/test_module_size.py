"""Modules that read in one sitting: no module of the package, its tools or its benchmarks over 500 lines.

A module past that is split along the seams its contents already show (docs/architecture.md), not
allowed to grow."""

from __future__ import annotations

from pathlib import Path

from tests.support import REPO_ROOT

LIMIT = 500
CHECKED = ("fhirbridge", "tools", "bench")


def line_counts(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for part in CHECKED
        for path in sorted((root / part).rglob("*.py"))
    }


def test_no_module_is_over_the_limit() -> None:
    counts = line_counts(REPO_ROOT)
    assert len(counts) > 100  # the package was found
    too_long = {path: lines for path, lines in counts.items() if lines > LIMIT}
    assert not too_long, f"split these modules (over {LIMIT} lines): {too_long}"


def test_the_check_finds_a_long_module(tmp_path: Path) -> None:
    (tmp_path / "fhirbridge").mkdir()
    (tmp_path / "fhirbridge" / "long.py").write_text("x = 1\n" * (LIMIT + 1))
    assert line_counts(tmp_path) == {"fhirbridge/long.py": LIMIT + 1}
