"""What a route takes from the application, as typed FastAPI dependencies (``Annotated`` aliases).

``create_app`` (server/app.py) builds the services once, as ``Services``, and gives them to its
application; a route names what it needs by type (``engine: EngineDep``) and FastAPI hands it over. The
middleware and the lifespan are given their services when they are made, not through these.

Each accessor is a coroutine function on purpose: FastAPI runs a plain function dependency in a worker
thread, a hop that costs more than the accessor does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from fhirbridge.bulk.service import BulkExport
from fhirbridge.config import Settings
from fhirbridge.engine.audit_events import AuditEvents
from fhirbridge.engine.coordination import CoordinationService
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.operations.assessment import AssessmentOperations
from fhirbridge.engine.operations.patient import PatientOperations
from fhirbridge.engine.searching import SearchService
from fhirbridge.engine.terminology import Terminology
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.security.access import Access
from fhirbridge.security.audit import AuditTrail
from fhirbridge.security.middleware import request_access
from fhirbridge.server.readiness import Readiness
from fhirbridge.storage.sql import SqlRepository


@dataclass(frozen=True)
class Services:
    """What ``create_app`` builds once and the routes of its application share."""

    settings: Settings
    repository: SqlRepository
    search: SearchService
    engine: FhirEngine  # every interaction, checked against the caller's Access
    bundles: BundleProcessor  # transactions and batches
    coordination: CoordinationService  # the internal-format record API
    patient_operations: PatientOperations
    assessment_operations: AssessmentOperations
    terminology: Terminology
    audit_trail: AuditTrail | None  # None with authentication off: nothing is audited
    audit_events: AuditEvents  # the audit trail read as AuditEvents
    bulk_export: BulkExport
    readiness: Readiness


def services(request: Request) -> Services:
    """The services of the application serving ``request`` (a ``FhirbridgeApp``)."""
    found: Services = request.app.services
    return found


async def settings(request: Request) -> Settings:
    return services(request).settings


async def engine(request: Request) -> FhirEngine:
    return services(request).engine


async def search(request: Request) -> SearchService:
    return services(request).search


async def bundles(request: Request) -> BundleProcessor:
    return services(request).bundles


async def coordination(request: Request) -> CoordinationService:
    return services(request).coordination


async def patient_operations(request: Request) -> PatientOperations:
    return services(request).patient_operations


async def assessment_operations(request: Request) -> AssessmentOperations:
    return services(request).assessment_operations


async def terminology(request: Request) -> Terminology:
    return services(request).terminology


async def audit_trail(request: Request) -> AuditTrail | None:
    return services(request).audit_trail


async def audit_events(request: Request) -> AuditEvents:
    return services(request).audit_events


async def bulk_export(request: Request) -> BulkExport:
    return services(request).bulk_export


async def readiness(request: Request) -> Readiness:
    return services(request).readiness


async def access(request: Request) -> Access:
    """The caller's Access, made by the security middleware (none made: refused, 403)."""
    return request_access(request.scope)


SettingsDep = Annotated[Settings, Depends(settings)]
EngineDep = Annotated[FhirEngine, Depends(engine)]
SearchDep = Annotated[SearchService, Depends(search)]
BundlesDep = Annotated[BundleProcessor, Depends(bundles)]
CoordinationDep = Annotated[CoordinationService, Depends(coordination)]
PatientOperationsDep = Annotated[PatientOperations, Depends(patient_operations)]
AssessmentOperationsDep = Annotated[AssessmentOperations, Depends(assessment_operations)]
TerminologyDep = Annotated[Terminology, Depends(terminology)]
AuditTrailDep = Annotated[AuditTrail | None, Depends(audit_trail)]
AuditEventsDep = Annotated[AuditEvents, Depends(audit_events)]
BulkExportDep = Annotated[BulkExport, Depends(bulk_export)]
ReadinessDep = Annotated[Readiness, Depends(readiness)]
AccessDep = Annotated[Access, Depends(access)]

__all__ = [
    "AccessDep",
    "AssessmentOperationsDep",
    "AuditEventsDep",
    "AuditTrailDep",
    "BulkExportDep",
    "BundlesDep",
    "CoordinationDep",
    "EngineDep",
    "PatientOperationsDep",
    "ReadinessDep",
    "SearchDep",
    "Services",
    "SettingsDep",
    "TerminologyDep",
    "services",
]
