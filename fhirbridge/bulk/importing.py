"""``fhirbridge import``: ndjson files loaded through the server's write path, resumably.

Each line is one resource, written as an update (``PUT Type/id``: the ids the file has are kept, since the
other resources of an export refer to them) by the engine's bundle processor, so it gets what a client's
write gets: its structure and required bindings checked, references to resources the store does not hold
refused, the write rules, and the search index and subscription notifications written in the same
transaction. The Access it is written under is the caller's (``access_for``), never a way around it.

**Order.** Files are loaded one after the other in the order of their resources' types (``type_rank``):
definitions, the directory (organizations, practitioners), the children and the people around them, the
clinical record, then documents and lists, and Provenance last; so most references point to what is
loaded already. Lines go in batches of ``batch_size``, each a transaction Bundle (``import_lines.Loader``:
a refused line is taken out and the rest tried again), in which references between the batch's own lines
hold whatever their order. A line refused only because a resource it refers to is not there yet is
deferred. When every file is read, the deferred lines are tried once more: those that refer to one another
(a CarePlan and the Tasks it lists, which name it back; an Encounter and its diagnoses) in one transaction
per group, the others together; what is still refused is rejected, with the reason of that try.

**A refused line never stops the import**: it is written to the report (``import_state.RejectionReport``)
and the import goes on. An error that is no line's (the database gone) stops it, to be resumed.

**Resumable, and never twice.** After each batch the state file records how far each file got
(``import_state.ImportState``); a run resumes there. A line whose resource the store already holds with
the same content (all but ``meta.versionId`` and ``meta.lastUpdated``) is skipped, not written again: an
import run twice, or resumed after an interruption between a commit and its record, writes no second
version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.bulk.import_lines import MAX_TRANSACTION_TRIES, AccessFor, Failure, Line, Loader, parse_line
from fhirbridge.bulk.import_state import FileProgress, ImportState, Rejection, RejectionReport
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.formats import json as fhir_json
from fhirbridge.references import RELATIVE_REFERENCE, reference_holders

Resource = dict[str, Any]

BATCH_SIZE = 500
# Types others refer to, in the order they load (the care coordination cycle's: the assessment, the needs
# it finds, the goals for them, the referrals and action steps toward those, the plan); then every other
# type by name; then those that gather others (documents, lists) and the attribution of writes. A CarePlan
# and the Tasks it lists refer to each other whatever the order: they meet when deferred lines are retried.
FIRST = (
    *("CodeSystem", "ValueSet", "Questionnaire", "Organization", "Location", "Endpoint", "Practitioner"),
    *("PractitionerRole", "HealthcareService", "Patient", "RelatedPerson", "Person", "Group", "Device"),
    *("CareTeam", "EpisodeOfCare", "Encounter", "QuestionnaireResponse", "Observation", "Condition"),
    *("RiskAssessment", "Goal", "ServiceRequest", "Task", "CarePlan"),
)
LAST = ("Composition", "List", "DocumentReference", "Provenance", "AuditEvent")
# A reference to a resource on this server: ``Type/id``, or one of its versions.


def type_rank(resource_type: str | None) -> tuple[int, int, str]:
    """Where a type's resources load: before the types that usually refer to them."""
    if resource_type in FIRST:
        return (0, FIRST.index(resource_type), "")
    if resource_type in LAST:
        return (2, LAST.index(resource_type), "")
    return (1, 0, resource_type) if resource_type else (3, 0, "")


@dataclass
class ImportSummary:
    """What one run did: lines loaded (by type), rejected, skipped as already stored, and settled before."""

    loaded: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    skipped: int = 0
    resumed: int = 0


