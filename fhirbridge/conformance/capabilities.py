"""Scenario: the server says what it is. ``GET /metadata`` answers an R4 CapabilityStatement in JSON."""

from __future__ import annotations

from typing import Any

from fhirbridge.client import FHIR_JSON
from fhirbridge.conformance.run import Run

JSON_FORMATS = {"json", "application/json", FHIR_JSON}


def capabilities(run: Run) -> None:
    with run.step("GET /metadata answers in JSON") as step:
        # The client parses any JSON it is given; the media type the server declares is checked here.
        response = run.client.session.get(
            f"{run.client.base_url}/metadata", headers={"Accept": FHIR_JSON}, timeout=run.client.timeout
        )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        step.expect(response.status_code == 200, f"status {response.status_code}")
        step.expect(media_type in JSON_FORMATS, f"Content-Type is '{media_type or 'missing'}'")
        step.detail = media_type
    with run.step("it is a CapabilityStatement") as step:
        statement = run.client.capabilities()
        step.expect(
            statement.get("resourceType") == "CapabilityStatement",
            f"the answer is a {statement.get('resourceType')}",
        )
        step.detail = " ".join(str(statement.get(name, "")) for name in ("name", "version") if statement.get(name))
    with run.step("fhirVersion is 4.0.x (R4)") as step:
        version = str(statement.get("fhirVersion", ""))
        step.expect(version.startswith("4.0."), f"fhirVersion is '{version or 'missing'}'")
        step.detail = version
    with run.step("JSON is among its formats") as step:
        formats = [str(item) for item in statement.get("format") or []]
        step.expect(any(item.split(";")[0] in JSON_FORMATS for item in formats), f"format is {formats}")
        step.detail = ", ".join(formats)
    with run.step("it describes a server's REST interface") as step:
        servers = [rest for rest in statement.get("rest") or [] if rest.get("mode") == "server"]
        step.expect(bool(servers), "no rest entry with mode 'server'")
        step.detail = f"{len(resource_types(statement))} resource types"


def resource_types(statement: dict[str, Any]) -> set[str]:
    return {
        str(resource.get("type"))
        for rest in statement.get("rest") or []
        if rest.get("mode") == "server"
        for resource in rest.get("resource") or []
    }


def declares_operation(statement: dict[str, Any], resource_type: str, name: str) -> bool:
    """Whether the CapabilityStatement lists the operation, on the resource type or system-wide."""
    for rest in statement.get("rest") or []:
        operations = list(rest.get("operation") or [])
        for resource in rest.get("resource") or []:
            if resource.get("type") == resource_type:
                operations.extend(resource.get("operation") or [])
        for operation in operations:
            # ``.../Patient-everything`` or ``.../summary``: the segment after the type, whole
            # (``Patient-transfer-summary`` is another operation than ``summary``).
            segment = str(operation.get("definition", "")).rstrip("/").rsplit("/", 1)[-1]
            if operation.get("name") == name or name in (segment, segment.split("-", 1)[-1]):
                return True
    return False


__all__ = ["capabilities", "declares_operation", "resource_types"]
