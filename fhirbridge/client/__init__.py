"""A FHIR R4 REST client, and the sync of a child's shared plan between servers built on it."""

from fhirbridge.client.client import FHIR_JSON, FhirClient, Resource, SearchParams, etag, version_of_etag
from fhirbridge.client.errors import (
    FhirClientError,
    InvalidResource,
    ResourceGone,
    ResourceNotFound,
    ServerError,
    TransportError,
    Unauthorized,
    VersionConflict,
)
from fhirbridge.client.session import BearerToken, RetryPolicy

__all__ = [
    "FHIR_JSON",
    "BearerToken",
    "FhirClient",
    "FhirClientError",
    "InvalidResource",
    "Resource",
    "ResourceGone",
    "ResourceNotFound",
    "RetryPolicy",
    "SearchParams",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "VersionConflict",
    "etag",
    "version_of_etag",
]
