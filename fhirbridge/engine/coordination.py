"""A child's care-coordination record read from and written to the FHIR store.

The internal format is a view over the FHIR resources, not a second copy: reading assembles the record
from the child's compartment with the mappers, writing maps the record to a transaction Bundle and
runs it through the same transaction path every FHIR client uses. A change an EHR makes over FHIR
therefore shows in the record, and the reverse.

Versions: the record and each of its parts carry an ETag derived from the versions of the resources
they were read from, and a write names the version it was read at (``If-Match``), so a coordinator's
stale record cannot silently undo what an EHR changed since. A write sends only the resources whose
content changes, each with the version read as its precondition: a resource changed by someone else
between reading and writing fails the write (412) instead of being overwritten, and writing a record
back unchanged writes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhirbridge.domain.errors import ValidationError
from fhirbridge.domain.jsonio import record_from_json, record_to_json
from fhirbridge.domain.record import Record
from fhirbridge.domain.rules import all_ids, check_record, unexplained_closures
from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.errors import BadRequest, FhirError, Gone, Issue, NotFound, PreconditionFailed, Unprocessable
from fhirbridge.formats import json as fhir_json
from fhirbridge.mappers import ImportResult, record_from_resources, record_to_resources
from fhirbridge.mappers.record import BUNDLE_NAMESPACE, StatusMove, StatusMoves
from fhirbridge.mappers.retention import without_server_meta
from fhirbridge.mappers.summary import own_entries
from fhirbridge.security.access import Access
from fhirbridge.storage.contract import Resource, StoredVersion

# The parts of a record a coordinator's tool reads and writes on their own.
RECORD_PARTS = tuple(name for name in Record.model_fields if name != "child")
# How far back a referral Task's versions are followed to find status moves made over FHIR.
MAX_TASK_VERSIONS = 1000
_HISTORY_PAGE = 100


def problems_outcome(error: ValidationError) -> Unprocessable:
    return Unprocessable(
        issues=[
            Issue(str(problem), code="business-rule", expression=(problem.path or "record",))
            for problem in error.problems
        ]
    )


def version_tag(versions: Iterable[str]) -> str:
    """A weak ETag for what was read from these resource versions (``Type/id/version`` each)."""
    digest = hashlib.sha256("\n".join(sorted(versions)).encode()).hexdigest()
    return f'W/"{digest[:32]}"'


def matches(if_match: str, etag: str | None) -> bool:
    """Whether an ``If-Match`` header (one or more tags, or ``*``) names ``etag`` (None: no record)."""
    wanted = etag.removeprefix("W/") if etag else None
    for tag in if_match.split(","):
        tag = tag.strip()
        if tag == "*" and etag is not None:
            return True
        if wanted is not None and tag.removeprefix("W/") == wanted:
            return True
    return False


@dataclass
class RecordView:
    """A child's record as one caller sees it now, with the resource versions it was read from."""

    result: ImportResult
    read: dict[str, StoredVersion]
    """``"Type/id"`` -> the version read"""

    @property
    def record(self) -> Record:
        return self.result.record

    @property
    def report(self) -> list[Any]:
        return self.result.report

    def report_json(self) -> list[dict[str, str]]:
        return self.result.report_json()

    def etag(self, part: str | None = None) -> str:
        """The ETag of the whole record, or of one part: changes whenever a resource it is made of does."""
        parts = self.result.parts
        keys = set(parts.get(part, [])) if part else {key for found in parts.values() for key in found}
        return version_tag(f"{key}/{self.read[key].version_id}" for key in keys if key in self.read)

    def part_json(self, part: str) -> Any:
        """One part as the internal JSON gives it (decimals exactly as they were read)."""
        return _record_json(self.record)[part]

    def stored(self, key: str) -> Resource | None:
        version = self.read.get(key)
        return resource_of(version) if version is not None and version.content is not None else None


