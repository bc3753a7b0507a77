"""docs/worklists.md's examples run as written against a server holding the demo (as `make serve` runs it:
authentication on, the demo's care team from the token's claim), and the demo caseload's worklist says what
the page says it does."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import httpx
import pytest

from fhirbridge.server.cli import load_demo_into
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.factories import patient
from tests.security.conftest import client_as, secure_settings, token_for
from tests.support import REPO_ROOT

PAGE = (REPO_ROOT / "docs" / "worklists.md").read_text()
MAKE_TOKEN = re.compile(r"^export (\w+)=\$\(make -s token ROLE=care-coordinator\)\n", flags=re.M)


@pytest.fixture
def demo_server(repository: SqlRepository) -> Any:
    server = LiveServer(repository, secure_settings(treating_relationship="claim"))
    server.reset()
    load_demo_into(repository)
    server.start()
    yield server
    server.stop()


def test_the_examples_run(demo_server: LiveServer) -> None:
    token = token_for("care-coordinator")
    with client_as(demo_server, token) as http:  # the README's child, which the first example puts on a caseload
        assert http.put("/Patient/readme-child", json=patient("readme-child", family="Lee")).status_code == 201
    blocks = re.findall(r"```sh\n(.*?)```", PAGE, flags=re.S)
    assert len(blocks) == 2
    for block in blocks:
        # `make token` mints with make serve's development keys; here the test server's token stands in.
        script = MAKE_TOKEN.sub("", block).replace("http://127.0.0.1:8080", demo_server.url)
        script = 'set -euo pipefail\ncurl() { command curl --show-error --fail-with-body "$@"; }\n' + script
        env = {**os.environ, "TOKEN": token, "COORDINATOR": token}
        result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{block}\n--- stdout:\n{result.stdout[-2000:]}\n--- stderr:\n{result.stderr}"


def test_the_demo_caseload_shows_what_the_page_says(demo_server: LiveServer) -> None:
    with client_as(demo_server, token_for("care-coordinator")) as http:
        assert [e["resource"]["id"] for e in http.get("/Group", params={"code": "caseload"}).json()["entry"]] == [
            "dana-whitfield-caseload"
        ]
        response = http.get("/Group/dana-whitfield-caseload/$worklist")
        assert response.status_code == 200, response.text
    parameters = response.json()["parameter"]
    assert [p["valueReference"]["reference"] for p in parameters if p["name"] == "child"] == [
        "Patient/mateo",
        "Patient/jordan",
        "Patient/aisha",
    ]
    reviews = part(parameters, "reviewsOverdue")
    (review,) = [p["part"] for p in reviews if p["name"] == "review"]
    assert value(review, "child") == {"reference": "Patient/jordan", "display": "Jordan Lee"}
    assert (value(review, "rule"), value(review, "daysOverdue")) == ("review-next-due", 1)
    assert value(review, "carePlan") == {"reference": "CarePlan/jordan-plan", "display": "Jordan's plan of care"}
    text = response.text
    assert "aisha-ref-voc-rehab" in text and '"authored-on"' in text  # a draft with no request date recorded
    assert "aisha-goal-adult-care" in text and '"pending"' in text  # her father has not agreed yet


def part(parameters: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = next(p["part"] for p in parameters if p["name"] == name)
    return found


def value(parts: list[dict[str, Any]], name: str) -> Any:
    parameter = next(p for p in parts if p["name"] == name)
    return next(v for k, v in parameter.items() if k.startswith("value"))


def test_the_demo_loads_its_caseload_once(demo_server: LiveServer) -> None:
    assert load_demo_into(demo_server.repository) == (0, 3)
    with httpx.Client(base_url=demo_server.url, timeout=30) as http:
        http.headers["Authorization"] = f"Bearer {token_for('care-coordinator')}"
        assert http.get("/Group/dana-whitfield-caseload").json()["meta"]["versionId"] == "1"
