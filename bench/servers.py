"""Starting, watching and stopping a server under test in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import Connection, encode_request

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m bench.serve KIND ...`` in a child process, from this checkout of fhirbridge."""

    def __init__(
        self, kind: str, *options: str, command: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        """``command``: run this instead of ``bench.serve`` (given the port after it); ``env``: more
        environment for it."""
        self.kind = kind
        self.port = free_port()
        self.host = "127.0.0.1"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the process's whole life)
        environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(
            [*(command or [sys.executable, "-m", "bench.serve", kind]), "--port", str(self.port), *options],
            cwd=REPO_ROOT,
            env={**environment, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready("/metadata" if kind.startswith("fhir") else "/ready")

    def _wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.kind} server exited at start-up:\n{self.log()}")
            connection = Connection(self.host, self.port)
            try:
                if connection.exchange(encode_request("GET", path)).status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the {self.kind} server did not answer within {START_TIMEOUT:.0f} s:\n{self.log()}")

    def rss_bytes(self) -> int:
        """Resident memory of the server process now (Linux /proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS not found")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["ServerProcess", "free_port"]