class CoordinationService:
    def __init__(self, engine: FhirEngine, bundles: BundleProcessor) -> None:
        self.engine = engine
        self.bundles = bundles

    # -- reading ---------------------------------------------------------------------------------------

    def read(self, access: Access, child_id: str) -> RecordView:
        self.engine.read(access, "Patient", child_id)
        members = self.engine.index.compartment(access, child_id)
        read = {f"{v.resource_type}/{v.id}": v for v in members if v.content is not None}
        resources = [resource_of(version) for version in read.values()]
        return RecordView(record_from_resources(resources, status_moves=self._status_moves(access)), read)

    def read_part(self, access: Access, child_id: str, part: str) -> tuple[Any, str]:
        """A part of the record and its ETag."""
        _require_part(part)
        view = self.read(access, child_id)
        return view.part_json(part), view.etag(part)

    def _status_moves(self, access: Access) -> StatusMoves:
        """The status moves a referral Task went through since the record's last recorded status, from
        its versions, each by the author of the version's Provenance (when the caller may read it)."""

        def moves(task: Resource, recorded: str) -> list[StatusMove]:
            runs: list[tuple[str, StoredVersion]] = []  # newest first: (status, first version with it)
            reached = False
            try:
                versions = list(self._versions(access, "Task", str(task["id"])))
            except FhirError:
                return []  # its history is not the caller's to see: the Task alone tells
            for version in versions:
                if version.content is None:
                    break
                status = str(resource_of(version).get("status"))
                if status == recorded:
                    reached = True
                    break
                if runs and runs[-1][0] == status:
                    runs[-1] = (status, version)
                else:
                    runs.append((status, version))
            # Without the recorded status among the versions, only the current status is sure to be new.
            kept = runs if reached else runs[:1]
            return [StatusMove(status, v.last_updated, self._authors(access, v)) for status, v in reversed(kept)]

        return moves

    def _versions(self, access: Access, resource_type: str, id: str) -> Iterable[StoredVersion]:
        """The versions of one resource the caller may see, newest first."""
        offset, till = 0, None
        while offset < MAX_TASK_VERSIONS:
            page = self.engine.history(
                access, resource_type, id, since=None, at=None, count=_HISTORY_PAGE, offset=offset, till_seq=till
            )
            yield from page.versions
            offset += len(page.versions)
            till = page.till_seq
            if not page.versions or offset >= page.total:
                return

    def _authors(self, access: Access, version: StoredVersion) -> tuple[str, ...]:
        """Who wrote a version (and for whom), from its Provenance; empty when none is to be seen."""
        matcher = self.engine.matcher
        if matcher is None or not (access.can("Provenance", "s") and access.can("Provenance", "r")):
            return ()
        target = f"{version.resource_type}/{version.id}"
        for provenance_id in matcher.match_ids(access, "Provenance", [("target", target)]):
            try:
                provenance = resource_of(self.engine.read(access, "Provenance", provenance_id))
            except FhirError:
                continue
            targets = [t.get("reference") for t in provenance.get("target", []) or [] if isinstance(t, dict)]
            if f"{target}/_history/{version.version_id}" in targets:
                return _author_of(provenance)
        return ()

    # -- writing ---------------------------------------------------------------------------------------

    def write(
        self, access: Access, child_id: str, body: bytes, *, base_url: str, if_match: str | None = None
    ) -> RecordView:
        """Write a whole record; ``if_match``: the record's ETag when it was read (412 if it changed)."""
        try:
            record = record_from_json(body, check=False)
        except ValidationError as error:
            raise problems_outcome(error) from None
        current = self._current(access, child_id) if record.child.id == child_id else None
        self._check_rules(access, record, current.record if current else None)
        if record.child.id != child_id:
            raise BadRequest(
                f"The record is about child {record.child.id}, but the URL names {child_id}", expression="child.id"
            )
        _check_precondition(if_match, current.etag() if current else None, "record")
        self._write_changes(access, record, current, base_url)
        return self.read(access, child_id)

    def write_part(
        self, access: Access, child_id: str, part: str, value: Any, *, base_url: str, if_match: str | None = None
    ) -> tuple[Any, str]:
        """Replace one part; ``if_match``: the part's ETag when it was read (412 if it changed)."""
        _require_part(part)
        current = self.read(access, child_id)
        _check_precondition(if_match, current.etag(part), part)
        data = _record_json(current.record)
        data[part] = value
        try:
            record = record_from_json(fhir_json.dumps(data), check=False)
        except ValidationError as error:
            raise problems_outcome(error) from None
        self._check_rules(access, record, current.record)
        self._write_changes(access, record, current, base_url)
        view = self.read(access, child_id)
        return view.part_json(part), view.etag(part)

    def _check_rules(self, access: Access, record: Record, before: Record | None) -> None:
        """Refuse (422, naming the field) a record that breaks a coordinator rule, before anything is written;
        ``before``: the record as stored (the status changes it has need no new reasons).

        A referral may be addressed to an Organization the record does not hold yet: one the server holds
        and the caller may read (the mapper references it, and the record reads it in from then on).
        """
        held = all_ids(record)
        outside = {
            referral.recipient_id
            for referral in record.referrals
            if referral.recipient_id is not None and referral.recipient_id not in held
        }
        known = {id for id in outside if _exists(self._outside_record(access, f"Organization/{id}"))}
        try:
            check_record(record, outside_organizations=known)
        except ValidationError as error:
            raise problems_outcome(error) from None
        unexplained = unexplained_closures(record, before)
        if unexplained:
            raise problems_outcome(ValidationError(unexplained))

    def _current(self, access: Access, child_id: str) -> RecordView | None:
        try:
            return self.read(access, child_id)
        except (NotFound, Gone):
            return None  # a new child

    def _write_changes(self, access: Access, record: Record, current: RecordView | None, base_url: str) -> None:
        """Send the resources whose content changes, each conditional on the version it was read at."""
        entries = []
        written: set[str] = set()
        for resource in record_to_resources(record):
            key = f"{resource['resourceType']}/{resource['id']}"
            written.add(key)
            version = (current.read.get(key) if current else None) or self._outside_record(access, key)
            request: dict[str, str] = {"method": "PUT", "url": key}
            if version is not None and version.content is not None:
                if without_server_meta(resource_of(version)) == without_server_meta(resource):
                    continue  # unchanged: no new version, no Provenance
                request["ifMatch"] = f'W/"{version.version_id}"'
            entries.append(
                {"fullUrl": f"urn:uuid:{uuid.uuid5(BUNDLE_NAMESPACE, key)}", "resource": resource, "request": request}
            )
        entries += _retired_summary_entries(current, written)
        if not entries:
            return
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        try:
            self.bundles.process(access, bundle, base_url, return_preference="minimal")
        except PreconditionFailed as exc:
            raise PreconditionFailed(
                f"A resource of the record changed since the record was read; read it again and retry ({exc})",
                expression="If-Match",
            ) from exc

    def _outside_record(self, access: Access, key: str) -> StoredVersion | None:
        """The current version of a resource the record writes but was not read from (an organization of
        the directory named for the first time, say), when the caller may see it."""
        resource_type, id = key.split("/", 1)
        try:
            return self.engine.read(access, resource_type, id)
        except FhirError:
            return None  # new, or not the caller's to see: the write itself decides


