"""``fhirbridge sync`` against our server with authentication on: ``--local-token`` / ``FHIRBRIDGE_LOCAL_TOKEN``.

Our server is a live one as deployed (tokens, care-team mode); the remote one an in-memory fake, so that
the only credentials in play are the local ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from tests.client.conftest import FAKE_TARGET, run_sync_command
from tests.client.fake_server import FakeFhirServer
from tests.conftest import LiveServer
from tests.security.conftest import store, token_for

CHILD = "sync-child"


@pytest.fixture
def remote(secure_server: LiveServer) -> Iterator[FakeFhirServer]:
    fake = FakeFhirServer(FAKE_TARGET)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(secure_server.url)  # our server is real: its requests go over the wire
        fake.register(mock)
        yield fake


@pytest.fixture
def child(secure_server: LiveServer) -> str:
    """A child whose managing organization is the medical home, so its EHR's token treats the child."""
    store(
        secure_server,
        {"resourceType": "Organization", "id": "medical-home", "name": "Lakeside Pediatrics"},
        {
            "resourceType": "Patient",
            "id": CHILD,
            "name": [{"family": "Rivera", "given": ["Mateo"]}],
            "managingOrganization": {"reference": "Organization/medical-home"},
        },
        {
            "resourceType": "Goal",
            "id": "sync-goal",
            "lifecycleStatus": "active",
            "description": {"text": "Mateo sits without support"},
            "subject": {"reference": f"Patient/{CHILD}"},
        },
    )
    return CHILD


def push(server: LiveServer, state_dir: Path, *extra: str) -> tuple[int, str]:
    argv = ["sync", "push", "--patient", CHILD, "--local", server.url, "--server", FAKE_TARGET]
    return run_sync_command([*argv, "--state-dir", str(state_dir), *extra])


def test_without_a_local_token_the_sync_says_which_option_is_missing(
    secure_server: LiveServer,
    remote: FakeFhirServer,
    child: str,
    state_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FHIRBRIDGE_LOCAL_TOKEN", raising=False)
    code, printed = push(secure_server, state_dir)
    assert code == 2
    assert printed == ""
    err = capsys.readouterr().err
    assert "--local-token" in err and "FHIRBRIDGE_LOCAL_TOKEN" in err
    assert remote.of_type("Patient") == []


def test_the_local_token_option_lets_the_plan_be_pushed(
    secure_server: LiveServer, remote: FakeFhirServer, child: str, state_dir: Path
) -> None:
    token = token_for("ehr-system", org="medical-home")
    code, printed = push(secure_server, state_dir, "--local-token", token)
    assert code == 0, printed
    assert [p["name"][0]["family"] for p in remote.of_type("Patient")] == ["Rivera"]
    assert [g["description"]["text"] for g in remote.of_type("Goal")] == ["Mateo sits without support"]


def test_the_local_token_comes_from_the_environment_too(
    secure_server: LiveServer,
    remote: FakeFhirServer,
    child: str,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FHIRBRIDGE_LOCAL_TOKEN", token_for("ehr-system", org="medical-home"))
    code, printed = push(secure_server, state_dir)
    assert code == 0, printed
    assert "created" in printed
    assert len(remote.of_type("Goal")) == 1


def test_a_token_our_server_refuses_is_named_as_the_local_one(
    secure_server: LiveServer,
    remote: FakeFhirServer,
    child: str,
    state_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _ = push(secure_server, state_dir, "--local-token", "not-a-token")
    assert code == 2
    assert "did not accept the token given with --local-token" in capsys.readouterr().err
