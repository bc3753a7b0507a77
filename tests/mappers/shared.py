"""Where the shared FHIR material is: ``FHIRBRIDGE_SHARED_DIR``, else ``../shared`` beside the repository."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", REPO / ".." / "shared"))
EXAMPLES = SHARED / "fhir" / "r4-core-examples" / "json"


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return loaded
