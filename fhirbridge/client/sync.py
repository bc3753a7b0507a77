"""Copy a child's shared plan of care from one FHIR server to another, safely and repeatably.

The plan is the Patient, the resources of its compartment that make up the plan (``PLAN_TYPES``) and
the practitioners and organizations they reference. Each resource is matched on the target by its
business identifier (``Type?identifier=system|value``), or by id when it carries none, and:

- left alone when the target already holds the same content (``meta`` aside), so a second run writes
  nothing;
- not overwritten when the target copy changed since the last sync (a conflict, reported): someone
  else's edit is never lost. The versions seen are kept in a ``SyncState`` file;
- otherwise written: a new resource by conditional update on its identifier (or update-as-create at its
  id), an existing one by an update with ``If-Match`` on the version just seen, so an edit racing the
  sync is a conflict too.

References between copied resources are rewritten to the target's ids before writing; references to
anything not copied become absolute URLs on the source. One Provenance on the target records what a
run wrote and where it came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

from fhirbridge.client.client import FhirClient, Resource, etag
from fhirbridge.client.errors import (
    FhirClientError,
    ResourceGone,
    ResourceNotFound,
    TransportError,
    VersionConflict,
)
from fhirbridge.client.references import ResourceKey, local_keys, rewrite_references
from fhirbridge.client.sync_state import SyncedResource, SyncState

# The compartment resources that make up a shared plan, in the order they are written: what others
# refer to first, so a server that checks references finds them.
PLAN_TYPES: tuple[str, ...] = (
    "RelatedPerson",
    "Condition",
    "Goal",
    "CareTeam",
    "ServiceRequest",
    "CarePlan",
    "Task",
    "QuestionnaireResponse",
    "RiskAssessment",
    "Consent",
)
# Resources outside the compartment that the plan's resources reference and that travel with it.
REFERENCED_TYPES: tuple[str, ...] = ("Organization", "Practitioner", "PractitionerRole")
WRITE_ORDER: tuple[str, ...] = (*REFERENCED_TYPES, "Patient", *PLAN_TYPES)

AGENT_NAME = "fhirbridge sync"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
US_CORE_PARTICIPANT_TYPE = "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type"

Action = Literal["created", "updated", "unchanged", "conflict", "failed"]


@dataclass(frozen=True)
class ResourceSync:
    """What happened to one resource: ``source`` and ``target`` are ``Type/id`` on each server."""

    source: str
    target: str | None
    action: Action
    reason: str = ""
    version_id: str | None = None


@dataclass
class SyncReport:
    source: str
    target: str
    patient: str
    resources: list[ResourceSync] = field(default_factory=list)
    provenance: str | None = None
    external_references: list[str] = field(default_factory=list)

    def with_action(self, *actions: Action) -> list[ResourceSync]:
        return [item for item in self.resources if item.action in actions]

    @property
    def written(self) -> list[ResourceSync]:
        return self.with_action("created", "updated")

    @property
    def conflicts(self) -> list[ResourceSync]:
        return self.with_action("conflict")

    @property
    def ok(self) -> bool:
        return not self.with_action("conflict", "failed")


@dataclass
class _Placement:
    """Where one source resource goes on the target, and what the target holds there now."""

    key: ResourceKey
    target_id: str | None
    current: Resource | None = None
    identifier: str | None = None  # system|value, when matched by identifier
    problem: str | None = None


# -- gathering the plan on the source -------------------------------------------------------------------


def collect_plan(source: FhirClient, patient_id: str) -> dict[ResourceKey, Resource]:
    """The Patient, its plan resources and the practitioners/organizations they reference, by (type, id)."""
    patient = source.read("Patient", patient_id)
    plan: dict[ResourceKey, Resource] = {("Patient", patient["id"]): patient}
    for resource_type in PLAN_TYPES:
        for resource in source.search(resource_type, {"patient": f"Patient/{patient['id']}"}):
            plan[(resource_type, resource["id"])] = resource
    # Follow references until closed: a PractitionerRole names its Practitioner and Organization.
    pending = _referenced(plan.values(), source.base_url) - plan.keys()
    while pending:
        for key in sorted(pending):
            try:
                plan[key] = source.read(*key)
            except (ResourceNotFound, ResourceGone):
                plan[key] = {}  # dangling on the source: left as an external reference
        pending = _referenced(plan.values(), source.base_url) - plan.keys()
    return {key: resource for key, resource in plan.items() if resource}


def _referenced(resources: Iterable[Resource], source_base: str) -> set[ResourceKey]:
    return {key for resource in resources for key in local_keys(resource, source_base) if key[0] in REFERENCED_TYPES}


# -- the sync -----------------------------------------------------------------------------------------


def sync_plan(
    source: FhirClient,
    target: FhirClient,
    patient_id: str,
    state: SyncState,
    *,
    force: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyncReport:
    """Copy the plan of ``patient_id`` (an id on the source) to the target; ``force`` overwrites conflicts.

    The state is updated and saved for every resource that is in step after the run.
    """
    report = SyncReport(source.base_url, target.base_url, patient_id)
    plan = collect_plan(source, patient_id)
    placements = {key: _place(target, key, resource, state) for key, resource in plan.items()}

    def target_of(key: ResourceKey) -> str | None:
        placement = placements.get(key)
        return f"{key[0]}/{placement.target_id}" if placement and placement.target_id else None

    written: list[tuple[Resource, Resource]] = []
    external: set[str] = set()
    completed = False
    try:
        writes: list[_Write] = []
        for key in sorted(plan, key=_write_rank):
            desired, refs = rewrite_references(plan[key], target_of, source.base_url)
            external |= refs
            decided = _decide(plan[key], desired, placements[key], state, force=force)
            if isinstance(decided, _Write):
                writes.append(decided)
            else:
                report.resources.append(decided)
        # One transaction first: a plan's resources refer to each other (a CarePlan to its Tasks, each
        # Task back to the CarePlan), which a server that checks references accepts only together.
        # Should the target refuse it, each is written on its own, so each gets its own answer.
        together = _write_together(target, writes, state)
        for write in writes:
            result, stored = together.get(write.source_ref) or _write_one(target, write, state)
            report.resources.append(result)
            if stored is not None:
                written.append((write.original, stored))
        completed = True
    finally:
        # What was written is recorded even when the run stops half-way (the target went away, say):
        # the next run must see those copies as its own, and they carry their Provenance.
        state.save()
        if written:
            try:
                provenance = target.create(provenance_for(written, source.base_url, now()))
                report.provenance = f"Provenance/{provenance['id']}"
            except FhirClientError:
                if completed:
                    raise
    report.external_references = sorted(external)
    return report


def _write_rank(key: ResourceKey) -> tuple[int, str]:
    return WRITE_ORDER.index(key[0]), key[1]


def _place(target: FhirClient, key: ResourceKey, resource: Resource, state: SyncState) -> _Placement:
    resource_type, source_id = key
    recorded = state.resources.get(_ref(key))
    identifier = business_identifier(resource)
    if identifier is None:
        return _Placement(key, source_id, _current(target, resource_type, source_id))
    matches = list(target.search(resource_type, {"identifier": identifier}))
    if len(matches) > 1:
        ids = ", ".join(sorted(match["id"] for match in matches))
        return _Placement(key, None, identifier=identifier, problem=f"several target resources ({ids}) match")
    if matches:
        return _Placement(key, matches[0]["id"], matches[0], identifier)
    if recorded is not None:
        # Synced before and now nowhere to be found: deleted, or its identifier changed, on the target.
        return _Placement(key, recorded.target.partition("/")[2], None, identifier)
    # A new copy keeps the source's id unless the target uses that id for something else.
    taken = _current(target, resource_type, source_id) is not None
    return _Placement(key, str(uuid.uuid4()) if taken else source_id, None, identifier)


def _current(target: FhirClient, resource_type: str, id: str) -> Resource | None:
    try:
        return target.read(resource_type, id)
    except (ResourceNotFound, ResourceGone):
        return None


@dataclass(frozen=True)
class _Write:
    """A resource to write to the target, decided before anything is written."""

    original: Resource
    desired: Resource
    placement: _Placement

    @property
    def source_ref(self) -> str:
        return _ref(self.placement.key)

    @property
    def target_ref(self) -> str:
        return f"{self.placement.key[0]}/{self.placement.target_id}"


def _decide(
    original: Resource, desired: Resource, placement: _Placement, state: SyncState, *, force: bool
) -> ResourceSync | _Write:
    """What to do with one resource: nothing (unchanged, or a conflict to report), or a write."""
    source_ref = _ref(placement.key)
    if placement.problem is not None or placement.target_id is None:
        return ResourceSync(source_ref, None, "conflict", placement.problem or "no target")
    target_ref = f"{placement.key[0]}/{placement.target_id}"
    portable = _portable_meta(desired)
    desired = {key: value for key, value in desired.items() if key != "meta"}
    desired["id"] = placement.target_id
    if portable:  # an empty meta is not valid FHIR JSON
        desired["meta"] = portable
    current = placement.current
    recorded = state.resources.get(source_ref)
    if current is not None and same_content(current, desired):
        state.resources[source_ref] = _synced(target_ref, current, original)
        return ResourceSync(source_ref, target_ref, "unchanged", version_id=_version(current))
    conflict = None if force else _conflict(target_ref, current, recorded)
    if conflict is not None:
        return ResourceSync(source_ref, target_ref, "conflict", conflict, _version(current) if current else None)
    return _Write(original, desired, placement)


Written = tuple[ResourceSync, Resource | None]


def _write_together(target: FhirClient, writes: list[_Write], state: SyncState) -> dict[str, Written]:
    """Write every resource in one transaction; {} when the target refuses it (nothing was written)."""
    if len(writes) < 2:
        return {}
    entries = []
    for write in writes:
        current = write.placement.current
        request: dict[str, Any] = {"method": "PUT", "url": write.target_ref}
        if current is not None:
            request["ifMatch"] = etag(_version(current))
        elif write.placement.identifier is not None:
            request["url"] = f"{write.placement.key[0]}?identifier={quote(write.placement.identifier, safe='')}"
        entries.append(
            {"fullUrl": f"{target.base_url}/{write.target_ref}", "resource": write.desired, "request": request}
        )
    try:
        response = target.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    except TransportError:
        raise
    except FhirClientError:
        return {}
    answers = response.get("entry") or []
    if len(answers) != len(writes):
        return {}
    done: dict[str, Written] = {}
    for write, answer in zip(writes, answers, strict=True):
        stored = answer.get("resource")
        if not isinstance(stored, dict):
            location = str((answer.get("response") or {}).get("location") or write.target_ref)
            resource_type, _, rest = location.partition("/")
            stored = target.read(resource_type.rsplit("/", 1)[-1], rest.split("/")[0])
        done[write.source_ref] = _recorded(write, stored, state)
    return done


def _write_one(target: FhirClient, write: _Write, state: SyncState) -> Written:
    placement, desired, source_ref, target_ref = write.placement, write.desired, write.source_ref, write.target_ref
    current = placement.current
    try:
        if current is not None:
            stored = target.update(desired, if_match=_version(current))
        elif placement.identifier is not None:
            stored = target.conditional_update(placement.key[0], {"identifier": placement.identifier}, desired)
        else:
            stored = target.update(desired)
    except VersionConflict as exc:
        already = _written_already(target, placement, desired) if current is not None else None
        if already is None:
            reason = f"changed on the target during the sync: {exc}"
            return ResourceSync(source_ref, target_ref, "conflict", reason), None
        stored = already
    except TransportError:
        raise  # the target is gone: stop rather than wait out a timeout per resource
    except FhirClientError as exc:
        return ResourceSync(source_ref, target_ref, "failed", str(exc)), None
    return _recorded(write, stored, state)


def _recorded(write: _Write, stored: Resource, state: SyncState) -> Written:
    stored_ref = f"{write.placement.key[0]}/{stored['id']}"
    state.resources[write.source_ref] = _synced(stored_ref, stored, write.original)
    action: Action = "updated" if write.placement.current is not None else "created"
    return ResourceSync(write.source_ref, stored_ref, action, version_id=_version(stored)), stored


def _written_already(target: FhirClient, placement: _Placement, desired: Resource) -> Resource | None:
    """The target's copy when it already holds what we meant to write, else ``None``.

    A PUT whose answer was lost is retried; the retry's If-Match then names the version our own first
    attempt replaced, and the server answers 412 although the write went through.
    """
    assert placement.target_id is not None
    try:
        current = target.read(placement.key[0], placement.target_id)
    except FhirClientError:
        return None
    return current if same_content(current, desired) else None


def _conflict(target_ref: str, current: Resource | None, recorded: SyncedResource | None) -> str | None:
    """Why writing over the target's copy would lose someone's change, or ``None`` when it would not."""
    if recorded is None:
        if current is None:
            return None
        return "the target already holds this resource with other content, and it was never synced here"
    if current is not None and recorded.target != target_ref:
        return f"the last sync wrote {recorded.target}, but now {target_ref} carries the identifier"
    if current is None:
        return (
            f"gone from the target since the last sync left version {recorded.version_id} "
            "(deleted, or its identifier changed)"
        )
    if _version(current) != recorded.version_id:
        return (
            f"changed on the target since the last sync (version {_version(current)}, "
            f"the last sync left version {recorded.version_id})"
        )
    return None


def _synced(target_ref: str, stored: Resource, original: Resource) -> SyncedResource:
    meta = stored.get("meta") or {}
    return SyncedResource(
        target=target_ref,
        version_id=str(meta.get("versionId", "")),
        last_updated=meta.get("lastUpdated"),
        source_version_id=(original.get("meta") or {}).get("versionId"),
    )


# -- content ------------------------------------------------------------------------------------------


def business_identifier(resource: Resource) -> str | None:
    """The first ``identifier`` with both system and value, as a token search value ``system|value``."""
    identifiers = resource.get("identifier")
    if isinstance(identifiers, dict):  # a few types (QuestionnaireResponse) have a single identifier
        identifiers = [identifiers]
    for identifier in identifiers or []:
        system, value = identifier.get("system"), identifier.get("value")
        if system and value:
            return f"{_escape(system)}|{_escape(value)}"
    return None


def _escape(text: str) -> str:
    # FHIR search escaping: \ , $ | inside a parameter value are prefixed with a backslash.
    for char in ("\\", ",", "$", "|"):
        text = text.replace(char, f"\\{char}")
    return text


def same_content(left: Resource, right: Resource) -> bool:
    """Equal apart from ``meta`` (decimals compared by their text: ``1.50`` is not ``1.5``)."""
    return bool(_canonical(_without_meta(left)) == _canonical(_without_meta(right)))


def _without_meta(resource: Resource) -> Resource:
    return {key: value for key, value in resource.items() if key != "meta"}


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_canonical(child) for child in value]
    if isinstance(value, Decimal):
        return ("decimal", getattr(value, "source", None) or str(value))
    if isinstance(value, float):
        return ("decimal", repr(value))
    return value


def _portable_meta(resource: Resource) -> dict[str, Any]:
    """``meta`` minus what each server assigns for itself (profiles, tags and labels travel)."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    return meta


