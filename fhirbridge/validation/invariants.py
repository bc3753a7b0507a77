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


def _typed(resource: Any) -> Any:
    """A resource as a node that knows its type, so ``%resource.type()`` names it."""
    if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
        return ResourceNode.create_node(resource, resource["resourceType"])  # type: ignore[no-untyped-call]
    return resource


def holds(expression: str, focus: Any, type_path: str, resource: Any, root_resource: Any) -> bool | None:
    """True or False for the invariant on ``focus``; None when it cannot be evaluated."""
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
