"""The hosts this server answers to, and the base URL every link it writes starts with.

Links (``fullUrl``, paging links, ``Location``, the CapabilityStatement's ``implementation.url``) are
built from ``FHIRBRIDGE_BASE_URL`` when it is set, otherwise from the request's ``Host`` header. That
header is the caller's to write: unchecked, ``Host: evil.example`` points every link of the answer
elsewhere, and a web page whose name was rebound to this server's address (DNS rebinding) can read it
from a browser. So every request must name one of the server's own hosts, whether or not ``base_url``
is set: one listed in ``FHIRBRIDGE_ALLOWED_HOSTS`` or, when none are listed, the address the request
arrived on, ``127.0.0.1`` or ``localhost``, on the port it arrived on; the host of ``base_url`` always.
Any other is answered 400 by ``HostCheck``, a middleware outside every other but the request ids and
metrics (server/app.py), plain reads included, before authentication or anything else runs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge.config import Settings
from fhirbridge.errors import BadRequest, FhirError
from fhirbridge.formats.codec import encode
from fhirbridge.formats.negotiation import MEDIA_TYPES, Format, response_format
from fhirbridge.security.middleware import NO_STORE, SECURITY_HEADERS

log = logging.getLogger("fhirbridge.security")

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# A host name or IPv4 address, or an IPv6 address in brackets, and an optional port (lower case).
_AUTHORITY = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(?P<port>[0-9]{1,5}))?")
REFUSED = (
    "The Host header does not name this server; links are built from it, so only the server's own "
    "names are answered (FHIRBRIDGE_BASE_URL, FHIRBRIDGE_ALLOWED_HOSTS)"
)


@dataclass(frozen=True)
class Authority:
    """A host name (IPv6 in brackets) and a port; no port: any."""

    name: str
    port: int | None

    def admits(self, name: str, port: int | None) -> bool:
        return self.name == name and (self.port is None or self.port == port)


def parse_authority(value: str) -> Authority | None:
    """``name[:port]`` as in a Host header; None when it is not one."""
    match = _AUTHORITY.fullmatch(value.lower())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else None
    if port is not None and port > 65535:
        return None
    return Authority(match["name"].rstrip("."), port)


class AllowedHosts:
    """The Host values a request may carry, and the base URL of its links (``link_base``)."""

    def __init__(self, *, base_url: str, allowed_hosts: list[str], host: str, port: int) -> None:
        self.base_url = base_url.rstrip("/")
        listed = []
        for value in allowed_hosts:
            entry = parse_authority(value)
            if entry is None:
                raise ValueError(f"FHIRBRIDGE_ALLOWED_HOSTS: '{value}' is not a host or host:port")
            listed.append(entry)
        # Nothing listed: the address each request arrives on (from the socket, not the caller) and the
        # loopback names on its port (``_candidates``), and the configured listen address.
        self.arrival_defaults = not listed
        if self.arrival_defaults:
            listed += [Authority(_bracketed(host), port), *(Authority(name, port) for name in LOOPBACK_NAMES)]
        if self.base_url:
            split = urlsplit(self.base_url)
            if not split.hostname:
                raise ValueError(f"FHIRBRIDGE_BASE_URL: '{base_url}' is not an absolute URL")
            listed.append(Authority(_bracketed(split.hostname), split.port))
        self.listed = tuple(listed)
        # Clients send the same few Host values over and over; this runs on every request.
        self._decide = lru_cache(maxsize=256)(self._decide_uncached)

    @classmethod
    def from_settings(cls, settings: Settings) -> AllowedHosts:
        return _allowed_hosts(settings.base_url, tuple(settings.allowed_hosts), settings.host, settings.port)

    def host(self, scope: Scope) -> str | None:
        """The request's host as it names it, when that is one of this server's names; else None."""
        server = scope.get("server")
        return self._decide(_host_header(scope), tuple(server) if server else None, scope.get("scheme", "http"))

    def _decide_uncached(self, value: str | None, server: tuple[str, int | None] | None, scheme: str) -> str | None:
        if value is None:
            if server is None or server[1] is None:
                return None
            value = f"{_bracketed(server[0])}:{server[1]}"
        requested = parse_authority(value)
        if requested is None:
            return None
        port = requested.port if requested.port is not None else DEFAULT_PORTS.get(scheme)
        if any(entry.admits(requested.name, port) for entry in self._candidates(server)):
            return value.lower()
        return None

    def link_base(self, scope: Scope) -> str:
        """What every link of the answer starts with: base_url when set, else the checked Host."""
        if self.base_url:
            return self.base_url
        host = self.host(scope)
        if host is None:
            raise BadRequest(REFUSED, expression="Host")
        return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}".rstrip("/")

    def _candidates(self, server: tuple[str, int | None] | None) -> Iterator[Authority]:
        yield from self.listed
        if self.arrival_defaults and server is not None and server[1] is not None:
            yield Authority(_bracketed(server[0]), server[1])
            yield from (Authority(name, server[1]) for name in LOOPBACK_NAMES)


@lru_cache(maxsize=8)
def _allowed_hosts(base_url: str, allowed: tuple[str, ...], host: str, port: int) -> AllowedHosts:
    return AllowedHosts(base_url=base_url, allowed_hosts=list(allowed), host=host, port=port)


def link_base(scope: Scope, settings: Settings) -> str:
    """The base URL of the links of this request's answer (``AllowedHosts.link_base``)."""
    return AllowedHosts.from_settings(settings).link_base(scope)


class HostCheck:
    """ASGI middleware: a request whose Host is not one of the server's names is answered 400."""

    def __init__(self, app: ASGIApp, *, hosts: AllowedHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.hosts.host(scope) is not None:
            await self.app(scope, receive, send)
            return
        log.warning("refused a request for a host that is not this server's: %.100r", _host_header(scope))
        fmt = _error_format(scope)
        outcome = BadRequest(REFUSED, expression="Host").operation_outcome()
        response = Response(encode(outcome, fmt), status_code=400, media_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8")
        # Outside the security layer, so its headers are added here.
        response.raw_headers.extend(SECURITY_HEADERS + NO_STORE)
        await response(scope, receive, send)


def _host_header(scope: MutableMapping[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return str(value.decode("latin-1"))
    return None


def _bracketed(name: str) -> str:
    """An IPv6 address as it appears in a Host header."""
    name = name.lower()
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def _error_format(scope: Scope) -> Format:
    request = Request(scope)
    try:
        return response_format(request.query_params.get("_format"), request.headers.get("accept"))
    except FhirError:
        return "json"


__all__ = ["AllowedHosts", "Authority", "HostCheck", "link_base", "parse_authority"]
