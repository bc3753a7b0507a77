"""``fhirbridge --version``, and start-up errors as one line naming the setting and the fix (exit status 2).

Run as a deployer runs it: the command in a process of its own, configured by its environment.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fhirbridge import FHIR_VERSION, __version__, cli

GOOD_KEYS = {
    "FHIRBRIDGE_JWT_SECRET": "start-up-test-secret-0123456789abcdefgh",
    "FHIRBRIDGE_JWT_ISSUER": "https://auth.start-up.test",
    "FHIRBRIDGE_JWT_AUDIENCE": "https://fhir.start-up.test",
}


def fhirbridge(*argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("FHIRBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "fhirbridge.cli", *argv],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version(tmp_path: Path) -> None:
    result = fhirbridge("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"fhirbridge {__version__} (FHIR {FHIR_VERSION})"


def test_a_setting_that_does_not_parse_is_named(tmp_path: Path) -> None:
    line = one_line(fhirbridge("serve", cwd=tmp_path, FHIRBRIDGE_PORT="eighty", **GOOD_KEYS))
    assert line.startswith("fhirbridge serve: FHIRBRIDGE_PORT must be a valid integer")
    assert "'eighty'" in line and "docs/configuration.md" in line


def test_an_unknown_log_format_names_the_choices(tmp_path: Path) -> None:
    line = one_line(fhirbridge("serve", cwd=tmp_path, FHIRBRIDGE_LOG_FORMAT="xml", **GOOD_KEYS))
    assert "FHIRBRIDGE_LOG_FORMAT must be 'text' or 'json' (not 'xml')" in line


def test_a_short_secret_says_how_to_make_a_good_one(tmp_path: Path) -> None:
    keys = {**GOOD_KEYS, "FHIRBRIDGE_JWT_SECRET": "too-short"}
    line = one_line(fhirbridge("serve", cwd=tmp_path, **keys))
    assert "FHIRBRIDGE_JWT_SECRET must be at least 32 bytes (it has 9)" in line
    assert "secrets.token_urlsafe" in line
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_missing_keys_are_named(tmp_path: Path) -> None:
    line = one_line(fhirbridge("serve", cwd=tmp_path))
    assert "FHIRBRIDGE_JWT_ISSUER" in line and "FHIRBRIDGE_JWT_AUDIENCE" in line


def test_an_unreadable_key_set_file_is_named(tmp_path: Path) -> None:
    keys = {**GOOD_KEYS, "FHIRBRIDGE_JWT_SECRET": "", "FHIRBRIDGE_JWKS": str(tmp_path / "missing-jwks.json")}
    line = one_line(fhirbridge("serve", cwd=tmp_path, **keys))
    assert "FHIRBRIDGE_JWKS: cannot read a key set from the file" in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_database_that_does_not_answer_is_named(tmp_path: Path, workers: str) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    url = "postgresql://fhirbridge@127.0.0.1:1/fhirbridge"
    line = one_line(fhirbridge("serve", "--workers", workers, cwd=tmp_path, FHIRBRIDGE_DATABASE_URL=url, **GOOD_KEYS))
    assert "the database of FHIRBRIDGE_DATABASE_URL cannot be used" in line
    assert "refused" in line.lower()


def test_a_database_url_that_is_no_url_is_named(tmp_path: Path) -> None:
    line = one_line(fhirbridge("db", "status", "--database-url", "mongodb://x/y", cwd=tmp_path))
    assert "FHIRBRIDGE_DATABASE_URL is not a database URL fhirbridge can use" in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = fhirbridge("--debug", "serve", cwd=tmp_path, FHIRBRIDGE_PORT="eighty", **GOOD_KEYS)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ValidationError" in result.stderr
    assert "Traceback" in fhirbridge("serve", cwd=tmp_path, FHIRBRIDGE_PORT="x", FHIRBRIDGE_DEBUG="1").stderr


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from fhirbridge.security import cli as token_cli

    def broken(args: argparse.Namespace) -> int:
        raise KeyError("a bug, not a setting")

    monkeypatch.setattr(token_cli, "mint", broken)  # what register() installs as the handler
    with pytest.raises(KeyError):
        cli.main(["token", "--role", "family"])


def test_only_the_command_run_is_loaded() -> None:
    """``fhirbridge token`` must not pay for importing the server (seconds): only its own module."""
    code = (
        "import sys; from fhirbridge import cli; cli.build_parser('token'); "
        "print('fhirbridge.server.app' in sys.modules, 'fhirbridge.server.cli' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split() == ["False", "False"]
