"""``fhirbridge sync`` refuses to run, with exit status 2 and a message, when it cannot sync at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirbridge.client.sync_state import state_path
from tests.client.conftest import run_sync_command
from tests.conftest import LiveServer


def test_an_unknown_patient_on_the_source_stops_the_sync(
    live: LiveServer, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = run_sync_command(
        [
            "sync",
            "push",
            "--patient",
            "nobody",
            "--local",
            live.url,
            "--server",
            live.url,
            "--state-dir",
            str(state_dir),
        ]
    )
    assert code == 2
    assert printed == ""
    assert "Patient/nobody" in capsys.readouterr().err


def test_an_unreadable_state_file_stops_the_sync(
    live: LiveServer, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = state_path(state_dir, live.url, "http://127.0.0.1:9", "p1")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    code, _ = run_sync_command(
        [
            "sync",
            "push",
            "--patient",
            "p1",
            "--local",
            live.url,
            "--server",
            "http://127.0.0.1:9",
            "--state-dir",
            str(state_dir),
        ]
    )
    assert code == 2
    assert "not a readable sync state" in capsys.readouterr().err
