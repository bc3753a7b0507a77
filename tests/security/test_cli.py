"""``fhirbridge token`` mints development tokens the server accepts."""

from __future__ import annotations

import argparse

import pytest

from fhirbridge.security import cli
from fhirbridge.security.tokens import TokenVerifier
from tests.security.conftest import AUDIENCE, ISSUER, SECRET


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fhirbridge")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture
def dev_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIRBRIDGE_JWT_SECRET", SECRET)
    monkeypatch.setenv("FHIRBRIDGE_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("FHIRBRIDGE_JWT_AUDIENCE", AUDIENCE)


def test_token_for_the_family_is_confined_to_the_child(dev_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["token", "--role", "family", "--patient", "child-ana", "--ttl", "60"]) == 0
    principal = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, secret=SECRET).verify(capsys.readouterr().out.strip())
    assert principal.patient == "child-ana"
    assert principal.role == "family"


def test_token_for_a_payer_names_its_organization(dev_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["token", "--role", "payer-case-manager", "--org", "payer-1"]) == 0
    principal = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, secret=SECRET).verify(capsys.readouterr().out.strip())
    assert principal.organization == "Organization/payer-1"
    assert principal.consent_required


def test_missing_context_or_secret_is_an_error(
    dev_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["token", "--role", "family"]) == 2
    assert "--patient" in capsys.readouterr().err
    monkeypatch.delenv("FHIRBRIDGE_JWT_SECRET")
    assert run(["token", "--role", "care-coordinator"]) == 2
