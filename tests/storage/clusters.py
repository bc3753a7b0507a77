"""A PostgreSQL primary and a streaming replica of it, made on this machine for one test module.

The primary is a cluster of its own (``initdb``), not the shared server on 5432: a base backup of that one
would copy every other test's database, and pausing its replicas' replay or stopping them would be felt by
nobody else anyway, but its configuration is not ours to change. The replica is made with
``pg_basebackup -R`` (streaming, hot standby). PostgreSQL refuses to run as root: as root, every command
runs as the ``postgres`` user, who is given the directory. Both clusters are stopped and their directory
removed however the tests end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.support import REQUIRE_POSTGRES

SERVER_USER = "postgres"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries, when initdb, pg_ctl and pg_basebackup are all there."""
    found = sorted(
        (Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for directory in reversed(found):
        if all((directory / name).exists() for name in ("initdb", "pg_ctl", "pg_basebackup")):
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Clusters:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin = bin_dir
        self.root = root
        self.as_root = os.geteuid() == 0
        self.primary_dir = root / "primary"
        self.replica_dir = root / "replica"
        self.primary_port = _free_port()
        self.replica_port = _free_port()

    def url(self, port: int) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def make(self) -> None:
        if self.as_root:
            shutil.chown(self.root, SERVER_USER, SERVER_USER)
        self.run("initdb", "-D", str(self.primary_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "replica",
            "max_wal_senders": "4",
            "hot_standby": "on",
            "fsync": "off",  # a test cluster: speed over surviving a power cut
            "synchronous_commit": "on",
        }
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self.start(self.primary_dir, self.primary_port)
        # -R: a standby.signal and primary_conninfo, so it starts as a streaming replica of the primary.
        self.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres"),
            *("-D", str(self.replica_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        self.start(self.replica_dir, self.replica_port)

    def start(self, data_dir: Path, port: int) -> None:
        log = self.root / f"{data_dir.name}.log"
        self.run("pg_ctl", "-D", str(data_dir), "-o", f"-p {port}", "-l", str(log), "-w", "-t", "60", "start")

    def stop(self, data_dir: Path) -> None:
        if (data_dir / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(data_dir), "-m", "immediate", "-w", "stop")

    def stop_replica(self) -> None:
        self.stop(self.replica_dir)

    def start_replica(self) -> None:
        self.start(self.replica_dir, self.replica_port)

    def sql(self, port: int, statement: str) -> object:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            cursor = conn.execute(statement)
            row = cursor.fetchone() if cursor.description is not None else None
            return row[0] if row else None

    def wait_replayed(self, timeout: float = 30) -> None:
        """Until the replica has replayed everything the primary has written."""
        target = self.sql(self.primary_port, "SELECT pg_current_wal_insert_lsn()::text")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            caught_up = self.sql(self.replica_port, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if caught_up:
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not catch up")

    def remove(self) -> None:
        for data_dir in (self.replica_dir, self.primary_dir):
            with contextlib.suppress(Exception):  # removed all the same; a stuck server dies with its directory
                self.stop(data_dir)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def primary_and_replica() -> Iterator[Clusters]:
    import pytest

    bin_dir = postgres_bin()
    if bin_dir is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL's binaries (initdb, pg_ctl, pg_basebackup) are required but not installed")
        pytest.skip("PostgreSQL's binaries are not installed")
    clusters = Clusters(bin_dir, Path(tempfile.mkdtemp(prefix="fhirbridge-replica-")))
    try:
        clusters.make()
        yield clusters
    finally:
        clusters.remove()
