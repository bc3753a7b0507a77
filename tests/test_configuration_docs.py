"""docs/configuration.md is generated from ``Settings`` and kept so: every setting, its default, its meaning."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fhirbridge.config import Settings
from tests.support import REPO_ROOT
from tools import gen_configuration_docs as generator

DOC = REPO_ROOT / "docs" / "configuration.md"


def test_docs_configuration_is_what_the_generator_makes() -> None:
    assert DOC.read_text() == generator.render(), "run: .venv/bin/python tools/gen_configuration_docs.py"


def test_every_setting_is_documented_with_its_default() -> None:
    text = DOC.read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} needs Field(description=...)"
        row = re.search(rf"^\| `FHIRBRIDGE_{name.upper()}` \|[^|]*\| ([^|]*) \|", text, flags=re.MULTILINE)
        assert row is not None, f"FHIRBRIDGE_{name.upper()} is missing from docs/configuration.md"
        default = field.get_default(call_default_factory=True)
        if default not in ("", []):
            shown = str(default).lower() if isinstance(default, bool) else str(default).removesuffix(".0")
            assert row[1] == f"`{shown}`", name


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--check`` (what a developer or a hook runs) exits 1 when the file differs, 0 when it does not."""
    script = [sys.executable, str(REPO_ROOT / "tools" / "gen_configuration_docs.py"), "--check"]
    assert subprocess.run(script, capture_output=True, check=False, timeout=120).returncode == 0
    stale = tmp_path / "configuration.md"
    stale.write_text(
        DOC.read_text().replace("| `FHIRBRIDGE_PORT` | integer | `8080` |", "| `FHIRBRIDGE_PORT` | integer | `80` |")
    )
    assert generator.main(["--check"], output=stale) == 1
    assert "gen_configuration_docs.py" in capsys.readouterr().out
    assert generator.main([], output=stale) == 0
    assert generator.main(["--check"], output=stale) == 0
