"""The README's API examples run, as written, against a live server with authentication on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fhirbridge.config import Settings
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.support import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
DEV_KEYS = {
    "FHIRBRIDGE_JWT_SECRET": "fhirbridge-development-secret-not-for-real-data",
    "FHIRBRIDGE_JWT_ISSUER": "http://127.0.0.1:8080/dev-issuer",
    "FHIRBRIDGE_JWT_AUDIENCE": "http://127.0.0.1:8080",
    # The demo is one practice's children: its care team is the token's claim (docs/security.md).
    "FHIRBRIDGE_TREATING_RELATIONSHIP": "claim",
}


def curl_examples() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [block for block in blocks if "curl" in block and "$TOKEN" in block]


@pytest.fixture
def secured_server(repository: SqlRepository) -> Iterator[LiveServer]:
    settings = Settings(
        jwt_secret=DEV_KEYS["FHIRBRIDGE_JWT_SECRET"],
        jwt_issuer=DEV_KEYS["FHIRBRIDGE_JWT_ISSUER"],
        jwt_audience=DEV_KEYS["FHIRBRIDGE_JWT_AUDIENCE"],
        treating_relationship=DEV_KEYS["FHIRBRIDGE_TREATING_RELATIONSHIP"],
        subscription_delivery=False,
    )
    server = LiveServer(repository, settings)
    server.reset()
    server.start()
    yield server
    server.stop()


def test_the_readme_has_examples() -> None:
    assert len(curl_examples()) >= 2


def test_the_makefile_keys_are_the_ones_tested() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    for name, value in DEV_KEYS.items():
        assert f"{name} ?= {value}" in makefile


def test_readme_examples_run(secured_server: LiveServer) -> None:
    env = {**os.environ, **DEV_KEYS}
    token = subprocess.run(
        [sys.executable, "-m", "fhirbridge.cli", "token", "--role", "care-coordinator"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for example in curl_examples():
        script = 'set -euo pipefail\ncurl() { command curl --show-error --fail-with-body "$@"; }\n' + example
        script = script.replace("http://127.0.0.1:8080", secured_server.url)
        result = subprocess.run(
            ["bash", "-c", script], env={**env, "TOKEN": token}, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{example}\n--- stdout:\n{result.stdout[-2000:]}\n--- stderr:\n{result.stderr}"