def _retired_summary_entries(current: RecordView | None, written: set[str]) -> list[dict[str, Any]]:
    """Deletions of the resources fhirbridge wrote for entries of the medical summary that the record no
    longer has: left in place, a medication taken off the list would be read back into it (every current
    medication of the child belongs on the list), and shown to an emergency department as current."""
    before = current.result.record.medical_summary if current is not None else None
    if current is None or before is None:
        return []
    retired = own_entries(before.fhir_id or before.id, current.read) - written
    return [
        {"request": {"method": "DELETE", "url": key, "ifMatch": f'W/"{current.read[key].version_id}"'}}
        for key in sorted(retired)
        if current.read[key].content is not None
    ]


def _exists(version: StoredVersion | None) -> bool:
    return version is not None and version.content is not None


def _record_json(record: Record) -> dict[str, Any]:
    """The record as the internal JSON has it (decimals exactly as they were read)."""
    data: dict[str, Any] = fhir_json.loads(record_to_json(record, indent=False), max_depth=fhir_json.ORJSON_MAX_DEPTH)
    return data


def _author_of(provenance: Resource) -> tuple[str, ...]:
    agents = [agent for agent in provenance.get("agent", []) or [] if isinstance(agent, dict)]
    authors = [agent for agent in agents if _is_author(agent)] or agents[:1]
    if not authors:
        return ()
    found = []
    for element in ("who", "onBehalfOf"):
        ref = authors[0].get(element)
        if isinstance(ref, dict):
            shown = ref.get("reference") or ref.get("display")
            if isinstance(shown, str) and shown not in found:
                found.append(shown)
    return tuple(found)


def _is_author(agent: dict[str, Any]) -> bool:
    codings = (agent.get("type") or {}).get("coding", []) if isinstance(agent.get("type"), dict) else []
    return any(isinstance(coding, dict) and coding.get("code") == "author" for coding in codings)


def _check_precondition(if_match: str | None, etag: str | None, what: str) -> None:
    if if_match is None:
        return
    if not matches(if_match, etag):
        raise PreconditionFailed(
            f"If-Match names a version of the {what} that is not the current one"
            + (f" ({etag}); read it again and retry" if etag else " (the child has no record)"),
            expression="If-Match",
        )


def _require_part(part: str) -> None:
    if part not in RECORD_PARTS:
        raise NotFound(f"A record has no part '{part}'; its parts are {', '.join(RECORD_PARTS)}")


__all__ = ["RECORD_PARTS", "CoordinationService", "RecordView", "matches", "problems_outcome", "version_tag"]
