"""FHIRPath invariants (ElementDefinition.constraint) evaluated with fhirpathpy.

Each expression is compiled once per process. An expression fhirpathpy cannot run (an unsupported
function) is reported as unevaluable instead of as a failure, so a gap in the engine never rejects
a valid resource.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from fhirbridge.validation.narrative import narrative_problems

log = logging.getLogger(__name__)

Compiled = Callable[[Any, dict[str, Any]], list[Any]]


def _html_checks(inputs: list[Any]) -> list[bool]:
    divs = [i for i in inputs if isinstance(i, str)]
    return [all(not narrative_problems(div) for div in divs)]


_OPTIONS: dict[str, Any] = {
    "traceFn": lambda *args: None,
    "userInvocationTable": {"htmlChecks": {"fn": _html_checks, "arity": {0: []}}},
}


@cache
def compiled(expression: str) -> Compiled | None:
    try:
        function: Compiled = fhirpathpy.compile(expression, model=models["r4"], options=_OPTIONS)
    except Exception as exc:  # the parser raises bare Exceptions for unsupported syntax
        log.debug("cannot compile %r: %s", expression, exc)
        return None
    return function


def _without_contained(focus: Any) -> bool | None:
    return True if isinstance(focus, dict) and not focus.get("contained") else None


def _local_reference(focus: Any) -> bool | None:
    reference = focus.get("reference") if isinstance(focus, dict) else None
    return True if not (isinstance(reference, str) and reference.startswith("#")) else None


def _extension_or_value(focus: Any) -> bool | None:
    if not isinstance(focus, dict):
        return None
    has_value = any(key.startswith("value") and key[5:6].isupper() for key in focus)
    return bool(focus.get("extension")) != has_value


def _has_div(focus: Any) -> bool | None:
    if not isinstance(focus, dict):
        return None
    text = focus.get("text")
    return isinstance(text, dict) and text.get("div") is not None


def _full_url_unversioned(focus: Any) -> bool | None:
    full_url = focus.get("fullUrl") if isinstance(focus, dict) else None
    return not (isinstance(full_url, str) and "/_history/" in full_url) if isinstance(focus, dict) else None


def _entry_has_content(focus: Any) -> bool | None:
    if not isinstance(focus, dict):
        return None
    return any(focus.get(key) is not None for key in ("resource", "request", "response"))


# The invariants met on nearly every element, written out: FHIRPath evaluation is most of the cost of
# validation. Matched on the exact expression text; None sends the case back to FHIRPath.
SHORTCUTS: dict[str, Callable[[Any], bool | None]] = {
    "contained.contained.empty()": _without_contained,
    "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()": _without_contained,
    "contained.meta.security.empty()": _without_contained,
    "contained.where((('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()": (_without_contained),
    "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
    "%rootResource.contained.id.trace('ids'))": _local_reference,
    "extension.exists() != value.exists()": _extension_or_value,
    "text.`div`.exists()": _has_div,
    "fullUrl.contains('/_history/').not()": _full_url_unversioned,
    "resource.exists() or request.exists() or response.exists()": _entry_has_content,
}


def _typed(resource: Any) -> Any:
    """A resource as a node that knows its type, so ``%resource.type()`` names it."""
    if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
        return ResourceNode.create_node(resource, resource["resourceType"])  # type: ignore[no-untyped-call]
    return resource


def holds(expression: str, focus: Any, type_path: str, resource: Any, root_resource: Any) -> bool | None:
    """True or False for the invariant on ``focus``; None when it cannot be evaluated."""
    shortcut = SHORTCUTS.get(expression)
    if shortcut is not None:
        verdict = shortcut(focus)
        if verdict is not None:
            return verdict
    function = compiled(expression)
    if function is None:
        return None
    node = ResourceNode.create_node(focus, type_path)  # type: ignore[no-untyped-call]
    variables = {"resource": _typed(resource), "rootResource": _typed(root_resource)}
    try:
        result = function(node, variables)
    except Exception as exc:  # fhirpathpy raises bare Exceptions for unsupported functions
        log.debug("cannot evaluate %r: %s", expression, exc)
        return None
    return bool(result != [False])


__all__ = ["compiled", "holds"]
