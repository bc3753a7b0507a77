"""The printable summary a family keeps in its care notebook renders in a real headless browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.server.test_summaries import record  # noqa: F401  (the child's record, loaded per test)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(*arguments: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("FHIRBRIDGE_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (FHIRBRIDGE_REQUIRE_BROWSER=1) but is not installed")
        pytest.skip("Chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *arguments],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )


@pytest.mark.usefixtures("record")
def test_the_printable_plan_renders_with_its_sections(server: LiveServer, tmp_path: Path) -> None:
    url = f"{server.url}/Patient/child-1/$summary?_format=html"
    dom = chromium("--dump-dom", url).stdout
    for heading in ("Problems", "Working care plan", "Emergency treatment plan", "Care team", "Open referrals"):
        assert f"<h2>{heading}</h2>" in dom
    assert "Cerebral palsy" in dom and "Walks with a walker at school" in dom
    shot = tmp_path / "summary.png"
    chromium(f"--screenshot={shot}", "--window-size=900,1200", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A page with its text drawn compresses far worse than an empty white one (about 3 KB).
    assert shot.stat().st_size > 10_000
