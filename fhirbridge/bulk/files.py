"""Where an export's files live: one directory per job under ``Settings.export_dir``.

``<export_dir>/<job id>/<Type>.ndjson`` holds the resources of a type, one per line, written as they are
read (never held in memory); ``<Type>.children`` beside it lists the children whose data the file holds,
for the AuditEvent of each download; ``error.ndjson`` holds OperationOutcomes. A file is written under a
temporary name and renamed when whole, so a download never sees half a file.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

ERROR_FILE = "error.ndjson"
# The only names a download may ask for: a type's file or the error file (no path can be smuggled in).
FILE_NAME = re.compile(r"^(?:[A-Z][A-Za-z]{1,63}|error)\.ndjson$")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class ExportFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise ValueError(f"not an export job id: {job_id!r}")
        return self.root / job_id

    def path(self, job_id: str, name: str) -> Path | None:
        """The file ``name`` of a job, if it is a name an export writes and the file is there."""
        if not (JOB_ID.match(job_id) and FILE_NAME.match(name)):
            return None
        found = self.directory(job_id) / name
        return found if found.is_file() else None

    def children(self, job_id: str, name: str) -> Iterator[str]:
        """The children whose data the file ``name`` holds (none for the error file)."""
        sidecar = self.directory(job_id) / name.replace(".ndjson", ".children")
        if not sidecar.is_file():
            return
        with sidecar.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield line.strip()

    def start(self, job_id: str) -> Path:
        """An empty directory for a job's run (what an interrupted earlier run left is removed)."""
        directory = self.directory(job_id)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.directory(job_id), ignore_errors=True)


class NdjsonWriter:
    """One output file, appended line by line; ``commit`` makes it visible under its name."""

    def __init__(self, directory: Path, name: str) -> None:
        self.final = directory / name
        self.partial = directory / f".{name}.partial"
        self._file = self.partial.open("wb")
        self.count = 0

    def write(self, line: bytes) -> None:
        self._file.write(line)
        self._file.write(b"\n")
        self.count += 1

    def commit(self, children: Iterable[str] = ()) -> None:
        self._file.close()
        kept = sorted(children)
        if kept:
            sidecar = self.final.with_suffix(".children")
            sidecar.write_text("".join(f"{child}\n" for child in kept), encoding="utf-8")
        os.replace(self.partial, self.final)

    def discard(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> NdjsonWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if not self._file.closed:
            self.discard()


__all__ = ["ERROR_FILE", "ExportFiles", "NdjsonWriter"]
