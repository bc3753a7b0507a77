"""The official FHIR R4 examples in ``shared/fhir/r4-core-examples`` and ways to compare them.

The JSON and XML copies of one example share a file stem (``patient-example.json`` and
``patient-example.xml``); a few JSON examples have no XML copy.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", REPO_ROOT / ".." / "shared"))
EXAMPLES_DIR = SHARED_DIR / "fhir" / "r4-core-examples"
CORE_PACKAGE = SHARED_DIR / "fhir" / "definitions" / "hl7.fhir.r4.core-4.0.1.tgz"


def _listing(folder: str, suffix: str) -> list[Path]:
    files = sorted((EXAMPLES_DIR / folder).glob(f"*{suffix}"))
    if not files:
        raise FileNotFoundError(f"no FHIR examples under {EXAMPLES_DIR / folder}; set FHIRBRIDGE_SHARED_DIR")
    return files


def json_examples() -> list[Path]:
    return _listing("json", ".json")


def xml_examples() -> list[Path]:
    return _listing("xml", ".xml")


def json_twin(xml_file: Path) -> Path:
    return EXAMPLES_DIR / "json" / (xml_file.stem + ".json")


def without_meta_and_narrative(value: Any) -> Any:
    """The example sets differ in ``meta`` and ``text`` at every level; compare the rest."""
    if isinstance(value, dict):
        return {key: without_meta_and_narrative(item) for key, item in value.items() if key not in ("meta", "text")}
    if isinstance(value, list):
        return [without_meta_and_narrative(item) for item in value]
    return value


def differences(left: Any, right: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ, in type as well as value; decimals by their literal text."""
    if type(left) is not type(right):
        return [f"{path}: {type(left).__name__} {left!r:.60} != {type(right).__name__} {right!r:.60}"]
    if isinstance(left, dict):
        found = [f"{path}: only on one side: {key}" for key in left.keys() ^ right.keys()]
        for key in left.keys() & right.keys():
            found += differences(left[key], right[key], f"{path}.{key}")
        return found
    if isinstance(left, list):
        if len(left) != len(right):
            return [f"{path}: {len(left)} items != {len(right)}"]
        return [
            d
            for index, pair in enumerate(zip(left, right, strict=True))
            for d in differences(*pair, f"{path}[{index}]")
        ]
    if isinstance(left, Decimal):
        return (
            []
            if str(getattr(left, "source", left)) == str(getattr(right, "source", right))
            else [f"{path}: {left} != {right}"]
        )
    return [] if left == right else [f"{path}: {left!r:.60} != {right!r:.60}"]
