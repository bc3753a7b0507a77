"""The audit journal: each access appended to a local file before its response is sent.

An access must be on record before the client is answered, whatever happens to the process after (a
``kill -9`` included). Committing it to the database first made every secured read wait for a commit
and a thread hand-off: a quarter of the unsecured throughput. Appending one line to a file is one
``write`` system call on the request's own thread, and what a process has written survives its death in
the operating system's page cache: the guarantee SQLite's WAL gives with ``synchronous=NORMAL``. Opened
with ``sync=True`` each line is on the disk before the call returns (power loss too), at a disk flush
per access.

A journal is a series of segments, files named after the store they belong to. The process writing a
segment holds an exclusive ``flock`` on it for as long as it is open, and the lock dies with the
process: a segment nobody holds is a dead process's, and the next process to start on the same store
replays it into the audit log (``orphans``) and deletes it. A segment is also deleted by its own writer
once everything in it is in the audit log. This module knows files only: what a line says is the audit
trail's business (``fhirbridge.security.audit``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from sqlalchemy.engine import make_url

SUFFIX = ".journal"
# Lines per segment: a segment is deleted only when all of it is in the audit log, so this bounds how
# much a journal holds beyond what is not yet stored.
SEGMENT_LINES = 20_000


class Segment:
    """One journal file, open for appending and locked by this process."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.lines = 0

    def append(self, line: bytes) -> None:
        written = os.write(self.fd, line)
        if written < len(line):  # a regular file takes the whole line in one write; this is for the rule
            view = memoryview(line)[written:]
            while view:
                view = view[os.write(self.fd, view) :]
        self.lines += 1

    def discard(self) -> None:
        """Everything in it is stored elsewhere: delete it (then let go of its lock)."""
        with suppress(FileNotFoundError):
            self.path.unlink()
        self.close()

    def close(self) -> None:
        """Let go of it, keeping the file: the next start-up replays it."""
        with suppress(OSError):
            os.close(self.fd)


class AuditJournal:
    def __init__(self, directory: Path, store: str, *, sync: bool = False) -> None:
        self.directory = directory
        self.prefix = store_key(store)
        self.sync = sync
        directory.mkdir(parents=True, exist_ok=True)

    def new_segment(self) -> Segment:
        path = self.directory / f"{self.prefix}-{os.getpid()}-{uuid.uuid4().hex}{SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC | (os.O_DSYNC if self.sync else 0)
        fd = os.open(path, flags, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
        return Segment(path, fd)

    def orphans(self) -> Iterator[Segment]:
        """The segments of this store no live process holds, each locked while the caller replays it."""
        for path in sorted(self.directory.glob(f"{self.prefix}-*{SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:  # replayed by another process starting at the same time
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its writer is alive
                os.close(fd)
                continue
            yield Segment(path, fd)


def lines_of(segment: Segment) -> list[bytes]:
    """The complete lines of a segment; a line its writer did not finish (it died mid-write) is left out:
    its request was never answered."""
    with open(segment.path, "rb") as file:
        data = file.read()
    lines = data.split(b"\n")
    return [line for line in lines[:-1] if line]


def store_key(store: str) -> str:
    """What names a store's segments: a digest of its URL without the password."""
    url = make_url(store).render_as_string(hide_password=True)
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def journal_directory(store: str, elsewhere: Path) -> Path:
    """Where a store's journal is kept: beside a SQLite file, else in ``elsewhere`` (a directory of the
    server's own, for a store on another machine)."""
    url = make_url(store)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            # A store in memory does not outlive the process; neither need its journal.
            return Path(tempfile.mkdtemp(prefix="fhirbridge-audit-journal-"))
        # Not "<file>.audit-journal": SQLite keeps the audit log's own rollback journal under that name.
        return Path(url.database).with_name(Path(url.database).name + ".audit.journal")
    return elsewhere


__all__ = ["SEGMENT_LINES", "AuditJournal", "Segment", "journal_directory", "lines_of", "store_key"]
