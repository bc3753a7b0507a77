"""Resources and requests the tests share: one definition each, imported from here rather than from
another test module.

Each factory answers a plain dict, a valid R4 resource of its type unless told otherwise: ``id`` is left
out when None (a resource to POST), ``child`` is the id of the Patient the resource is about (None: about
nobody), and ``**elements`` add elements or replace those the factory wrote. An element given as None
is left out, so a test can take away what the factory would write (``goal(subject=None)``). The
factories' own keywords are named apart from FHIR's elements (``description_text``, not ``text``, which
is the narrative), except where they are the element itself (``status``, ``intent``).
"""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"

Resource = dict[str, Any]


def _present(resource: Resource) -> Resource:
    return {key: value for key, value in resource.items() if value is not None}


def _about(child: str | None) -> dict[str, str] | None:
    return None if child is None else {"reference": f"Patient/{child}"}


def patient(
    id: str | None = None,
    *,
    family: str | None = None,
    given: list[str] | None = None,
    birth_date: str | None = None,
    **elements: Any,
) -> Resource:
    """A Patient: one name of ``family`` and ``given`` (no name without either)."""
    name = _present({"family": family, "given": given})
    return _present(
        {"resourceType": "Patient", "id": id, "name": [name] if name else None, "birthDate": birth_date, **elements}
    )


def new_patient(family: str = "Rivera", **elements: Any) -> Resource:
    """Mateo Rivera without an id: the child a test creates over HTTP."""
    return patient(family=family, given=["Mateo"], birth_date="2019-04-02", **{"gender": "male", **elements})


def goal(
    id: str | None = None,
    child: str | None = "child-1",
    *,
    description_text: str | None = "walks to school with a walker",
    status: str | None = "active",
    **elements: Any,
) -> Resource:
    """A Goal of ``child``: ``description_text`` is Goal.description.text, ``status`` its lifecycleStatus."""
    return _present(
        {
            "resourceType": "Goal",
            "id": id,
            "lifecycleStatus": status,
            "description": None if description_text is None else {"text": description_text},
            "subject": _about(child),
            **elements,
        }
    )


def care_plan(
    id: str | None = None,
    child: str | None = "child-1",
    *,
    status: str | None = "active",
    intent: str | None = "plan",
    **elements: Any,
) -> Resource:
    """A CarePlan for ``child``."""
    return _present(
        {"resourceType": "CarePlan", "id": id, "status": status, "intent": intent, "subject": _about(child), **elements}
    )


def task(
    id: str | None = None,
    child: str | None = "child-1",
    *,
    status: str | None = "requested",
    intent: str | None = "order",
    **elements: Any,
) -> Resource:
    """A Task for ``child`` (Task.for)."""
    return _present(
        {"resourceType": "Task", "id": id, "status": status, "intent": intent, "for": _about(child), **elements}
    )


def observation(
    id: str | None = None,
    child: str | None = "child-1",
    *,
    code_text: str | None = "weight",
    status: str | None = "final",
    **elements: Any,
) -> Resource:
    """An Observation of ``child``: ``code_text`` is Observation.code.text."""
    return _present(
        {
            "resourceType": "Observation",
            "id": id,
            "status": status,
            "code": None if code_text is None else {"text": code_text},
            "subject": _about(child),
            **elements,
        }
    )


def care_team(id: str, child: str, *members: str, **elements: Any) -> Resource:
    """An active CareTeam of ``child`` with ``members`` (references) as its participants."""
    return _present(
        {
            "resourceType": "CareTeam",
            "id": id,
            "status": "active",
            "subject": _about(child),
            "participant": [{"member": {"reference": member}} for member in members],
            **elements,
        }
    )


def organization(id: str, **elements: Any) -> Resource:
    """An Organization named as its id."""
    return _present({"resourceType": "Organization", "id": id, "name": id, **elements})


def create(client: httpx.Client, resource: dict[str, object]) -> httpx.Response:
    response = client.post(f"/{resource['resourceType']}", json=resource, headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 201, response.text
    return response


def put(client: httpx.Client, resource: dict[str, Any]) -> None:
    response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text
