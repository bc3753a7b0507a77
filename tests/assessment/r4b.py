"""Check emitted resources against the fhir.resources R4B models (identical to R4 for these types)."""

from __future__ import annotations

import importlib
from typing import Any


def assert_valid_r4(resource: dict[str, Any]) -> None:
    kind = resource["resourceType"]
    model = getattr(importlib.import_module(f"fhir.resources.R4B.{kind.lower()}"), kind)
    model.model_validate(resource)
