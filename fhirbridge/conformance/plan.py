"""A demo child's shared plan made unique to one run, posted as a transaction, and found again.

The demo Bundle PUTs each resource under a stable id; a partner's server may not accept ids chosen by
the client, and a stable id would meet the last run's copy. So every entry is turned into a POST with
a fresh ``urn:uuid`` fullUrl, references between the entries point at those fullUrls (the server
resolves them, FHIR R4 Bundle 3.3.1.10), and every identifier value gets the run's tag.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fhirbridge.conformance.run import Run, StepFailed
from fhirbridge.demo import demo_records
from fhirbridge.mappers import record_to_bundle
from fhirbridge.references import replace_references

Resource = dict[str, Any]


@dataclass
class PlanOnServer:
    """The plan as the server stored it: the sent resources (by their demo key) and their server keys."""

    sent: dict[str, Resource] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def patient(self) -> str:
        return next(key for key in self.keys.values() if key.startswith("Patient/"))

    def server_keys(self, resource_type: str) -> set[str]:
        return {key for key in self.keys.values() if key.startswith(f"{resource_type}/")}

    def resource_of(self, server_key: str) -> Resource:
        demo_key = next(demo for demo, key in self.keys.items() if key == server_key)
        return self.sent[demo_key]


def unique_plan_bundle(tag: str) -> tuple[Resource, list[str]]:
    """The first demo child's plan as a transaction of POSTs; also the demo key of each entry, in order."""
    demo = record_to_bundle(demo_records()[0])
    full_urls = {_key(entry["resource"]): f"urn:uuid:{uuid.uuid4()}" for entry in demo["entry"]}
    entries, keys = [], []
    for entry in demo["entry"]:
        resource = copy.deepcopy(entry["resource"])
        key = _key(resource)
        del resource["id"]
        replace_references(resource, full_urls)
        _tag_identifiers(resource, tag)
        entries.append(
            {"fullUrl": full_urls[key], "resource": resource, "request": {"method": "POST", "url": key.split("/")[0]}}
        )
        keys.append(key)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, keys


def post_shared_plan(run: Run) -> PlanOnServer:
    """Step: POST the plan as a transaction; every entry must be created, each with its new id."""
    bundle, demo_keys = unique_plan_bundle(run.tag)
    plan = PlanOnServer()
    with run.step("POST the shared plan as a transaction") as step:
        answer = run.client.transaction(bundle)
        step.expect(
            answer.get("resourceType") == "Bundle" and answer.get("type") == "transaction-response",
            f"expected a transaction-response Bundle, got {answer.get('resourceType')} {answer.get('type')}",
        )
        entries = answer.get("entry") or []
        step.expect(len(entries) == len(demo_keys), f"sent {len(demo_keys)} entries, {len(entries)} came back")
        for demo_key, sent, entry in zip(demo_keys, bundle["entry"], entries, strict=True):
            response = entry.get("response") or {}
            status = str(response.get("status", ""))
            step.expect(status[:3] in ("200", "201"), f"{demo_key}: entry status {status or 'missing'}")
            server_key = key_of_location(str(response.get("location") or ""))
            if server_key is None:
                raise StepFailed(f"{demo_key}: no location in the entry response")
            step.expect(
                server_key.split("/")[0] == demo_key.split("/")[0],
                f"{demo_key}: the entry response names {server_key}",
            )
            plan.sent[demo_key] = sent["resource"]
            plan.keys[demo_key] = server_key
            run.made_resource(*server_key.split("/"))
        step.detail = f"{len(entries)} resources created, Patient is {plan.patient}"
    return plan


def key_of_location(location: str) -> str | None:
    """``https://host/fhir/Goal/7/_history/1`` or ``Goal/7`` -> ``Goal/7``."""
    path = urlsplit(location).path.split("/_history")[0].strip("/")
    parts = path.split("/")
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        return None
    return f"{parts[-2]}/{parts[-1]}"


def _key(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _tag_identifiers(value: Any, tag: str) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if name == "identifier":
                for identifier in item if isinstance(item, list) else [item]:
                    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
                        identifier["value"] = f"{identifier['value']}-{tag}"
            else:
                _tag_identifiers(item, tag)
    elif isinstance(value, list):
        for item in value:
            _tag_identifiers(item, tag)


__all__ = ["PlanOnServer", "key_of_location", "post_shared_plan", "unique_plan_bundle"]
