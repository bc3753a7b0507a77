"""Delivering queued notifications to rest-hook endpoints, with retries and exponential backoff.

How a notification is sent follows ``Subscription.channel``: no ``payload`` -> a POST with no body;
``payload`` with the backport ``id-only`` content -> a POST with no body whose ``Content-Location``
names the version; ``payload`` otherwise -> the resource PUT to ``[endpoint]/[type]/[id]``. Each
``channel.header`` is sent as given, when the endpoint policy allows headers at all. After
``max_attempts`` failures the Subscription goes to status ``error`` with the reason in
``Subscription.error``.

A notification goes out only if the Subscription's owner (``owner.py``) may read what it is about, as
the access policy decides for that owner now: the version and the resource as it stands must be
visible to it, its scopes must allow searching the type, and the criteria's chained and ``_has``
parameters must still hold over what the owner may see. Otherwise nothing at all is sent (not the
resource, not its id, not an empty POST) and the notification is ``withheld``; the subscriber is not
told. A Subscription with no owner, with authentication on, delivers nothing and goes to ``error``.

Every delivery is checked again against the endpoint policy (``rules.EndpointPolicy``), and the address
check is made on the connection itself (``endpoint_session``): the host is resolved once, every address
it resolves to must be public (unless the host is allowed by name), and the socket is opened to one of
those very addresses, so a name rebound to an inside address between the check and the connection
reaches nothing. Redirects are not followed, and no proxy or ``.netrc`` from the environment is used.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import requests
import sqlalchemy as sa
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.errors import FhirError
from fhirbridge.search import match_ids
from fhirbridge.security import guard
from fhirbridge.security.access import SYSTEM_ACCESS, Access
from fhirbridge.storage.clock import now_micros
from fhirbridge.storage.contract import StoredVersion
from fhirbridge.subscriptions import rules
from fhirbridge.subscriptions.owner import OwnerAccess, owner_of
from fhirbridge.subscriptions.rules import EndpointPolicy
from fhirbridge.subscriptions.schema import DELIVERED, FAILED, PENDING, WITHHELD, notifications

log = logging.getLogger("fhirbridge.subscriptions")

PAYLOAD_CONTENT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"
LEASE_MICROS = 60_000_000
BATCH = 20
NO_OWNER = (
    "This Subscription has no owner, so nothing is delivered: whoever updates it becomes its owner, and "
    "notifications carry only what that owner may read"
)


@dataclass(frozen=True)
class DeliveryPolicy:
    poll_seconds: float = 1.0
    retry_base_seconds: float = 5.0
    max_attempts: int = 5
    timeout_seconds: float = 10.0


class RefusedAddress(NewConnectionError):
    """The endpoint's host resolved to an address notifications must not reach."""