def _version(resource: Resource) -> str:
    return str((resource.get("meta") or {}).get("versionId", ""))


def _ref(key: ResourceKey) -> str:
    return f"{key[0]}/{key[1]}"


# -- provenance ---------------------------------------------------------------------------------------


def provenance_for(written: list[tuple[Resource, Resource]], source_base: str, recorded: datetime) -> Resource:
    """A Provenance for the target: what was written (each version), from which source versions, by whom."""

    def agent(system: str, code: str) -> dict[str, Any]:
        return {
            "type": {"coding": [{"system": system, "code": code}]},
            "who": {"type": "Device", "display": AGENT_NAME},
        }

    def versioned(resource: Resource, base: str = "") -> str:
        reference = f"{base}{resource['resourceType']}/{resource['id']}"
        version = _version(resource)
        return f"{reference}/_history/{version}" if version else reference

    return {
        "resourceType": "Provenance",
        "target": [{"reference": versioned(stored)} for _, stored in written],
        "recorded": recorded.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "agent": [agent(PARTICIPANT_TYPE, "assembler"), agent(US_CORE_PARTICIPANT_TYPE, "transmitter")],
        "entity": [
            {"role": "source", "what": {"reference": versioned(original, f"{source_base.rstrip('/')}/")}}
            for original, _ in written
        ],
    }


__all__ = [
    "PLAN_TYPES",
    "REFERENCED_TYPES",
    "ResourceSync",
    "SyncReport",
    "business_identifier",
    "collect_plan",
    "provenance_for",
    "same_content",
    "sync_plan",
]
