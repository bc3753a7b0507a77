"""Running one export: every resource comes out of the search engine, under its caller's access.

Each type is read page by page (``search.MAX_COUNT`` resources, a keyset cursor), by the same search
the REST API runs for that caller: its scopes and patient context (``security.search.search_params_for``),
its row filter in the SQL (``Access.row_filter``: what Consents share, the family's one child) and the
Python policy re-checking each page (``checked_result``). So an export holds exactly what its caller
could have searched for, and the counts of the manifest count only that. What the level adds (the
children of a Group, or any child for a Patient-level export) is one more condition on the matches
(``within``). Each page is written to its file as it comes: memory holds one page at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from fhirbridge.bulk.files import ERROR_FILE, ExportFiles, NdjsonWriter
from fhirbridge.bulk.jobs import ExportJob, FileEntry
from fhirbridge.bulk.request import ExportRequest, exportable
from fhirbridge.classification import PATIENT_PARAM
from fhirbridge.compartment import patient_id_of
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.engine.searching import SearchService
from fhirbridge.errors import FhirError, Issue, TooCostly, operation_outcome
from fhirbridge.formats import json as fhir_json
from fhirbridge.search.predicates import RowFilter
from fhirbridge.search.request import MAX_COUNT
from fhirbridge.search.tables import search_reference
from fhirbridge.security.access import Access
from fhirbridge.security.search import checked_result, search_params_for

# A Group's members are one IN list in each page's query: kept well inside SQLite's bound parameters.
MAX_GROUP_MEMBERS = 10_000
# How often, at the most, a running export tells the job table it is alive (each is a commit, which
# also empties SQLite's read cache for every process); it learns of a cancellation at the same pace.
BEAT_SECONDS = 2.0

# (progress text) -> False when the job was cancelled.
Beat = Callable[[str], bool]


class Cancelled(Exception):
    """The job's row is gone (cancelled) or was taken from this worker: stop and leave no files."""


def check_filters(search: SearchService, access: Access, request: ExportRequest, base_url: str) -> None:
    """Refuse (400, naming the parameter) a _typeFilter the search engine would not run, at kick-off.

    Each filter is run as a strict search that cannot match (``_id`` empty), so its parameters are
    checked by the engine that will run it, without reading any data."""
    for resource_type, params in request.type_filters:
        access.require(resource_type, "s")
        criteria = [*params, ("_id", ""), ("_summary", "count")]
        search.search(resource_type, criteria, strict=True, base_url=base_url, visible=_nothing_visible)


def _nothing_visible(resource_type: str, r: Any) -> Any:
    return sa.false()


def population(level: str, children: list[str] | None = None) -> RowFilter | None:
    """What an export's level adds to the caller's row filter: nothing (system), any child's resources
    (Patient), or the resources of the Group's children (Group)."""
    if level == "system":
        return None

    def within(resource_type: str, r: Any) -> Any:
        t = search_reference.alias()
        conditions = [t.c.resource_pk == r.c.pk, t.c.param == PATIENT_PARAM, t.c.target_type == "Patient"]
        if children is not None:
            conditions.append(t.c.target_id.in_(children))
        return sa.exists().where(*conditions).correlate(r)

    return within


def group_members(group: dict[str, Any]) -> list[str]:
    """The children a Group names as active members (relative Patient references)."""
    found = {
        child
        for member in group.get("member") or []
        if isinstance(member, dict)
        and member.get("inactive") is not True
        and (child := patient_id_of(member.get("entity"))) is not None
    }
    return sorted(found)


@dataclass
class _Progress:
    types: int
    done_types: int = 0
    resources: int = 0
    current: str = ""
    last_beat: float = field(default_factory=time.monotonic)

    def text(self) -> str:
        return f"{self.resources} resources exported; {self.done_types} of {self.types} types done" + (
            f", now {self.current}" if self.current else ""
        )


