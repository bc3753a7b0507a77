"""Against fhirbridge with authentication on: the check runs with an EHR's token and acts as its organization."""

from __future__ import annotations

import io
from argparse import Namespace
from collections.abc import Iterator

import pytest

from fhirbridge.conformance.cli import EXIT_PASSED, run_conformance_command
from tests.conftest import LiveServer
from tests.security.conftest import secure_settings, store, token_for

EHR = "Organization/riverside-ehr"


@pytest.fixture
def single_practice_server(secure_server: LiveServer) -> Iterator[LiveServer]:
    """The check registers children of its own: an EHR of a single-practice server may (its token's
    treating claim makes it every child's care team); on a shared server it would have to name itself as
    each new child's managing organization."""
    server = LiveServer(secure_server.repository, secure_settings(treating_relationship="claim"))
    server.start()
    yield server
    server.stop()


def test_every_scenario_passes_with_an_ehr_token(single_practice_server: LiveServer) -> None:
    # The EHR's organization is known to the server, so the referral Task may name it.
    store(single_practice_server, {"resourceType": "Organization", "id": "riverside-ehr", "name": "Riverside EHR"})
    out = io.StringIO()
    token = token_for("ehr-system", org="riverside-ehr")
    args = Namespace(server=single_practice_server.url, token=token, actor=EHR, scenario=None, timeout=30.0, json=False)

    code = run_conformance_command(args, out)

    assert code == EXIT_PASSED, out.getvalue()
    assert out.getvalue().rstrip().endswith("every scenario passed")


def test_without_a_token_the_scenarios_fail_with_401(secure_server: LiveServer) -> None:
    out = io.StringIO()
    args = Namespace(
        server=secure_server.url, token=None, actor=None, scenario=["versioning"], timeout=30.0, json=False
    )

    code = run_conformance_command(args, out)

    assert code == 1
    assert "401" in out.getvalue()
