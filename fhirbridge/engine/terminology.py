"""Terminology: the code systems and value sets fhirbridge publishes, served and used over FHIR.

The package carries the CodeSystems and ValueSets its instruments bind their answers to (packed from
``profiles/questionnaires/`` into ``fhirbridge/assessment/data/definitions.json``). ``publish`` stores them
at start-up, so that ``GET /ValueSet/{id}`` and ``GET /ValueSet?url=...`` find what the Questionnaires
reference. The operations work on any ValueSet or CodeSystem the caller may read, found by id or by
canonical URL (``url``, ``url|version``), and fall back on the published definitions:

- ``expand`` (``ValueSet/$expand``): the ValueSet with ``expansion.contains`` (system, code, display), narrowed
  by a text ``filter`` and paged by ``count`` and ``offset``; ``expansion.total`` counts every match;
- ``validate_value_set_code`` / ``validate_code_system_code`` (``$validate-code``): a Parameters with
  ``result``, a ``message`` when the code is not valid, and the concept's ``display``;
- ``lookup`` (``CodeSystem/$lookup``): ``name``, ``version``, ``display`` and the concept's ``designation``s
  and ``property``s (``definition``, ``parent``, ``child`` and the ones it declares); an unknown code or
  code system is a 404 (``not-found``).

What an operation is given (``OperationParameters``, ``Coding``) is read in ``terminology_parameters``.

Terminology is shared directory data, not a child's: it is read under the caller's ``Access`` like any
other resource. An operation needs the scope to read its type (ValueSet, or CodeSystem); the code systems
a ValueSet draws on are looked up among those the caller may read, and else among the published ones.
A compose this server cannot evaluate (``filter``, a code system it does not hold) is refused (422,
``not-supported``) rather than expanded partly.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from fhirbridge.engine.interactions import FhirEngine, resource_of
from fhirbridge.engine.terminology_parameters import Coding, OperationParameters, as_list
from fhirbridge.errors import BadRequest, NotFound, Unprocessable
from fhirbridge.security.access import SYSTEM_ACCESS, Access
from fhirbridge.storage.clock import instant
from fhirbridge.storage.contract import Resource

# The package data files that carry published definitions: (package, file).
PUBLISHED = (("fhirbridge.assessment", "data/definitions.json"),)
TERMINOLOGY_TYPES = ("CodeSystem", "ValueSet")
# How deep ValueSets may import one another before the compose is taken to be circular.
MAX_IMPORT_DEPTH = 10


@dataclass(frozen=True)
class Member:
    """One concept of an expansion."""

    system: str
    code: str
    display: str | None = None
    version: str | None = None

    def to_json(self) -> Resource:
        entry: Resource = {"system": self.system}
        if self.version:
            entry["version"] = self.version
        entry["code"] = self.code
        if self.display:
            entry["display"] = self.display
        return entry


@cache
def published_terminology() -> tuple[Resource, ...]:
    """The CodeSystems and ValueSets the package carries (copied on use)."""
    found: list[Resource] = []
    for package, name in PUBLISHED:
        package_data = json.loads(resources.files(package).joinpath(name).read_text("utf-8"))
        found.extend(r for r in package_data["resources"] if r.get("resourceType") in TERMINOLOGY_TYPES)
    return tuple(found)


class Terminology:
    def __init__(self, engine: FhirEngine) -> None:
        self.engine = engine

    # -- publishing ------------------------------------------------------------------------------------

    def publish(self) -> Terminology:
        """Store the published CodeSystems and ValueSets (once): each one absent, deleted, stored at another
        version, or stored before its type was searchable by ``url``. A copy changed here at the same
        version is left as it is."""
        for published in published_terminology():
            resource_type, id = published["resourceType"], published["id"]
            stored = self.engine.repository.read(resource_type, id)
            current = resource_of(stored) if stored is not None and stored.content is not None else None
            if current is None or current.get("version") != published.get("version") or not self._indexed(current):
                self.engine.update(SYSTEM_ACCESS, resource_type, id, copy.deepcopy(published))
        return self

    def _indexed(self, resource: Resource) -> bool:
        url = resource.get("url")
        if not isinstance(url, str) or not url:
            return False
        criteria = [("_id", str(resource["id"])), ("url", url)]
        return bool(self.engine.index.match_ids(SYSTEM_ACCESS, str(resource["resourceType"]), criteria))

    # -- finding definitions ---------------------------------------------------------------------------

    def read(self, access: Access, resource_type: str, id: str) -> Resource:
        """A stored ValueSet or CodeSystem by id, as the caller may read it."""
        return resource_of(self.engine.read(access, resource_type, id))

    def find(
        self, access: Access, resource_type: str, canonical: str, version: str | None = None, *, expression: str = "url"
    ) -> Resource:
        """A ValueSet or CodeSystem by canonical URL (``url`` or ``url|version``): one stored here that the
        caller may read first, else a published one; 404 (at ``expression``) when neither exists."""
        found = self.find_or_none(access, resource_type, canonical, version)
        if found is None:
            shown = canonical if version is None else f"{canonical}|{version}"
            raise NotFound(f"No {resource_type} is known by {shown}", expression=expression)
        return found

    def find_or_none(
        self, access: Access, resource_type: str, canonical: str, version: str | None = None
    ) -> Resource | None:
        url, _, pinned = canonical.partition("|")
        version = version or pinned or None
        if access.can(resource_type, "s") and access.can(resource_type, "r"):
            criteria = [("url", url)] + ([("version", version)] if version else [])
            ids = self.engine.index.match_ids(access, resource_type, criteria)
            if ids:
                return self.read(access, resource_type, ids[-1])  # the latest stored
        for published in published_terminology():
            same = published["resourceType"] == resource_type and published.get("url") == url
            if same and version in (None, published.get("version")):
                return copy.deepcopy(published)
        return None

    def target(self, access: Access, resource_type: str, id: str | None, parameters: OperationParameters) -> Resource:
        """What an operation runs on: the instance ``id``, or the one a type-level call names (``url`` with
        ``valueSetVersion`` or ``version``) or sends (``valueSet``, ``codeSystem``). The caller's scopes must
        let it read that type, as for a read."""
        access.require(resource_type, "r")
        if id is not None:
            return self.read(access, resource_type, id)
        inline = parameters.complex("valueSet" if resource_type == "ValueSet" else "codeSystem")
        if inline is not None:
            if inline.get("resourceType") != resource_type:
                raise BadRequest(f"The {resource_type} sent is not a {resource_type}", expression="resourceType")
            return inline
        url = parameters.text("url")
        if not url:
            name = "valueSet" if resource_type == "ValueSet" else "codeSystem"
            raise BadRequest(f"Name the {resource_type} by url, or send it as {name}", expression="url")
        version = parameters.text("valueSetVersion" if resource_type == "ValueSet" else "version")
        return self.find(access, resource_type, url, version)

    # -- $expand ---------------------------------------------------------------------------------------

    def expand(
        self, access: Access, value_set: Resource, *, text: str | None = None, count: int | None = None, offset: int = 0
    ) -> Resource:
        """The ValueSet with its expansion: the concepts matching ``text`` (every word found in the code or
        the display, ignoring case), ``offset`` of them skipped and at most ``count`` given."""
        members = [member for member in self.members(access, value_set) if _matches(member, text)]
        page = members[offset:] if count is None else members[offset : offset + count]
        parameters: list[Resource] = []
        if text:
            parameters.append({"name": "filter", "valueString": text})
        if count is not None:
            parameters.append({"name": "count", "valueInteger": count})
        if offset:
            parameters.append({"name": "offset", "valueInteger": offset})
        expansion: Resource = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": instant(datetime.now(UTC)),
            "total": len(members),
            "offset": offset,
        }
        if parameters:
            expansion["parameter"] = parameters
        if page:
            expansion["contains"] = [member.to_json() for member in page]
        return {**value_set, "expansion": expansion}

    def members(self, access: Access, value_set: Resource, depth: int = 0) -> list[Member]:
        """Every concept of the ValueSet, in compose order, each once."""
        if depth > MAX_IMPORT_DEPTH:
            raise Unprocessable(
                "The ValueSet imports value sets too deeply (or in a circle) to be expanded",
                code="not-supported",
                expression="ValueSet.compose.include.valueSet",
            )
        compose = value_set.get("compose")
        if not isinstance(compose, dict):
            contains = (value_set.get("expansion") or {}).get("contains")
            if isinstance(contains, list):  # an expansion without a compose: taken as it stands
                return _unique(_contained(contains))
            raise Unprocessable(
                "The ValueSet has neither a compose nor an expansion", code="not-supported", expression="ValueSet"
            )
        excluded = {
            (member.system, member.code)
            for rule in as_list(compose.get("exclude"))
            for member in self._rule(access, rule, "exclude", depth)
        }
        return _unique(
            member
            for rule in as_list(compose.get("include"))
            for member in self._rule(access, rule, "include", depth)
            if (member.system, member.code) not in excluded
        )

    def _rule(self, access: Access, rule: Any, kind: str, depth: int) -> list[Member]:
        """The concepts one ``include`` or ``exclude`` names."""
        path = f"ValueSet.compose.{kind}"
        if not isinstance(rule, dict):
            return []
        if rule.get("filter"):
            raise Unprocessable(
                "This server does not expand value sets defined by a filter", code="not-supported", expression=path
            )
        imported: list[list[Member]] = [
            self.members(access, self.find(access, "ValueSet", canonical, expression=f"{path}.valueSet"), depth + 1)
            for canonical in as_list(rule.get("valueSet"))
            if isinstance(canonical, str)
        ]
        system = rule.get("system")
        if isinstance(system, str):
            version = rule.get("version") if isinstance(rule.get("version"), str) else None
            from_system = self._system_members(access, system, version, rule.get("concept"), path)
            imported.append(from_system)
        if not imported:
            return []
        # Several parts of one rule: the concepts all of them hold (R4 ValueSet.compose.include).
        keys = set.intersection(*({(member.system, member.code) for member in part} for part in imported))
        return [member for member in imported[-1] if (member.system, member.code) in keys]

    def _system_members(
        self, access: Access, system: str, version: str | None, concepts: Any, path: str
    ) -> list[Member]:
        code_system = self.find_or_none(access, "CodeSystem", system, version)
        if isinstance(concepts, list) and concepts:
            known = {concept["code"]: concept for concept in _concepts(code_system)} if code_system else {}
            return [
                Member(system, concept["code"], concept.get("display") or known.get(concept["code"], {}).get("display"))
                for concept in concepts
                if isinstance(concept, dict) and isinstance(concept.get("code"), str)
            ]
        if code_system is None or code_system.get("content") not in ("complete", None):
            raise Unprocessable(
                f"The ValueSet includes every code of {system}, a code system this server does not hold in full",
                code="not-supported",
                expression=path,
            )
        return [Member(system, concept["code"], concept.get("display")) for concept in _concepts(code_system)]

    # -- $validate-code --------------------------------------------------------------------------------

    def validate_value_set_code(self, access: Access, value_set: Resource, codings: list[Coding]) -> Resource:
        """Whether one of ``codings`` (several: a CodeableConcept) is in the ValueSet, with the right display."""
        members = self.members(access, value_set)
        url = value_set.get("url") or f"ValueSet/{value_set.get('id')}"

        def judge(coding: Coding) -> tuple[str | None, str | None]:
            found = [m for m in members if m.code == coding.code and coding.system in (None, m.system)]
            if not found:
                shown = f"{coding.system}#{coding.code}" if coding.system else f"'{coding.code}'"
                return f"The code {shown} is not in the value set {url}", None
            display = found[0].display or self._display(access, found[0].system, coding.code)
            return _wrong_display(coding, [display] if display else []), display

        return _validation(codings, judge)

    def validate_code_system_code(self, access: Access, code_system: Resource, codings: list[Coding]) -> Resource:
        """Whether one of ``codings`` is a concept of the CodeSystem, with the right display."""
        url = str(code_system.get("url") or f"CodeSystem/{code_system.get('id')}")

        def judge(coding: Coding) -> tuple[str | None, str | None]:
            if coding.system is not None and coding.system != url:
                return f"The code system {coding.system} is not {url}", None
            concept = _concept(code_system, coding.code)
            if concept is None:
                return f"The code '{coding.code}' is not defined in the code system {url}", None
            return _wrong_display(coding, _displays(concept)), concept.get("display")

        return _validation(codings, judge)

    def _display(self, access: Access, system: str, code: str) -> str | None:
        code_system = self.find_or_none(access, "CodeSystem", system)
        concept = _concept(code_system, code) if code_system is not None else None
        return concept.get("display") if concept is not None else None

    # -- $lookup ---------------------------------------------------------------------------------------

    def lookup(self, access: Access, coding: Coding, properties: Iterable[str] = ()) -> Resource:
        """The concept ``coding`` names: name and version of its code system, display, designations, and its
        properties (only those named in ``properties``, when any are)."""
        access.require("CodeSystem", "r")
        if coding.system is None:
            raise BadRequest("$lookup needs the code system (system, or coding.system)", expression="system")
        code_system = self.find(access, "CodeSystem", coding.system, coding.version, expression="system")
        concept = _concept(code_system, coding.code)
        if concept is None:
            raise NotFound(
                f"The code '{coding.code}' is not defined in the code system {coding.system}", expression="code"
            )
        wanted = set(properties)
        parameters: list[Resource] = [
            {"name": "name", "valueString": str(code_system.get("name") or code_system.get("title") or coding.system)}
        ]
        if code_system.get("version"):
            parameters.append({"name": "version", "valueString": str(code_system["version"])})
        parameters.append({"name": "display", "valueString": str(concept.get("display") or coding.code)})
        if not wanted or "designation" in wanted:
            parameters.extend(_designation(designation) for designation in as_list(concept.get("designation")))
        for code, value in _properties(code_system, concept):
            if not wanted or code in wanted:
                parameters.append({"name": "property", "part": [{"name": "code", "valueCode": code}, value]})
        return {"resourceType": "Parameters", "parameter": parameters}


# -- concepts -------------------------------------------------------------------------------------------------


def _concepts(code_system: Resource | None, parent: str | None = None) -> Iterator[Resource]:
    """Every concept of a CodeSystem, nested ones after their parent, each with ``_parent`` when nested."""
    for concept in as_list((code_system or {}).get("concept")):
        if isinstance(concept, dict) and isinstance(concept.get("code"), str):
            yield {**concept, "_parent": parent} if parent else concept
            yield from _concepts(concept, concept["code"])


def _concept(code_system: Resource, code: str) -> Resource | None:
    insensitive = code_system.get("caseSensitive") is False
    for concept in _concepts(code_system):
        if concept["code"] == code or (insensitive and concept["code"].lower() == code.lower()):
            return concept
    return None


def _displays(concept: Resource) -> list[str]:
    names = [concept.get("display")] + [
        d.get("value") for d in as_list(concept.get("designation")) if isinstance(d, dict)
    ]
    return [name for name in names if isinstance(name, str)]


def _properties(code_system: Resource, concept: Resource) -> Iterator[tuple[str, Resource]]:
    if isinstance(concept.get("definition"), str):
        yield "definition", {"name": "value", "valueString": concept["definition"]}
    if concept.get("_parent"):
        yield "parent", {"name": "value", "valueCode": concept["_parent"]}
    for child in as_list(concept.get("concept")):
        if isinstance(child, dict) and isinstance(child.get("code"), str):
            yield "child", {"name": "value", "valueCode": child["code"]}
    for prop in as_list(concept.get("property")):
        if not isinstance(prop, dict) or not isinstance(prop.get("code"), str):
            continue
        values = [(key, value) for key, value in prop.items() if key.startswith("value")]
        if values:
            yield prop["code"], {"name": "value", values[0][0]: values[0][1]}


def _designation(designation: Any) -> Resource:
    parts: list[Resource] = []
    if isinstance(designation, dict):
        if designation.get("language"):
            parts.append({"name": "language", "valueCode": designation["language"]})
        if isinstance(designation.get("use"), dict):
            parts.append({"name": "use", "valueCoding": designation["use"]})
        parts.append({"name": "value", "valueString": str(designation.get("value", ""))})
    return {"name": "designation", "part": parts}


def _contained(contains: list[Any]) -> Iterator[Member]:
    for entry in contains:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("system"), str) and isinstance(entry.get("code"), str):
            yield Member(entry["system"], entry["code"], entry.get("display"), entry.get("version"))
        yield from _contained(as_list(entry.get("contains")))


def _unique(members: Iterable[Member]) -> list[Member]:
    seen: set[tuple[str, str]] = set()
    found = []
    for member in members:
        if (member.system, member.code) not in seen:
            seen.add((member.system, member.code))
            found.append(member)
    return found


def _matches(member: Member, text: str | None) -> bool:
    if not text:
        return True
    haystack = f"{member.code} {member.display or ''}".lower()
    return all(word in haystack for word in text.lower().split())


def _wrong_display(coding: Coding, displays: list[str]) -> str | None:
    """Why the display given is not the concept's (case and spacing aside), or None."""
    if coding.display is None or not displays:
        return None
    given = " ".join(coding.display.split()).lower()
    if any(" ".join(display.split()).lower() == given for display in displays):
        return None
    return f"The display '{coding.display}' is not the display of the code '{coding.code}' (it is '{displays[0]}')"


def _validation(codings: list[Coding], judge: Callable[[Coding], tuple[str | None, str | None]]) -> Resource:
    """The answer of ``$validate-code``: valid when one of the codings is (``judge``: why not, and the
    concept's display)."""
    problems: list[str] = []
    display: str | None = None
    result = False
    for coding in codings:
        problem, shown = judge(coding)
        if problem is None:
            result, problems, display = True, [], shown
            break
        problems.append(problem)
        display = display or shown
    parameters: list[Resource] = [{"name": "result", "valueBoolean": result}]
    if problems:
        parameters.append({"name": "message", "valueString": "; ".join(problems)})
    if display:
        parameters.append({"name": "display", "valueString": display})
    return {"resourceType": "Parameters", "parameter": parameters}


__all__ = ["PUBLISHED", "Member", "Terminology", "published_terminology"]
