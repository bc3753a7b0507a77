"""The resource types fhirbridge serves: every resource the ``fhir.resources`` R4B models know."""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache

import fhir.resources.R4B as r4b_models
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.resource import Resource as ResourceModel

from fhirbridge.errors import BadRequest, NotFound

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Abstract bases are models too but can never be instantiated as a resource.
_ABSTRACT = {"Resource", "DomainResource"}


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    names: set[str] = set()
    for module_info in pkgutil.iter_modules(r4b_models.__path__):
        module = importlib.import_module(f"{r4b_models.__name__}.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ResourceModel)
                and value.__module__ == module.__name__
                and value.__name__ not in _ABSTRACT
                and (issubclass(value, DomainResource) or value.__name__ in {"Bundle", "Binary", "Parameters"})
            ):
                names.add(value.__name__)
    return frozenset(names)


def require_type(resource_type: str) -> str:
    if resource_type not in resource_types():
        raise NotFound(f"Unknown resource type '{resource_type}'", code="not-supported")
    return resource_type


def require_id(id: str, *, expression: str = "id") -> str:
    if not ID_PATTERN.match(id):
        raise BadRequest(
            f"'{id}' is not a valid resource id (1-64 letters, digits, '-' and '.')", expression=expression
        )
    return id


__all__ = ["ID_PATTERN", "require_id", "require_type", "resource_types"]
