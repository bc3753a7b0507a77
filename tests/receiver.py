"""A partner's rest-hook endpoint for the Subscription tests: a real HTTP server on loopback."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A partner's endpoint: records what arrives; answers 503 while ``failing`` is set."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes, dict[str, str]]] = []
        self.failing = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = 503 if receiver.failing else 200
                if not receiver.failing:
                    receiver.received.append((self.command, self.path, body, dict(self.headers)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, self.received


# The receiver is a plain-http server on loopback, with a header of the subscriber's choosing: refused
# by default (tests/server/test_subscription_endpoints.py), so these servers allow it by configuration.
TO_LOCAL_RECEIVER: dict[str, Any] = {
    "subscription_allow_http": True,
    "subscription_allowed_hosts": ["127.0.0.1"],
    "subscription_allow_headers": True,
}
