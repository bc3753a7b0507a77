"""Installing access control into the FastAPI application (``create_app`` calls ``install_security``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Connection

from fhirbridge.compartment import patient_id_of
from fhirbridge.config import Settings
from fhirbridge.formats import json as fhir_json
from fhirbridge.search.indexer import flush_index
from fhirbridge.security import policy
from fhirbridge.security.access import Access
from fhirbridge.security.audit import AuditTrail
from fhirbridge.security.consent import consent_grants
from fhirbridge.security.middleware import SecurityMiddleware
from fhirbridge.security.policy import CLAIM, TREATING_MODES, Relations, Share, consents_naming, treated_children
from fhirbridge.security.principal import Principal
from fhirbridge.security.smart import smart_configuration
from fhirbridge.security.tokens import TokenVerifier
from fhirbridge.storage.audit_journal import AuditJournal, journal_directory
from fhirbridge.storage.audit_log import AuditLog
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.storage.transaction_state import transaction_state, written_types

log = logging.getLogger("fhirbridge.security")

CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept",
    "If-Match",
    "If-None-Match",
    "If-None-Exist",
    "If-Modified-Since",
    "Prefer",
]
CORS_RESPONSE_HEADERS = ["ETag", "Location", "Last-Modified", "Content-Location"]


@dataclass
class InstalledSecurity:
    audit: AuditTrail | None  # None with authentication off: nothing is audited
    # Where the audit trail is kept (read by /AuditEvent).
    audit_log: AuditLog

    def close(self) -> None:
        if self.audit is not None:
            self.audit.stop()
        self.audit_log.dispose()


# The resources a caller's relations are read from (policy.treated_children, policy.consents_naming).
RELATION_SOURCES = ("CareTeam", "Patient", "Consent")
RELATIONS_KEY = "fhirbridge.relations"  # a write transaction's relations, per caller
RELATIONS_FOR = 30.0  # seconds: how late a Consent's end (or start) may take effect
REMEMBERED_CALLERS = 10_000


class RepositoryRelations:
    """The caller's relations read from the store's index (``RelationStore``).

    The children a caller treats come from the care teams and Patients that name it, unless the
    deployment is single-practice (``treating_relationship = "claim"``), where the token's
    ``fhirbridge_team: treating`` claim opens every child. What Consents share comes from the active
    Consents whose provision names the caller's organization, found through the index.
    """

    def __init__(self, repository: SqlRepository, treating_relationship: str, age_of_majority: int = 18) -> None:
        if treating_relationship not in TREATING_MODES:
            raise ValueError(f"treating_relationship must be one of {', '.join(TREATING_MODES)}")
        self.repository = repository
        self.treating_relationship = treating_relationship
        self.age_of_majority = age_of_majority
        # (user, organization, treating claim, child of the token) -> (when, the epoch of their sources,
        # relations): a caller's
        # relations change only when someone commits a care team, Patient or Consent, or a Consent's
        # period passes, so while none of those is committed they are kept, for RELATIONS_FOR at the most.
        self._remembered: dict[tuple[str | None, str | None, bool, str | None], tuple[float, int, Relations]] = {}

    def relations(self, principal: Principal, now: datetime, conn: Connection | None = None) -> Relations:
        if self.treating_relationship == CLAIM and principal.treating:
            return Relations(treats_every_child=True)  # from the token alone: nothing to read
        if conn is None:
            return self._kept_or_read(principal, now, self.repository.epoch(RELATION_SOURCES))
        # Inside a write transaction, what it wrote so far counts: relations are read again after it has
        # written a resource they come from, and otherwise kept for the transaction (a write checks the
        # caller's access several times: the version before, the version after, its Provenance).
        written = written_types(conn)
        marker = tuple(written[resource_type] for resource_type in RELATION_SOURCES)
        if not any(marker):
            epoch = self.repository.epoch(RELATION_SOURCES, conn)
            if epoch is not None:
                # Nothing of them written yet, and the store says when anyone commits one: as outside it
                # (what was last committed, which is what this transaction's next statement sees too).
                return self._kept_or_read(principal, now, epoch)
        kept: dict[Hashable, Relations] = transaction_state(conn, RELATIONS_KEY, dict)
        caller = (principal.fhir_user, principal.organization, principal.treating, principal.patient, marker)
        if caller not in kept:
            flush_index(conn)
            kept[caller] = self._relations(conn, principal, now)
        return kept[caller]

    def _kept_or_read(self, principal: Principal, now: datetime, epoch: int | None) -> Relations:
        """The relations kept for this caller at ``epoch`` (None: the store cannot say), else read now."""
        key = (principal.fhir_user, principal.organization, principal.treating, principal.patient)
        remembered = self._remembered.get(key)
        if epoch is not None and remembered is not None:
            seen_at, known, relations = remembered
            if known == epoch and time.monotonic() - seen_at < RELATIONS_FOR:
                return relations
        with self.repository.connect() as own:
            relations = self._relations(own, principal, now)
        if epoch is not None:
            if len(self._remembered) >= REMEMBERED_CALLERS:
                self._remembered.clear()
            self._remembered[key] = (time.monotonic(), epoch, relations)
        return relations

    def _relations(self, conn: Connection, principal: Principal, now: datetime) -> Relations:
        # (A treating claim under CLAIM never gets here: ``relations`` answers it from the token alone.)
        treated = treated_children(conn, principal)
        shares: dict[str, tuple[Share, ...]] = {}
        if principal.organization is not None:
            for content in consents_naming(conn, principal.organization):
                consent = fhir_json.loads_stored(content)
                child = patient_id_of(consent.get("patient"))
                if child is None:
                    continue
                for grant in consent_grants(consent, principal.organization, child, now):
                    shares[child] = (*shares.get(child, ()), Share(grant.classes, grant.labels))
        # A token confined to a child who has come of age: what the youth's own Consents share with it.
        of_age = policy.of_age_shares(conn, principal, now, self.age_of_majority)
        return Relations(treated=treated, shares=shares, of_age=of_age)


def access_for(repository: SqlRepository, principal: Principal | None, settings: Settings) -> Access:
    """The access of a caller, as the server establishes it for each request."""
    relations = RepositoryRelations(repository, settings.treating_relationship, settings.age_of_majority)
    return Access(principal=principal, store=relations)


def install_security(app: FastAPI, settings: Settings, repository: SqlRepository) -> InstalledSecurity:
    """Authentication, the access context, audit, security headers, CORS and the discovery routes.

    The security middleware and CORS are added to ``app`` as its outermost middleware so far: the middleware
    added before them (the plain-read path among them) runs behind them."""
    verifier: TokenVerifier | None = None
    audit: AuditTrail | None = None
    audit_log = AuditLog.beside(repository.engine)
    if settings.auth_disabled:
        log.warning(
            "AUTHENTICATION IS DISABLED (FHIRBRIDGE_AUTH_DISABLED): every caller can read and write every "
            "child's record, and no audit trail or Provenance is recorded. Never run like this with real data."
        )
    else:
        verifier = TokenVerifier(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            secret=settings.jwt_secret or None,
            jwks=settings.jwks or None,
            leeway=settings.jwt_leeway_seconds,
            max_lifetime=settings.max_token_lifetime_seconds,
        )
        store = repository.engine.url.render_as_string(hide_password=False)
        journal = AuditJournal(
            journal_directory(store, Path(settings.audit_journal_dir)),
            store,
            sync=settings.audit_journal_sync,
        )
        audit = AuditTrail(audit_log, journal, max_pending=settings.audit_max_pending)
        audit.start()
    relations = RepositoryRelations(repository, settings.treating_relationship, settings.age_of_majority)
    app.add_middleware(SecurityMiddleware, verifier=verifier, relations=relations, audit=audit)
    if settings.cors_origins:
        # Outside it: a browser's preflight is answered before authentication.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
        )

    @app.get("/.well-known/smart-configuration")
    async def smart_discovery() -> Response:
        return Response(fhir_json.dumps(smart_configuration(settings)), media_type="application/json")

    return InstalledSecurity(audit, audit_log)


__all__ = ["InstalledSecurity", "RepositoryRelations", "access_for", "install_security"]