class DeliveryWorker:
    def __init__(
        self,
        engine: FhirEngine,
        *,
        owners: OwnerAccess,
        base_url: str,
        policy: DeliveryPolicy | None = None,
        endpoints: EndpointPolicy | None = None,
    ) -> None:
        self.engine = engine
        # The access a Subscription's owner has: every notification is checked against it.
        self.owners = owners
        self.base_url = base_url.rstrip("/")
        self.policy = policy or DeliveryPolicy()
        self.endpoints = endpoints or EndpointPolicy()
        self.session = endpoint_session(self.endpoints)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fhirbridge-subscriptions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.policy.timeout_seconds + 5)
        self.session.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.run_once()
            except Exception:  # the worker must outlive any one bad notification or database hiccup
                log.exception("subscription delivery round failed")
                delivered = 0
            if not delivered:
                self._stop.wait(self.policy.poll_seconds)

    # -- one round -----------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Deliver the notifications that are due; returns how many were attempted."""
        claimed = self._claim()
        for row in claimed:
            self._deliver(row)
        return len(claimed)

    def _claim(self) -> list[Any]:
        n = notifications
        now = now_micros()
        with self.engine.repository.write() as tx:
            conn = tx.connection()
            due = (
                sa.select(n)
                .where(n.c.state == PENDING, n.c.next_attempt_at <= now)
                .order_by(n.c.next_attempt_at, n.c.pk)
                .limit(BATCH)
            )
            # Several workers claim at once on PostgreSQL: each takes rows no other has locked, so a
            # notification goes out once. (SQLite's BEGIN IMMEDIATE lets one claim at a time anyway.)
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = conn.execute(due).all()
            if rows:
                # A lease: another worker (or this one after a restart) takes them only if we vanish.
                conn.execute(
                    n.update().where(n.c.pk.in_([r.pk for r in rows])).values(next_attempt_at=now + LEASE_MICROS)
                )
        return list(rows)

    def _deliver(self, row: Any) -> None:
        subscription_version = self.engine.repository.read("Subscription", row.subscription_id)
        if subscription_version is None or subscription_version.content is None:
            self._finish(row, FAILED, "the subscription no longer exists")
            return
        subscription = resource_of(subscription_version)
        if subscription.get("status") not in ("active", "requested"):
            self._finish(row, FAILED, f"the subscription is {subscription.get('status')}")
            return
        owner = self.owners(owner_of(subscription))
        if owner is None:
            self._mark_error(subscription, NO_OWNER)
            self._finish(row, WITHHELD, "the subscription has no owner")
            return
        version = self.engine.repository.vread(row.resource_type, row.resource_id, row.version_id)
        if version is None or version.content is None or not self._owner_reads(owner, subscription, version):
            # Not a failure, and not the subscriber's to know: it was never going to be sent.
            self._finish(row, WITHHELD, "the subscription's owner may not read it")
            return
        try:
            self._send(subscription, row, version)
        except (requests.RequestException, FhirError) as exc:
            self._retry_or_fail(row, subscription, _reason(exc))
            return
        self._finish(row, DELIVERED, None)

    def _owner_reads(self, owner: Access, subscription: dict[str, Any], version: StoredVersion) -> bool:
        """Whether the owner may be told of ``version``: what its search by the criteria would show."""
        if owner.unrestricted:
            return True
        if not owner.can(version.resource_type, "s"):
            return False
        if not guard.visible_versions(owner, [version], "r", self.engine.latest_content):
            return False
        reaching = _reaching_parameters(str(subscription.get("criteria", "")))
        if not reaching:
            return True  # the rest of the criteria are about the resource itself, which the owner reads
        # Chains and _has look at other resources, which the trigger read with no caller's limits: they
        # count only if they still hold over what the owner may see.
        try:
            with self.engine.repository.connect() as conn:
                params = [*reaching, ("_id", version.id)]
                return bool(match_ids(conn, version.resource_type, params, visible=owner.row_filter()))
        except FhirError:
            return False

    def _send(self, subscription: dict[str, Any], row: Any, version: StoredVersion) -> None:
        channel = subscription.get("channel") or {}
        # As it would be refused on write today; its addresses are checked on the connection.
        self.endpoints.check_channel(channel, resolve_host=False)
        endpoint = str(channel.get("endpoint", "")).rstrip("/")
        headers = dict(_header(line) for line in channel.get("header") or [] if ":" in line)
        version_url = f"{self.base_url}/{row.resource_type}/{row.resource_id}/_history/{row.version_id}"
        payload = channel.get("payload")
        options: dict[str, Any] = {"timeout": self.policy.timeout_seconds, "allow_redirects": False}
        if payload is None:
            response = self.session.post(endpoint, headers=headers, **options)
        elif _payload_content(channel) in ("id-only", "empty"):
            headers["Content-Location"] = version_url
            response = self.session.post(endpoint, headers=headers, **options)
        else:
            body = version.content or b""
            headers["Content-Type"] = str(payload)
            headers["Content-Location"] = version_url
            response = self.session.put(
                f"{endpoint}/{row.resource_type}/{row.resource_id}",
                data=body,
                headers=headers,
                **options,
            )
        if response.status_code >= 300:
            raise requests.HTTPError(f"{endpoint} answered {response.status_code}", response=response)

    def _retry_or_fail(self, row: Any, subscription: dict[str, Any], reason: str) -> None:
        attempts = row.attempts + 1
        if attempts >= self.policy.max_attempts:
            self._finish(row, FAILED, reason, attempts=attempts)
            self._mark_error(subscription, f"Delivery failed {attempts} times; last error: {reason}")
            return
        delay = self.policy.retry_base_seconds * 2 ** (attempts - 1)
        n = notifications
        with self.engine.repository.write() as tx:
            tx.connection().execute(
                n.update()
                .where(n.c.pk == row.pk)
                .values(attempts=attempts, last_error=reason, next_attempt_at=now_micros() + int(delay * 1_000_000))
            )

    def _finish(self, row: Any, state: str, reason: str | None, *, attempts: int | None = None) -> None:
        n = notifications
        with self.engine.repository.write() as tx:
            tx.connection().execute(
                n.update()
                .where(n.c.pk == row.pk)
                .values(state=state, last_error=reason, attempts=attempts if attempts is not None else row.attempts + 1)
            )

    def _mark_error(self, subscription: dict[str, Any], message: str) -> None:
        subscription["status"] = "error"
        subscription["error"] = message
        try:
            # The server itself records the failure.
            self.engine.update(SYSTEM_ACCESS, "Subscription", subscription["id"], subscription)
        except FhirError:
            log.exception("could not mark Subscription/%s as error", subscription["id"])


