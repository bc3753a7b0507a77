"""What a benchmark ran on: hardware, operating system, interpreter, libraries and databases."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "h11",
    "httptools",
    "uvloop",
    "pydantic",
    "fhir.resources",
    "sqlalchemy",
    "psycopg",
    "orjson",
    "lxml",
)


@dataclass
class Machine:
    cpu_model: str
    logical_cpus: int
    memory: str
    os_name: str
    kernel: str
    python: str
    load_average: str
    commit: str
    libraries: dict[str, str]
    databases: dict[str, str] = field(default_factory=dict)
    load_average_at_end: str = "-"

    def rows(self) -> list[tuple[str, str]]:
        rows = [
            ("CPU", self.cpu_model),
            ("logical CPUs", str(self.logical_cpus)),
            ("memory", self.memory),
            ("OS", self.os_name),
            ("kernel", self.kernel),
            ("Python", self.python),
            ("load average at start (1, 5, 15 min)", self.load_average),
            ("load average at end", self.load_average_at_end),
            ("fhirbridge commit", self.commit),
        ]
        rows += [(f"database: {name}", version) for name, version in self.databases.items()]
        rows.append(("libraries", ", ".join(f"{name} {version}" for name, version in self.libraries.items())))
        return rows


def _first_match(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _memory() -> str:
    total = _first_match("/proc/meminfo", "MemTotal")
    if total is None:
        return "unknown"
    kib = int(total.split()[0])
    return f"{kib / 1024 / 1024:.1f} GiB"


def _commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def _libraries() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def load_average() -> str:
    """Other work on the machine skews every number: the report shows how busy it was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return ", ".join(f"{value:.2f}" for value in load)


def describe() -> Machine:
    return Machine(
        cpu_model=_first_match("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        logical_cpus=os.cpu_count() or 1,
        memory=_memory(),
        os_name=_os_name(),
        kernel=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=f"{platform.python_implementation()} {platform.python_version()}",
        load_average=load_average(),
        commit=_commit(),
        libraries=_libraries(),
        databases={"SQLite": sqlite3.sqlite_version},
    )


__all__ = ["Machine", "describe", "load_average"]