class BulkImport:
    def __init__(
        self,
        bundles: BundleProcessor,
        state: ImportState,
        report: RejectionReport,
        *,
        access_for: AccessFor,
        batch_size: int = BATCH_SIZE,
        max_json_depth: int = fhir_json.MAX_DEPTH,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        if not 1 <= batch_size <= bundles.max_entries:
            raise ValueError(f"the batch size must be 1 to {bundles.max_entries}, not {batch_size}")
        self.repository = bundles.engine.repository
        self.loader = Loader(bundles, access_for)
        self.state = state
        self.report = report
        self.batch_size = batch_size
        self.max_json_depth = max_json_depth
        self.on_read = on_read or (lambda size: None)

    def run(self, files: Sequence[Path]) -> ImportSummary:
        summary = ImportSummary()
        ordered = sorted(files, key=lambda file: type_rank(first_type(file)))
        for file in ordered:
            self._load_file(file, summary)
        self._retry_deferred(ordered, summary)
        return summary

    # -- the files, batch by batch ---------------------------------------------------------------------

    def _load_file(self, file: Path, summary: ImportSummary) -> None:
        progress = self.state.progress(file)
        summary.resumed += progress.committed
        batch: list[Line] = []
        keys: set[str] = set()
        refused: list[Rejection] = []
        number = progress.committed
        with file.open("rb") as lines:
            for number, text in enumerate(lines, start=1):
                self.on_read(len(text))
                if number <= progress.committed or not text.strip():
                    continue
                parsed = parse_line(file, number, text, max_depth=self.max_json_depth)
                if isinstance(parsed, Rejection):
                    refused.append(parsed)
                    continue
                if parsed.key in keys:  # a resource twice: two versions, in the file's order
                    self._commit(progress, batch, refused, number - 1, summary)
                    batch, keys, refused = [], set(), []
                batch.append(parsed)
                keys.add(parsed.key)
                if len(batch) >= self.batch_size:
                    self._commit(progress, batch, refused, number, summary)
                    batch, keys, refused = [], set(), []
        self._commit(progress, batch, refused, max(number, progress.committed), summary)

    def _commit(
        self, progress: FileProgress, batch: list[Line], refused: list[Rejection], upto: int, summary: ImportSummary
    ) -> None:
        """Write a batch, report what was refused, and record that the file's lines up to ``upto`` are done."""
        writing = [line for line in batch if not self._already_stored(line)]
        failures = self.loader.load(writing)
        failed = {failure.line.number for failure in failures}
        deferred = [failure.line.number for failure in failures if failure.unresolved_reference]
        rejections = refused + [failure.rejection() for failure in failures if not failure.unresolved_reference]
        self.report.write(sorted(rejections, key=lambda rejection: rejection.line))
        summary.loaded.update(line.resource_type for line in writing if line.number not in failed)
        summary.rejected += len(rejections)
        summary.skipped += len(batch) - len(writing)
        progress.committed = upto
        progress.deferred.extend(deferred)
        progress.loaded += len(writing) - len(failures)
        progress.rejected += len(rejections)
        progress.skipped += len(batch) - len(writing)
        self.state.save()

    def _already_stored(self, line: Line) -> bool:
        """Whether the store holds the line's resource as the line has it (a batch written before)."""
        stored = self.repository.read(line.resource_type, line.id)
        if stored is None or stored.content is None:
            return False
        return _comparable(fhir_json.loads_stored(stored.content)) == _comparable(line.resource)

    # -- the lines that referred to what was not there yet ------------------------------------------------

    def _retry_deferred(self, files: Sequence[Path], summary: ImportSummary) -> None:
        """Try the deferred lines once more, now that every file is read. Lines that refer to one another
        (a CarePlan and the Tasks it lists, which name it back) go in one transaction; what is still
        refused is rejected with the reason of this try."""
        waiting = {file: progress for file in files if (progress := self.state.progress(file)).deferred}
        if not waiting:
            return
        lines = sorted(self._deferred_lines(waiting), key=lambda line: type_rank(line.resource_type))
        for chunk in _chunks(_related(lines, self.loader.bundles.max_entries), self.batch_size):
            failures, written = self._load_groups(chunk)
            settled: dict[Path, set[int]] = {}
            for line in (line for group in chunk for line in group):
                failure = failures.get(line.place)
                self._settled(waiting[line.file], line, failure, summary, written=line.place in written)
                settled.setdefault(line.file, set()).add(line.number)
            for file, numbers in settled.items():
                waiting[file].deferred = [number for number in waiting[file].deferred if number not in numbers]
            self.state.save()

    def _load_groups(self, chunk: list[list[Line]]) -> tuple[dict[tuple[Path, int], Failure], set[tuple[Path, int]]]:
        """Write groups of deferred lines: the lone ones together (each alone if need be), each group of
        lines that refer to one another in a transaction of its own, less the lines it is refused for.
        Returns the failures and the lines that were written (the others were stored already)."""
        singles = [group[0] for group in chunk if len(group) == 1]
        attempts = [(singles, MAX_TRANSACTION_TRIES)] + [(group, len(group)) for group in chunk if len(group) > 1]
        failures: dict[tuple[Path, int], Failure] = {}
        written: set[tuple[Path, int]] = set()
        for group, tries in attempts:
            writing = [line for line in group if not self._already_stored(line)]
            written.update(line.place for line in writing)
            failures.update((failure.line.place, failure) for failure in self.loader.load(writing, tries=tries))
        return failures, written

    def _deferred_lines(self, waiting: dict[Path, FileProgress]) -> Iterator[Line]:
        for file, progress in waiting.items():
            wanted = set(progress.deferred)
            with file.open("rb") as lines:
                for number, text in enumerate(lines, start=1):
                    if number in wanted:
                        parsed = parse_line(file, number, text, max_depth=self.max_json_depth)
                        if isinstance(parsed, Line):
                            yield parsed
                        else:  # the file changed under the import: its line is now refused as it is
                            progress.deferred.remove(number)
                            progress.rejected += 1
                            self.report.write([parsed])

    def _settled(
        self, progress: FileProgress, line: Line, failure: Failure | None, summary: ImportSummary, *, written: bool
    ) -> None:
        """A deferred line loaded, found already stored, or rejected for good."""
        if failure is not None:
            self.report.write([failure.rejection()])
            progress.rejected += 1
            summary.rejected += 1
        elif written:
            progress.loaded += 1
            summary.loaded[line.resource_type] += 1
        else:
            progress.skipped += 1
            summary.skipped += 1


def first_type(file: Path) -> str | None:
    """The resource type of a file's first line (an export's file holds one type), if it says."""
    with file.open("rb") as lines:
        for text in lines:
            if text.strip():
                try:
                    first = orjson.loads(text)
                except orjson.JSONDecodeError:
                    return None
                kind = first.get("resourceType") if isinstance(first, dict) else None
                return kind if isinstance(kind, str) else None
    return None


def _related(lines: list[Line], size: int) -> Iterator[list[Line]]:
    """``lines`` in groups that hold together what refers to one another (a reference from one line to
    another's resource joins their groups); a group larger than ``size`` is cut."""
    first_of: dict[str, int] = {}
    for index, line in enumerate(lines):
        first_of.setdefault(line.key, index)
    parent = list(range(len(lines)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for index, line in enumerate(lines):
        for target in _targets(line.resource):
            other = first_of.get(target)
            if other is not None:
                parent[root(index)] = root(other)
    groups: dict[int, list[Line]] = {}
    for index, line in enumerate(lines):
        groups.setdefault(root(index), []).append(line)
    for group in groups.values():
        yield from _distinct_batches(group, size)


def _chunks(groups: Iterator[list[Line]], size: int) -> Iterator[list[list[Line]]]:
    """Groups gathered into chunks of about ``size`` lines (the state is saved after each)."""
    chunk: list[list[Line]] = []
    lines = 0
    for group in groups:
        if chunk and lines + len(group) > size:
            yield chunk
            chunk, lines = [], 0
        chunk.append(group)
        lines += len(group)
    if chunk:
        yield chunk


def _targets(resource: Resource) -> Iterator[str]:
    """The ``Type/id`` of each resource a resource refers to on this server (relative references)."""
    for holder in reference_holders(resource):
        found = RELATIVE_REFERENCE.fullmatch(holder["reference"])
        if found:
            yield f"{found.group(1)}/{found.group(2)}"


def _distinct_batches(lines: list[Line], size: int) -> Iterator[list[Line]]:
    """``lines`` in batches of at most ``size`` in which no resource is written twice."""
    batch: list[Line] = []
    keys: set[str] = set()
    for line in lines:
        if len(batch) >= size or line.key in keys:
            yield batch
            batch, keys = [], set()
        batch.append(line)
        keys.add(line.key)
    if batch:
        yield batch


def _comparable(resource: Resource) -> Resource:
    """A resource without what the store sets on each version it writes."""
    kept = ("versionId", "lastUpdated")
    meta = {name: value for name, value in (resource.get("meta") or {}).items() if name not in kept}
    found = {name: value for name, value in resource.items() if name != "meta"}
    return {**found, "meta": meta} if meta else found


__all__ = ["BATCH_SIZE", "BulkImport", "ImportSummary", "first_type", "type_rank"]
