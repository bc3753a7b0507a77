from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    shared = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", REPO / ".." / "shared"))
    if not (shared / "fhir").is_dir():
        pytest.skip(f"shared FHIR material not found at {shared} (set FHIRBRIDGE_SHARED_DIR)")
    return shared
