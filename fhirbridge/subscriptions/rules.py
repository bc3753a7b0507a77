"""What a Subscription must say for this server to honour it; anything else is refused on write.

A rest-hook makes this server send patient data wherever the subscriber says. Left open, a caller could
aim it inside the network (``http://127.0.0.1:5432``, a cloud metadata address, an internal service)
with headers of its choosing. So by default (``EndpointPolicy``) an endpoint must be https, its host
must not be, or resolve to, a loopback, link-local, private, multicast, unspecified or otherwise
non-public address, and the Subscription may not choose headers (``channel.header``, or credentials in
the endpoint URL). The settings ``subscription_allow_http``, ``subscription_allowed_hosts`` and
``subscription_allow_headers`` relax that. The endpoint is checked when it is set or changed, and again
by delivery on the address it actually connects to (``delivery.py``), so a name that resolves
elsewhere later reaches nothing inside.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhirbridge.config import Settings
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.errors import Unprocessable
from fhirbridge.search import supported_parameters

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SubscriptionRule = Callable[[dict[str, Any] | None, dict[str, Any]], None]

# Result parameters make no sense in a subscription's criteria; everything else must be a real parameter.
CONTROL_PARAMETERS = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}
ENDPOINT = "Subscription.channel.endpoint"
HEADER = "Subscription.channel.header"
# IPv6 addresses that carry an IPv4 address the packet ends up at (NAT64, RFC 6052).
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Even when headers are allowed: these would change where or how the request is framed.
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class EndpointPolicy:
    """Where and how rest-hook notifications may be sent (the default is the strict one)."""

    allow_http: bool = False
    # Host names or addresses (lower case, IPv6 without brackets) allowed whatever they resolve to.
    allowed_hosts: frozenset[str] = frozenset()
    allow_headers: bool = False
    # How long a write waits for DNS: it runs inside the write transaction.
    resolve_seconds: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EndpointPolicy:
        return cls(
            allow_http=settings.subscription_allow_http,
            allowed_hosts=frozenset(host_key(host) for host in settings.subscription_allowed_hosts),
            allow_headers=settings.subscription_allow_headers,
        )

    def allows_host(self, host: str) -> bool:
        return host_key(host) in self.allowed_hosts

    def check_channel(self, channel: dict[str, Any], *, resolve_host: bool) -> None:
        """Refuse (422) an endpoint or headers this policy does not allow; the host's addresses are
        checked only with ``resolve_host`` (delivery checks the address it connects to instead)."""
        endpoint = urlsplit(str(channel.get("endpoint", "")))
        try:
            port = endpoint.port
        except ValueError:
            raise Unprocessable("The endpoint's port is not a port number", expression=ENDPOINT) from None
        host = endpoint.hostname
        if endpoint.scheme not in ("http", "https") or not host:
            raise Unprocessable("A rest-hook needs an absolute http(s) endpoint", expression=ENDPOINT)
        if endpoint.scheme != "https" and not self.allow_http:
            raise Unprocessable("A rest-hook endpoint must be https", code="security", expression=ENDPOINT)
        if (endpoint.username is not None or endpoint.password is not None) and not self.allow_headers:
            raise Unprocessable(
                "Credentials in the endpoint URL are not accepted", code="security", expression=ENDPOINT
            )
        self._check_headers(channel.get("header") or [])
        if resolve_host and not self.allows_host(host):
            addresses = resolve_within(host, port, self.resolve_seconds)
            # A name that does not resolve now is accepted: delivery checks what it resolves to then.
            if any(address_problem(address) for address in addresses or []):
                raise Unprocessable(
                    "A rest-hook endpoint must be a public address; its host is, or resolves to, a loopback, "
                    "link-local, private, multicast or unspecified address",
                    code="security",
                    expression=ENDPOINT,
                )

    def _check_headers(self, headers: Any) -> None:
        if not headers:
            return
        if not self.allow_headers:
            raise Unprocessable(
                "This server does not send headers chosen by a Subscription", code="security", expression=HEADER
            )
        for number, line in enumerate(headers, start=1):
            name, colon, value = str(line).partition(":")
            if not colon or not _HEADER_NAME.fullmatch(name.strip()) or _CONTROL.search(value):
                # Not echoed: a header line usually holds a credential.
                raise Unprocessable(f"Header {number} is not a line 'Name: value'", expression=HEADER)
            if name.strip().lower() in FRAMING_HEADERS:
                raise Unprocessable(f"A Subscription may not set the {name.strip()} header", expression=HEADER)


def address_problem(address: IPAddress) -> str | None:
    """What makes ``address`` one notifications must not reach (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None
        )
        if embedded is not None:
            address = embedded
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if not address.is_global or address.is_reserved:
        return "not public"
    return None


