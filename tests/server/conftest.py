"""Fixtures the server tests share: a migration's server, the demo children, one child's record."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.server.cli import load_demo_into
from fhirbridge.storage.sql import SqlRepository
from tests.conftest import LiveServer
from tests.factories import put

SUMMARY_CHILD = "Patient/child-1"  # whose record the record fixture loads


@pytest.fixture(scope="module")
def migration_server(repository: SqlRepository) -> Iterator[LiveServer]:
    """The examples refer to patients, practitioners and encounters of HL7's example server, not this one:
    they are loaded as a migration loads records, without the reference check (FHIRBRIDGE_CHECK_REFERENCES)."""
    server = LiveServer(repository, Settings(auth_disabled=True, subscription_delivery=False, check_references=False))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def demo(server: LiveServer) -> Iterator[httpx.Client]:
    load_demo_into(server.repository, server.url)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
def record(client: httpx.Client) -> None:
    put(client, {"resourceType": "Patient", "id": "child-1", "name": [{"given": ["Lena"], "family": "Haddad"}]})
    put(client, {"resourceType": "Patient", "id": "child-2", "name": [{"family": "Other"}]})
    put(client, {"resourceType": "Practitioner", "id": "dr-pcp", "name": [{"family": "Nguyen"}]})
    put(
        client,
        {
            "resourceType": "Condition",
            "id": "cp",
            "code": {"text": "Cerebral palsy"},
            "subject": {"reference": SUMMARY_CHILD},
            "recorder": {"reference": "Practitioner/dr-pcp"},
        },
    )
    goal = {"lifecycleStatus": "active", "subject": {"reference": SUMMARY_CHILD}}
    put(client, {"resourceType": "Goal", "id": "g1", **goal, "description": {"text": "Walks with a walker at school"}})
    put(
        client,
        {
            "resourceType": "CarePlan",
            "id": "plan",
            "status": "active",
            "intent": "plan",
            "title": "Shared plan of care",
            "subject": {"reference": SUMMARY_CHILD},
            "goal": [{"reference": "Goal/g1"}],
        },
    )
    put(
        client,
        {
            "resourceType": "CarePlan",
            "id": "emergency",
            "status": "active",
            "intent": "plan",
            "title": "Emergency plan: seizures",
            "partOf": [{"reference": "CarePlan/plan"}],
            "subject": {"reference": SUMMARY_CHILD},
        },
    )
    put(
        client,
        {
            "resourceType": "ServiceRequest",
            "id": "ortho",
            "status": "active",
            "intent": "order",
            "code": {"text": "Orthopedics consult"},
            "subject": {"reference": SUMMARY_CHILD},
        },
    )
    put(
        client,
        {
            "resourceType": "Task",
            "id": "referral",
            "status": "requested",
            "intent": "order",
            "description": "Orthopedics referral",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": "ServiceRequest/ortho"},
            "for": {"reference": SUMMARY_CHILD},
        },
    )
    put(
        client,
        {
            "resourceType": "Goal",
            "id": "other",
            **goal,
            "subject": {"reference": "Patient/child-2"},
            "description": {"text": "not this child"},
        },
    )
