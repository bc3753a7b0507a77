"""All settings in one place, read from ``FHIRBRIDGE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{data_dir / 'fhirbridge.sqlite3'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FHIRBRIDGE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = ""
    # The address clients use to reach us; links and Location headers are built from it when set,
    # otherwise from the request.
    base_url: str = ""
    max_body_bytes: int = 10 * 1024 * 1024
    max_json_depth: int = 64
    default_page_size: int = 20
    max_page_size: int = 1000
    max_bundle_entries: int = 1000
    # Memory for recently read current versions on SQLite (exact: dropped whenever anyone commits);
    # 0 turns it off. PostgreSQL always reads from the database.
    read_cache_mb: float = 32
    # Refuse writes of resources that claim a profile in meta.profile but do not conform to it.
    validate_profiles_on_write: bool = False
    # Refuse a relative reference (Type/id) to a resource this server does not hold. Off only for a bulk
    # migration that loads records in any order (engine/integrity.py).
    check_references: bool = True
    # Let an update move a resource from one child's record to another's; refused (409) by default: the
    # resource is marked entered-in-error and created again for the right child.
    allow_moving_between_children: bool = False
    # Subscription notifications: how often the queue is polled, the first retry delay (doubling after
    # each failure), and how many failures put a Subscription into status error.
    # Deliver notifications from this process (with several server processes on one database, one is enough).
    subscription_delivery: bool = True
    subscription_poll_seconds: float = 1.0
    subscription_retry_seconds: float = 5.0
    subscription_max_attempts: int = 5

    # -- security (docs/security.md) ---------------------------------------------------------------
    # Authentication is on unless this is set; turning it off also turns off access control, the audit
    # trail and Provenance, and is logged as a warning at start-up. For development only.
    auth_disabled: bool = False
    # Keys bearer tokens are verified with: a JWKS file or https URL, and/or an HS256 development secret.
    jwks: str = ""
    jwt_secret: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_leeway_seconds: int = 30
    # A token that lives longer than this (exp - iat) is refused (401); 0: no limit. A day by default: an
    # identity provider issues access tokens for minutes, and a stolen long-lived one opens records for long.
    max_token_lifetime_seconds: int = 86_400
    # Advertised in /.well-known/smart-configuration and the CapabilityStatement.
    oauth_authorize_url: str = ""
    oauth_token_url: str = ""
    # Browser origins allowed to call the API (CORS); none by default.
    cors_origins: list[str] = []
    # Where a caller's treating relationship with a child comes from: "care-team" (the data: the caller
    # is on the child's CareTeam or is its general practitioner or managing organization), or "claim"
    # (the token's fhirbridge_team claim; only for a server that holds one practice's children).
    treating_relationship: str = "care-team"
    # From this age the youth's own Consents govern what a parent's token (confined to the child, not the
    # youth's own) sees of the youth's sensitive data (security/policy.py).
    age_of_majority: int = 18
    audit_max_pending: int = 10_000
    # Every access is appended to the audit journal before it is answered, and moved to the audit log
    # behind (docs/security.md). A SQLite store keeps its journal beside its file; any other store in
    # this directory (on the server's own disk: it must outlive the process). With sync, each access is
    # on the disk before it is answered (survives power loss, at a disk flush per request); without, it
    # survives the process (kill -9, crash), as SQLite's own commits do here.
    audit_journal_dir: str = str(DEFAULT_DATA_DIR / "audit-journal")
    audit_journal_sync: bool = False

    # -- links and outbound calls (docs/security.md) -----------------------------------------------
    # The Host names requests may carry, as "name" (any port) or "name:port" (IPv6 in brackets). Empty:
    # the address a request arrives on, 127.0.0.1 and localhost, on the port it arrives on. The host of
    # base_url is always allowed. Any other Host is answered 400 (links are built from it).
    allowed_hosts: list[str] = []
    # Subscription endpoints must be https and must not be, or resolve to, a loopback, link-local,
    # private, multicast or unspecified address; a Subscription may not choose headers (channel.header,
    # credentials in the endpoint URL). These relax that: http allowed (development), hosts (names or
    # addresses, any port) allowed whatever they resolve to, caller-chosen headers sent.
    subscription_allow_http: bool = False
    subscription_allowed_hosts: list[str] = []
    subscription_allow_headers: bool = False

    # -- limits on what one request may cost (docs/search.md) ---------------------------------------
    # A statement running longer is stopped: a search answers 422 too-costly, a write 503. 0 turns it off.
    query_timeout_seconds: float = 30.0
    # Parameters per search, and values across them (comma-separated alternatives, _sort keys and
    # _include specs count one each); more is 400 naming the parameter that went over.
    max_search_parameters: int = 50
    max_search_values: int = 200

    # -- observability (docs/observability.md) -------------------------------------------------------
    # GET /metrics in Prometheus text format. Off by default. With metrics_port, served there (on
    # metrics_host) without a token, and not on the API port; otherwise on the API port, to a back-end
    # service's token (a system/ scope).
    metrics: bool = False
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Names this process in metrics and log lines; empty: its process id.
    worker_id: str = ""
    # Log lines of `fhirbridge serve`: "text" or "json" (one object a line, for a log collector).
    log_format: str = "text"

    # -- processes and connections (docs/deployment.md) ----------------------------------------------
    # Worker processes `fhirbridge serve` starts, each a whole server on the same store and port.
    workers: int = 1
    # Database connections each worker keeps open, and how many more it may open under load: size
    # them so that workers x (pool + overflow) stays under PostgreSQL's max_connections.
    database_pool_size: int = 10
    database_max_overflow: int = 20
    # Apply pending schema migrations when the server starts (workers take turns). Off: upgrades are run
    # with `fhirbridge db upgrade`, and /readyz answers 503 until the schema is current.
    migrate_on_start: bool = True

    @property
    def read_cache_bytes(self) -> int:
        return int(self.read_cache_mb * 1024 * 1024)

    def effective_database_url(self) -> str:
        return self.database_url or default_database_url()


@lru_cache
def get_settings() -> Settings:
    return Settings()


__all__ = ["Settings", "default_database_url", "get_settings"]