def endpoint_session(endpoints: EndpointPolicy) -> requests.Session:
    """A session whose every connection is opened only to addresses ``endpoints`` allows."""
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc credentials from the environment
    adapter = _CheckedAdapter(endpoints)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _CheckedAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, endpoints: EndpointPolicy) -> None:
        self.endpoints = endpoints  # before the base class builds the pool manager
        super().__init__()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        endpoints = self.endpoints

        class CheckedHTTPConnection(_CheckedConnection, HTTPConnection):
            policy = endpoints

        class CheckedHTTPSConnection(_CheckedConnection, HTTPSConnection):
            policy = endpoints

        class CheckedHTTPConnectionPool(HTTPConnectionPool):
            ConnectionCls = CheckedHTTPConnection

        class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
            ConnectionCls = CheckedHTTPSConnection

        self.poolmanager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }


class _CheckedConnection(HTTPConnection):
    """Opens its socket to an address of the host that the policy allows, checked here, at connect."""

    policy: EndpointPolicy

    def _new_conn(self) -> socket.socket:
        if self.policy.allows_host(self.host):
            return super()._new_conn()
        try:
            addresses = rules.resolve(self._dns_host, self.port)
        except OSError as exc:
            raise NameResolutionError(self.host, self, socket.gaierror(str(exc))) from exc
        for address in addresses:
            problem = rules.address_problem(address)
            if problem is not None:
                # The address goes to the log, not to Subscription.error, which the subscriber reads.
                log.warning("refused a notification to %s: it resolves to %s (%s)", self.host, address, problem)
                raise RefusedAddress(self, f"refused: {self.host} resolves to a {problem} address, not a public one")
        error: OSError = OSError(f"{self.host} resolves to no address")
        for address in addresses:
            try:
                return connection.create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                error = exc
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


def _reason(exc: Exception) -> str:
    """Why a delivery failed, as recorded (a refused address rather than the transport's wrapping)."""
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        if isinstance(reason, RefusedAddress):
            return str(reason)
    return str(exc)


def _reaching_parameters(criteria: str) -> list[tuple[str, str]]:
    """The criteria's parameters that look beyond the resource: chains (``subject.name``) and ``_has``."""
    query = criteria.partition("?")[2]
    return [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if "." in name or name.startswith("_has")
    ]


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


def _payload_content(channel: dict[str, Any]) -> str | None:
    for extension in (channel.get("_payload") or {}).get("extension") or []:
        if extension.get("url") == PAYLOAD_CONTENT:
            return str(extension.get("valueCode"))
    return None


__all__ = ["DeliveryPolicy", "DeliveryWorker", "RefusedAddress", "endpoint_session"]
