"""What ``fhirbridge import`` keeps between runs, and the report of the lines it could not load.

**The state file** (JSON) records, for each input file, what identifies it (its size and modification
time) and how far the import got: lines up to ``committed`` are settled (loaded, rejected or skipped) and
are not read again; ``deferred`` lists the lines that referred to a resource not loaded yet, tried again
at the end. It is written after each batch is committed. A file that changed since is started again from
its first line, which is safe: a line whose resource the store already holds as the line has it is
skipped (``importing.py``), so a batch committed just before an interruption, and not yet recorded here,
is not written twice.

**The report** holds one JSON object per rejected line, appended as the import goes: the file, the line
number, the resource's type and id (when the line got that far), and the OperationOutcome's diagnostics
and expression (FHIRPath, ``Goal.lifecycleStatus``), as a client's write would have been answered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

STATE_VERSION = 1


class UnreadableState(ValueError):
    """The state file is not one this version of fhirbridge wrote (or not JSON at all)."""


def fingerprint(path: Path) -> str:
    """What says a file is the one a previous run read: its size and modification time."""
    found = path.stat()
    return f"{found.st_size}:{found.st_mtime_ns}"


@dataclass
class FileProgress:
    """How far the import of one file got, over every run."""

    fingerprint: str
    committed: int = 0  # lines 1..committed are settled
    deferred: list[int] = field(default_factory=list)  # waiting for a resource they refer to
    loaded: int = 0
    rejected: int = 0
    skipped: int = 0

    @property
    def done(self) -> bool:
        return not self.deferred


class ImportState:
    """The state file: one ``FileProgress`` per input file (by its absolute path)."""

    def __init__(self, path: Path, files: dict[str, FileProgress] | None = None) -> None:
        self.path = path
        self.files = files or {}

    @classmethod
    def load(cls, path: Path) -> ImportState:
        """The state a previous run left at ``path``; an empty one when there is none."""
        if not path.exists():
            return cls(path)
        try:
            saved = orjson.loads(path.read_bytes())
            if not isinstance(saved, dict) or saved.get("version") != STATE_VERSION:
                raise ValueError("no state of this version")
            return cls(path, {name: FileProgress(**progress) for name, progress in saved["files"].items()})
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise UnreadableState(f"{path} is not an import state file this version of fhirbridge wrote") from error

    def progress(self, source: Path) -> FileProgress:
        """What a previous run did with ``source``; nothing when the file is new or changed since."""
        key = str(source.resolve())
        current = fingerprint(source)
        known = self.files.get(key)
        if known is None or known.fingerprint != current:
            known = self.files[key] = FileProgress(current)
        return known

    def save(self) -> None:
        """Write the state whole, under a temporary name first: an interruption leaves the previous one."""
        body = {"version": STATE_VERSION, "files": {name: asdict(progress) for name, progress in self.files.items()}}
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
        os.replace(partial, self.path)


@dataclass(frozen=True)
class Rejection:
    """A line that was not loaded, and why (the OperationOutcome's diagnostics and expression)."""

    file: str
    line: int
    resource_type: str | None
    id: str | None
    diagnostics: str
    expression: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "resourceType": self.resource_type,
            "id": self.id,
            "diagnostics": self.diagnostics,
            "expression": list(self.expression),
        }


class RejectionReport:
    """The ndjson report of rejected lines, appended to (a resumed import adds to what it holds)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, rejections: Iterable[Rejection]) -> None:
        lines = b"".join(orjson.dumps(rejection.as_json()) + b"\n" for rejection in rejections)
        if lines:
            with self.path.open("ab") as report:
                report.write(lines)


__all__ = ["FileProgress", "ImportState", "Rejection", "RejectionReport", "UnreadableState", "fingerprint"]
