"""Print how often fhirbridge's validator gives the HL7 reference validator's verdict.

Usage: python tools/validator_agreement.py [CASE_DIR]   (default: ../shared/fhir/validator-cases/r4)
The output is the markdown kept in docs/validation.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhirbridge.validation.agreement import markdown, run  # noqa: E402


def main() -> int:
    shared = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", ROOT / ".." / "shared"))
    case_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "fhir" / "validator-cases" / "r4"
    print(markdown(run(case_dir)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