def host_key(host: str) -> str:
    """A host as ``allowed_hosts`` holds it: lower case, no IPv6 brackets, no trailing dot."""
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


def resolve(host: str, port: int | None) -> list[IPAddress]:
    """The addresses ``host`` resolves to (an address: itself); OSError when it resolves to none."""
    try:
        return [ipaddress.ip_address(host_key(host))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # not a name IDNA can encode
        raise socket.gaierror(str(exc)) from exc
    # sockaddr[0] of an IPv6 link-local address may carry a zone ("fe80::1%eth0").
    return [ipaddress.ip_address(str(sockaddr[0]).partition("%")[0]) for *_, sockaddr in found]


def resolve_within(host: str, port: int | None, seconds: float) -> list[IPAddress] | None:
    """``resolve``, giving up after ``seconds``; None when it fails or takes longer."""
    found: list[list[IPAddress]] = []

    def lookup() -> None:
        with contextlib.suppress(OSError, ValueError):
            found.append(resolve(host, port))

    # A daemon thread: a resolver stuck past the wait is left behind, never waited for at exit.
    thread = threading.Thread(target=lookup, name="fhirbridge-resolve", daemon=True)
    thread.start()
    thread.join(seconds)
    return found[0] if found else None


def check_subscription(
    previous: dict[str, Any] | None, subscription: dict[str, Any], endpoints: EndpointPolicy | None = None
) -> None:
    """Refuse (422) a Subscription this server cannot honour, or whose endpoint ``endpoints`` refuses."""
    channel = subscription.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise Unprocessable(
            f"Only rest-hook channels are supported, not {channel.get('type')}",
            code="not-supported",
            expression="Subscription.channel.type",
        )
    endpoint = urlsplit(str(channel.get("endpoint", "")))
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        raise Unprocessable("A rest-hook needs an absolute http(s) endpoint", expression=ENDPOINT)
    # An unchanged channel was checked when it was set; delivery checks it again every time. (The server
    # marking a Subscription as in error must succeed even when its endpoint is refused today.)
    if previous is None or _destination(previous) != _destination(subscription):
        (endpoints or EndpointPolicy()).check_channel(channel, resolve_host=True)
    resource_type, _, query = str(subscription.get("criteria", "")).partition("?")
    if resource_type not in resource_types():
        raise Unprocessable(
            f"The criteria must start with a resource type, not '{resource_type}'", expression="Subscription.criteria"
        )
    known = {param.code for param in supported_parameters(resource_type)} | CONTROL_PARAMETERS
    for name, _ in parse_qsl(query, keep_blank_values=True):
        base = name.split(":", 1)[0].split(".", 1)[0]
        if base not in known and not name.startswith("_has"):
            raise Unprocessable(
                f"'{name}' is not a search parameter of {resource_type}", expression="Subscription.criteria"
            )


def subscription_rule(settings: Settings) -> SubscriptionRule:
    """The write rule for Subscriptions, with the endpoint policy of ``settings``."""
    endpoints = EndpointPolicy.from_settings(settings)

    def check(previous: dict[str, Any] | None, subscription: dict[str, Any]) -> None:
        check_subscription(previous, subscription, endpoints)

    return check


def _destination(subscription: dict[str, Any]) -> tuple[str, list[Any]]:
    channel = subscription.get("channel") or {}
    return str(channel.get("endpoint", "")), list(channel.get("header") or [])


__all__ = [
    "EndpointPolicy",
    "address_problem",
    "check_subscription",
    "resolve",
    "resolve_within",
    "subscription_rule",
]
