"""A closed-loop HTTP/1.1 load generator: several clients, each in its own process, over keep-alive sockets.

Each client is a separate process (so no client waits on another for the interpreter lock) holding
one persistent connection; it sends a request, reads the whole response, and sends the next one, cycling
through pre-encoded requests. Encoding everything up front keeps the client's own cost per request to
a ``sendall`` and a few buffered reads, so the numbers measure the server.

The load runs without a pause from the start through a warm-up and then ``runs`` equal windows; each
completed request is filed under the window it finished in, which gives one throughput and one latency
distribution per window (the report takes their medians).

Only the standard library is imported here: worker processes start fast under ``spawn``.
"""

from __future__ import annotations

import socket
import time
from array import array
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

CRLF = b"\r\n"


def encode_request(
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    host: str = "127.0.0.1",
    content_type: str = "application/fhir+json",
    headers: dict[str, str] | None = None,
) -> bytes:
    """One HTTP/1.1 request, ready to send on a keep-alive connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/fhir+json"]
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")


@dataclass(frozen=True)
class Exchange:
    status: int
    body: bytes
    keep_alive: bool


def read_response(reader: Any) -> Exchange:
    """Read one response (Content-Length or chunked) from a buffered socket reader."""
    status_line = reader.readline(65536)
    if not status_line:
        raise ConnectionError("the server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    while True:
        line = reader.readline(65536)
        if line in (CRLF, b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep_alive = False
    if chunked:
        parts = []
        while True:
            size = int(reader.readline(65536).split(b";", 1)[0], 16)
            if size == 0:
                reader.readline(65536)
                break
            parts.append(reader.read(size))
            reader.readline(65536)
        body = b"".join(parts)
    elif length is not None:
        body = reader.read(length)
    else:
        body = b""
    return Exchange(status, body, keep_alive)


class Connection:
    """One keep-alive client connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def _open(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=120)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._reader = sock.makefile("rb", buffering=65536)

    def exchange(self, request: bytes) -> Exchange:
        if self._sock is None:
            self._open()
        assert self._sock is not None
        try:
            self._sock.sendall(request)
            response = read_response(self._reader)
        except (ConnectionError, OSError):
            self.close()
            raise
        if not response.keep_alive:
            self.close()
        return response

    def close(self) -> None:
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
        self._sock = None
        self._reader = None


@dataclass(frozen=True)
class ClientPlan:
    host: str
    port: int
    requests: Sequence[bytes]
    offset: int  # where in ``requests`` this client starts, so clients do not walk in step
    start_at: float  # wall-clock time (time.time()) at which every client begins
    warmup: float
    window: float
    runs: int
    ok_statuses: tuple[int, ...]


@dataclass
class ClientResult:
    # Per window: latencies in seconds of the requests that completed in it.
    latencies: list[array]  # type: ignore[type-arg]
    errors: int
    first_error: str | None


def run_client(plan: ClientPlan) -> ClientResult:
    """Drive one connection through warm-up and every window (runs in a worker process)."""
    connection = Connection(plan.host, plan.port)
    latencies = [array("d") for _ in range(plan.runs)]
    errors = 0
    first_error: str | None = None
    measure_from = plan.start_at + plan.warmup
    stop_at = measure_from + plan.window * plan.runs
    delay = plan.start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    requests = plan.requests
    index = plan.offset
    clock = time.perf_counter
    # Window boundaries in the perf_counter clock, which is what each request is timed with.
    skew = clock() - time.time()
    measure_from += skew
    stop_at += skew
    try:
        while True:
            request = requests[index % len(requests)]
            index += 1
            started = clock()
            try:
                response = connection.exchange(request)
                failed = response.status not in plan.ok_statuses
                detail = f"HTTP {response.status}: {response.body[:300]!r}"
            except (ConnectionError, OSError, ValueError) as exc:
                failed = True
                detail = f"{type(exc).__name__}: {exc}"
            finished = clock()
            if finished >= stop_at:
                break
            if finished < measure_from:
                continue
            if failed:
                errors += 1
                first_error = first_error or detail
            else:
                latencies[int((finished - measure_from) / plan.window)].append(finished - started)
    finally:
        connection.close()
    return ClientResult(latencies, errors, first_error)


class LoadGenerator:
    """A pool of client processes kept alive for the whole benchmark (spawned once, reused)."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self._pool = ProcessPoolExecutor(max_workers=clients, mp_context=get_context("spawn"))
        # Start every worker now, so process start-up never falls inside a measurement.
        for future in [self._pool.submit(time.sleep, 0.2) for _ in range(clients)]:
            future.result()

    def run(
        self,
        host: str,
        port: int,
        requests: Sequence[bytes],
        *,
        warmup: float,
        window: float,
        runs: int,
        ok_statuses: tuple[int, ...] = (200, 201),
    ) -> list[ClientResult]:
        start_at = time.time() + 0.3
        step = max(1, len(requests) // self.clients)
        plans = [
            ClientPlan(host, port, requests, client * step, start_at, warmup, window, runs, ok_statuses)
            for client in range(self.clients)
        ]
        return list(self._pool.map(run_client, plans))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "ClientPlan",
    "ClientResult",
    "Connection",
    "Exchange",
    "LoadGenerator",
    "encode_request",
    "read_response",
    "run_client",
]
