"""Nothing forged, nothing lost, nothing invalid: the integrity of what every write stores.

``FhirEngine`` runs ``check_write_integrity`` on every create, update, conditional update and patch
(JSON or XML, alone or as an entry of a transaction or batch), inside the write's own transaction,
after the caller's access is checked and before the business rules. A write is refused when:

- a ``code``, ``Coding`` or ``CodeableConcept`` with a required binding holds a code outside its value
  set (422, ``expression`` the element, e.g. ``CarePlan.status``); a value set the package cannot expand
  is not checked;
- a reference names a resource type its element does not allow (422, ``CarePlan.subject``);
- a narrative breaks R4's XHTML rules txt-1/txt-2: scripts, event attributes, ``javascript:`` links,
  images from elsewhere (422, ``CarePlan.text.div``);
- a relative reference (``Type/id``, ``Type/id/_history/n``) names no resource of this server (422,
  ``Task.for``), unless ``IntegrityOptions.check_references`` is off (a bulk migration loading records
  in any order). Contained (``#id``), ``urn:`` and absolute references are not looked up; neither are
  references inside a resource a Bundle carries, nor ones the stored version already held (a record is
  not frozen because something it points to was deleted since); a reference to a resource the same
  transaction writes is satisfied whatever order the entries run in (``expect_writes``);
- an update moves a resource from one child's record to another's (409: the set of children whose
  compartment holds it changes), unless ``IntegrityOptions.allow_moving_between_children``; a Patient and
  a Group (whose members are children: a caseload) are not moved by a change of the children they name.

The existence check is the server's own integrity check, not a read on the caller's behalf: a reference
to a resource the caller may not see is accepted like any other, and a missing resource and a deleted
one are refused in the same words.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from fhirbridge.compartment import compartment_params, compartment_patients, patient_id_of
from fhirbridge.engine.resource_types import resource_types
from fhirbridge.errors import Conflict, Issue, Unprocessable
from fhirbridge.formats import json as fhir_json
from fhirbridge.references import RELATIVE_REFERENCE, reference_holders
from fhirbridge.storage.contract import Resource, StoredVersion, WriteTransaction
from fhirbridge.validation.narrative import narrative_problems
from fhirbridge.validation.scan import ReferenceSite, Scan, prepare, scan_resource

if TYPE_CHECKING:
    from fhirbridge.config import Settings

# ``Type/id`` or ``Type/id/_history/version``, relative to this server's base.


@dataclass(frozen=True)
class IntegrityOptions:
    """What a deployment may relax (``FHIRBRIDGE_CHECK_REFERENCES``,
    ``FHIRBRIDGE_ALLOW_MOVING_BETWEEN_CHILDREN``); the default checks everything."""

    check_references: bool = True
    allow_moving_between_children: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> IntegrityOptions:
        return cls(
            check_references=settings.check_references,
            allow_moving_between_children=settings.allow_moving_between_children,
        )


def prepare_integrity_checks() -> None:
    """Load what the checks need (the R4 definitions) now rather than on the first write."""
    prepare()


def check_write_integrity(
    tx: WriteTransaction,
    resource_type: str,
    current: StoredVersion | None,
    new: Resource,
    options: IntegrityOptions,
) -> None:
    """Refuse writing ``new`` over ``current`` (None for a create) when it breaks one of the rules."""
    scan = scan_resource(new)
    issues = content_issues(scan)
    if issues:
        raise Unprocessable(issues=issues)
    relaxed = not options.check_references and options.allow_moving_between_children
    previous = (
        None if relaxed or current is None or current.content is None else fhir_json.loads_stored(current.content)
    )
    if options.check_references:
        held = {holder["reference"] for holder in reference_holders(previous)} if previous is not None else set()
        issues = missing_target_issues(tx, scan.references, already_held=held)
        if issues:
            raise Unprocessable(issues=issues)
    if previous is not None and not options.allow_moving_between_children:
        conflict = moved_between_children(resource_type, previous, new)
        if conflict is not None:
            raise conflict


# -- the rules that read only the resource ----------------------------------------------------------------


def content_issues(scan: Scan) -> list[Issue]:
    return bound_code_issues(scan) + reference_type_issues(scan) + narrative_issues(scan)


def bound_code_issues(scan: Scan) -> list[Issue]:
    """Codes outside the value set of their element's required binding."""
    return [issue for issue in scan.code_issues if issue.severity in ("error", "fatal")]


def reference_type_issues(scan: Scan) -> list[Issue]:
    """References to a resource type their element does not allow, or to no resource type at all."""
    issues = []
    for site in scan.references:
        target = target_type(site.reference)
        if target is None:
            continue
        if target not in resource_types():
            issues.append(
                Issue(
                    f"{site.path} refers to '{site.reference}', which names no resource type",
                    code="structure",
                    expression=(site.path,),
                )
            )
        elif site.targets and target not in site.targets:
            allowed = ", ".join(sorted(site.targets))
            issues.append(
                Issue(
                    f"{site.path} may refer to {allowed}, not to a {target} ('{site.reference}')",
                    code="structure",
                    expression=(site.path,),
                )
            )
    return issues


