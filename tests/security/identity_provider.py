"""A stand-in identity provider for tests: a real HTTP server in a thread serving a JWKS, with RS256 keys
made with ``cryptography``, that the test can rotate, slow down or take down."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.security.conftest import signed


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, claims: dict[str, Any] | None = None, *, kid: str | None = None) -> str:
        """An RS256 token signed with this key (``kid`` names another key id in the header, if given)."""
        return signed(claims or {}, key=self.private, algorithm="RS256", kid=kid or self.kid)


class IdentityProvider:
    """``url`` serves ``{"keys": [...]}`` of ``published``; ``delay`` seconds before answering; ``down``: 503."""

    def __init__(self, *published: SigningKey) -> None:
        self.published = list(published)
        self.delay = 0.0
        self.down = False
        self.requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                time.sleep(provider.delay)
                if provider.down:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"keys": [key.jwk() for key in provider.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/realms/fhirbridge/protocol/openid-connect/certs"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
