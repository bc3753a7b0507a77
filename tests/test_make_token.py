"""``make token`` mints a token the server accepts for every role preset, given the claims its docs name.

The role table of docs/security.md says which claims each role needs (``(needs `--org`)``); each role is
minted through the Makefile exactly with those, so docs, Makefile and presets cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fhirbridge.security.principal import Principal
from fhirbridge.security.roles import ROLES
from fhirbridge.security.tokens import TokenVerifier

ROOT = Path(__file__).resolve().parent.parent
SECRET = "make-token-test-secret-0123456789abcdef"
ISSUER = "https://auth.make-token.test"
AUDIENCE = "https://fhir.make-token.test"
# A value for each claim a role may need, as make takes it.
MAKE_VARIABLES = {"org": ("ORG", "payer-1"), "patient": ("PATIENT", "jordan"), "user": ("USER", "RelatedPerson/mom")}


def documented_needs() -> dict[str, list[str]]:
    """Each role of docs/security.md's role table with the options it says the role needs."""
    text = (ROOT / "docs" / "security.md").read_text()
    section = text.split("## Role presets", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)`([^|]*)\|", section, flags=re.MULTILINE)
    return {role: re.findall(r"needs `--(\w+)`", note) for role, note in rows}


def make_token(*assignments: str, user_env: str = "root") -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {
        **os.environ,
        "FHIRBRIDGE_JWT_SECRET": SECRET,
        "FHIRBRIDGE_JWT_ISSUER": ISSUER,
        "FHIRBRIDGE_JWT_AUDIENCE": AUDIENCE,
        "USER": user_env,  # as in any login shell: a name, never to end up in a token
        "MAKEFLAGS": "",
    }
    env.pop("USER_REF", None)
    # STAMP pointed at the interpreter: this checks the token target, and must not start an install (the
    # suite's other workers are running from this virtualenv).
    command = [make, "-s", "--no-print-directory", "-C", str(ROOT), "token", f"STAMP={ROOT / '.venv/bin/python'}"]
    return subprocess.run([*command, *assignments], env=env, capture_output=True, text=True, timeout=120, check=False)


def verified(token: str) -> Principal:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, secret=SECRET).verify(token)


def test_the_docs_name_every_role_preset() -> None:
    assert sorted(documented_needs()) == sorted(ROLES)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_make_token_mints_every_role_with_the_claims_its_docs_name(role: str) -> None:
    needs = documented_needs()[role]
    assignments = [f"ROLE={role}"] + ["{}={}".format(*MAKE_VARIABLES[need]) for need in needs]
    result = make_token(*assignments)
    assert result.returncode == 0, result.stderr
    principal = verified(result.stdout.strip())
    assert principal.role == role
    assert principal.claims["scope"].split() == list(ROLES[role].scopes)
    assert principal.fhir_user is None  # the shell's USER=root is not a user reference
    assert principal.organization == ("Organization/payer-1" if "org" in needs else None)
    assert principal.patient == ("jordan" if "patient" in needs else None)
    assert principal.treating == ROLES[role].treating


@pytest.mark.parametrize("role", [name for name, role in sorted(ROLES.items()) if role.needs_org or role.needs_patient])
def test_a_role_minted_without_what_it_needs_is_refused_with_the_make_variables(role: str) -> None:
    result = make_token(f"ROLE={role}")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "ORG=" in result.stderr and "PATIENT=" in result.stderr


def test_user_names_the_fhir_user_on_the_command_line_or_in_the_environment() -> None:
    given = make_token("ROLE=family", "PATIENT=jordan", "USER=RelatedPerson/mom")
    assert given.returncode == 0, given.stderr
    assert verified(given.stdout.strip()).fhir_user == "RelatedPerson/mom"
    exported = make_token("ROLE=care-coordinator", user_env="Practitioner/coordinator-1")
    assert exported.returncode == 0, exported.stderr
    assert verified(exported.stdout.strip()).fhir_user == "Practitioner/coordinator-1"


def test_user_ref_still_works() -> None:
    result = make_token("ROLE=care-coordinator", "USER_REF=PractitionerRole/coordinator-at-home")
    assert result.returncode == 0, result.stderr
    assert verified(result.stdout.strip()).fhir_user == "PractitionerRole/coordinator-at-home"


def test_a_user_that_is_no_reference_is_refused_not_minted() -> None:
    result = make_token("ROLE=care-coordinator", "USER=alice")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Practitioner/12" in result.stderr