def target_type(reference: str) -> str | None:
    """The resource type a reference names, when it says: ``Type/id``, ``Type/id/_history/n``,
    ``Type?criteria`` (conditional), or an absolute RESTful URL ending in a known ``Type/id``."""
    if reference.startswith(("#", "urn:")):
        return None
    absolute = "://" in reference
    if not absolute and "?" in reference:
        head = reference.split("?", 1)[0]
        return head if head and "/" not in head else None
    if not absolute:
        match = RELATIVE_REFERENCE.fullmatch(reference)
        return match.group(1) if match else None
    parts = reference.split("?", 1)[0].split("/_history/", 1)[0].rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2] in resource_types() else None


def narrative_issues(scan: Scan) -> list[Issue]:
    """Narratives that break R4's XHTML rules."""
    return [
        Issue(f"Constraint failed: {key}: {message}", code="invariant", expression=(path,))
        for path, div in scan.narratives
        for key, message in narrative_problems(div)
    ]


# -- references: do their targets exist? -----------------------------------------------------------------

_planned: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()
_planned_lock = threading.Lock()


def expect_writes(tx: WriteTransaction, references: Iterable[str]) -> None:
    """Say that the transaction ``tx`` holds will write these resources (``Type/id``): a transaction
    Bundle's entries, whose references to one another hold whatever order they are written in."""
    with _planned_lock:
        _planned.setdefault(tx, set()).update(references)


def missing_target_issues(
    tx: WriteTransaction, references: Iterable[ReferenceSite], *, already_held: set[str]
) -> list[Issue]:
    """Relative references to resources this server does not hold (deleted or never written)."""
    with _planned_lock:
        planned = _planned.get(tx, set())
    issues = []
    found: dict[str, bool] = {}
    for site in references:
        match = RELATIVE_REFERENCE.fullmatch(site.reference) if site.on_server else None
        if match is None or match.group(1) not in resource_types():
            continue  # contained, urn:, absolute, conditional, or refused already as naming no type
        type_name, id, version = match.groups()
        if site.reference in already_held or f"{type_name}/{id}" in planned:
            continue
        if site.reference not in found:
            found[site.reference] = _exists(tx, type_name, id, version)
        if not found[site.reference]:
            issues.append(
                Issue(
                    f"{site.path} refers to {site.reference}, which is not a resource on this server",
                    code="not-found",
                    expression=(site.path,),
                )
            )
    return issues


def _exists(tx: WriteTransaction, resource_type: str, id: str, version: str | None) -> bool:
    current = tx.referenced(resource_type, id)
    if current is None:
        return False
    if version is None:
        return not current.deleted
    return version.isdigit() and 1 <= int(version) <= current.version_id


# -- whose record: an update stays with its child -------------------------------------------------------

# Types whose children are their content rather than whose record they belong to.
MEMBERSHIP_TYPES = frozenset({"Patient", "Group"})


def moved_between_children(resource_type: str, previous: Resource, new: Resource) -> Conflict | None:
    """A 409 when ``new`` puts the resource in other children's records than ``previous`` did.

    A Patient is its child's record itself (its links to other Patient records are not a move). A Group
    lists children (a coordinator's caseload): changing who is in it is what updating it is for, and the
    access policy already asks that the caller may see every child it listed and every child it lists."""
    if resource_type in MEMBERSHIP_TYPES:
        return None
    before, after = compartment_patients(previous), compartment_patients(new)
    if not before or not after or before == after:
        return None
    changed = [
        f"{resource_type}.{path}"
        for paths in compartment_params().get(resource_type, {}).values()
        for path in paths
        if _patients_at(previous, path) != _patients_at(new, path)
    ]
    return Conflict(
        f"This update would move {resource_type}/{new.get('id')} from the record of {_children(before)} to "
        f"the record of {_children(after)}. A resource is not moved between children: mark this one "
        "entered-in-error and create it again for the right child",
        expression=changed or resource_type,
        code="business-rule",
    )


def _patients_at(resource: Resource, path: str) -> frozenset[str]:
    values: list[Any] = [resource]
    for step in path.split("."):
        found: list[Any] = []
        for value in values:
            child = value.get(step) if isinstance(value, dict) else None
            found.extend(child if isinstance(child, list) else [child] if child is not None else [])
        values = found
    return frozenset(id for id in map(patient_id_of, values) if id is not None)


def _children(ids: frozenset[str]) -> str:
    return ", ".join(f"Patient/{id}" for id in sorted(ids))


__all__ = [
    "IntegrityOptions",
    "bound_code_issues",
    "check_write_integrity",
    "content_issues",
    "expect_writes",
    "missing_target_issues",
    "moved_between_children",
    "narrative_issues",
    "prepare_integrity_checks",
    "reference_type_issues",
    "target_type",
]