class ExportRun:
    def __init__(self, engine: FhirEngine, search: SearchService, files: ExportFiles) -> None:
        self.engine = engine
        self.search = search
        self.files = files

    def run(self, job: ExportJob, access: Access, beat: Beat) -> tuple[list[FileEntry], list[FileEntry]]:
        """Write the job's files; returns the output and error files. Raises ``Cancelled`` when told to stop."""
        directory = self.files.start(job.id)
        request = job.request
        problems = [Issue(warning, code="not-supported", severity="warning") for warning in request.warnings]
        within = self._within(request, access, problems)
        types = self._types(request, access)
        progress = _Progress(types=len(types))
        output: list[FileEntry] = []
        for resource_type in types:
            progress.current = resource_type
            entry = self._export_type(directory, resource_type, request, access, within, progress, beat, problems)
            if entry is not None:
                output.append(entry)
            progress.done_types += 1
        if not beat(progress.text()):
            raise Cancelled
        errors: list[FileEntry] = []
        if problems:
            with NdjsonWriter(directory, ERROR_FILE) as writer:
                for issue in problems:
                    writer.write(fhir_json.dumps(operation_outcome([issue])))
                writer.commit()
            errors.append(FileEntry("OperationOutcome", ERROR_FILE, writer.count))
        return output, errors

    def _within(self, request: ExportRequest, access: Access, problems: list[Issue]) -> RowFilter | None:
        if request.level != "group":
            return population(request.level)
        assert request.group_id is not None
        # Read under the caller's access: a Group it may no longer see exports nothing.
        group = self.engine.read(access, "Group", request.group_id)
        assert group.content is not None
        members = group_members(fhir_json.loads_stored(group.content))
        if len(members) > MAX_GROUP_MEMBERS:
            raise TooCostly(f"Group/{request.group_id} has more than {MAX_GROUP_MEMBERS} members")
        return population("group", members)

    def _types(self, request: ExportRequest, access: Access) -> list[str]:
        if request.types:
            return list(request.types)
        # Every type the level holds that the caller's scopes let it search; the rest would be refused.
        return sorted(t for t in resource_types() if exportable(request.level, t) and access.can(t, "s"))

    def _export_type(
        self,
        directory: Any,
        resource_type: str,
        request: ExportRequest,
        access: Access,
        within: RowFilter | None,
        progress: _Progress,
        beat: Beat,
        problems: list[Issue],
    ) -> FileEntry | None:
        filters = request.filters_for(resource_type) or [[]]
        # Several filters of one type are alternatives: a resource matching two is written once. Only
        # then are the ids of the type's matches kept (the price of an OR the engine has no form for).
        seen: set[str] | None = set() if len(filters) > 1 else None
        access.children.clear()
        with NdjsonWriter(directory, f"{resource_type}.ndjson") as writer:
            try:
                for criteria in filters:
                    for page in self._pages(resource_type, criteria, request, access, within):
                        for entry in page:
                            if seen is not None:
                                if entry.id in seen:
                                    continue
                                seen.add(entry.id)
                            writer.write(entry.content)
                        progress.resources += len(page)
                        self._beat(progress, beat)
            except FhirError as error:
                problems.append(Issue(f"{resource_type} was not exported: {error}", code=error.issues[0].code))
                return None
            if writer.count == 0:
                return None
            writer.commit(access.children)
            return FileEntry(resource_type, f"{resource_type}.ndjson", writer.count)

    def _pages(
        self,
        resource_type: str,
        criteria: list[tuple[str, str]],
        request: ExportRequest,
        access: Access,
        within: RowFilter | None,
    ) -> Iterator[list[Any]]:
        """The caller's matches of one type and filter, a page at a time, in a stable (pk) order."""
        params = [*criteria, ("_count", str(MAX_COUNT)), ("_total", "none")]
        if request.since is not None:
            params.append(("_lastUpdated", f"gt{request.since}"))
        params, compartment = search_params_for(access, resource_type, params, None)
        visible = access.row_filter()
        cursor: str | None = None
        while True:
            paged = [*params, ("_cursor", cursor)] if cursor else params
            result = self.search.search(
                resource_type,
                paged,
                strict=True,
                base_url="",
                compartment=compartment,
                visible=visible,
                within=within,
            )
            yield checked_result(access, result).matches
            cursor = result.next_cursor
            if cursor is None:
                return

    @staticmethod
    def _beat(progress: _Progress, beat: Beat) -> None:
        now = time.monotonic()
        if now - progress.last_beat >= BEAT_SECONDS:
            progress.last_beat = now
            if not beat(progress.text()):
                raise Cancelled


__all__ = ["MAX_GROUP_MEMBERS", "Cancelled", "ExportRun", "check_filters", "group_members", "population"]
