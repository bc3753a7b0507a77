"""Headless Chromium for the tests that check a page as a browser shows it (Debian's, `make browser`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

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
