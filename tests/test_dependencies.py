"""The dependencies: bounded in pyproject.toml, pinned in requirements.lock, and the two in step.

``make install`` installs pyproject.toml's requirements constrained by the lock: a requirement the lock
lacks would be installed at whatever version is newest that day, the thing the lock is there to prevent.
"""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
RECOMPILE = "uv pip compile pyproject.toml --extra test --python-version 3.11 --universal -o requirements.lock"


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [req for extra in project["optional-dependencies"].values() for req in extra]
    return [Requirement(text) for text in listed]


def pinned() -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", LOCK.read_text(), flags=re.MULTILINE)
    return {canonicalize_name(name): Version(version) for name, version in pins}


def test_every_requirement_has_an_upper_bound() -> None:
    for requirement in requirements():
        assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), (
            f"{requirement} needs an upper bound: below the next major of the version tested"
        )


def test_the_lock_pins_every_requirement_within_its_range() -> None:
    pins = pinned()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run {RECOMPILE}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {requirement.name} {pins[name]}, outside {requirement.specifier}: run {RECOMPILE}"
        )


def test_the_lock_pins_exact_versions_only() -> None:
    lines = [line.split(" ;")[0] for line in LOCK.read_text().splitlines() if line and not line.startswith(" ")]
    packages = [line for line in lines if not line.startswith("#")]
    assert packages and all("==" in line for line in packages), [line for line in packages if "==" not in line]
    assert not [line for line in packages if "[" in line]  # pip refuses extras in a constraints file


def test_the_license_file_is_the_licence_pyproject_declares() -> None:
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole licence, not a notice pointing to it
