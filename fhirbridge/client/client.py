"""A synchronous FHIR R4 REST client over one ``requests.Session``.

Resources are plain dicts by default, parsed with fhirbridge's exact JSON (decimals keep the text the
server sent). Give a ``fhir.resources`` R4B model class instead of a type name and the same call
returns instances of that model::

    with FhirClient("https://fhir.example.org/r4", token="...") as fhir:
        plan = fhir.read("CarePlan", "42")          # dict
        plan = fhir.read(CarePlan, "42")            # fhir.resources.R4B.careplan.CarePlan
        for goal in fhir.search("Goal", {"patient": "Patient/7"}):
            ...

Every failure raises a ``fhirbridge.client.errors.FhirClientError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar, overload
from urllib.parse import quote, urlencode, urljoin, urlsplit

import pydantic
import requests
from fhir.resources.R4B.resource import Resource as ResourceModel

from fhirbridge import __version__
from fhirbridge.client.errors import FhirClientError, TransportError, error_class
from fhirbridge.client.session import BearerToken, RetryPolicy, build_session
from fhirbridge.errors import FhirError
from fhirbridge.formats import json as fhir_json

FHIR_JSON = "application/fhir+json"

Resource = dict[str, Any]
Model = TypeVar("Model", bound=ResourceModel)
SearchParams = Mapping[str, str | int | Sequence[str]] | Sequence[tuple[str, str]]
Timeout = float | tuple[float, float]


class FhirClient:
    """A FHIR server at ``base_url`` (the service base, e.g. ``https://host/fhir``).

    ``timeout`` is seconds (or ``(connect, read)``) for every request; ``retry`` says how idempotent
    requests are retried; ``token`` (a string, or a callable giving a fresh one) is sent as a bearer
    token, or ``auth`` can be any ``requests`` authentication.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: Timeout = (5.0, 60.0),
        retry: RetryPolicy | None = None,
        token: str | Callable[[], str] | None = None,
        auth: requests.auth.AuthBase | None = None,
    ) -> None:
        if token is not None and auth is not None:
            raise ValueError("give either token or auth, not both")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = build_session(retry or RetryPolicy(), BearerToken(token) if token is not None else auth)
        self.session.headers.update({"Accept": FHIR_JSON, "User-Agent": f"fhirbridge/{__version__}"})

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------------------

    @overload
    def read(self, resource_type: str, id: str) -> Resource: ...
    @overload
    def read(self, resource_type: type[Model], id: str) -> Model: ...
    def read(self, resource_type: str | type[Model], id: str) -> Resource | Model:
        body = self._body(self._request("GET", self._instance_url(resource_type, id)))
        return _as(resource_type, body)

    @overload
    def vread(self, resource_type: str, id: str, version_id: str | int) -> Resource: ...
    @overload
    def vread(self, resource_type: type[Model], id: str, version_id: str | int) -> Model: ...
    def vread(self, resource_type: str | type[Model], id: str, version_id: str | int) -> Resource | Model:
        url = f"{self._instance_url(resource_type, id)}/_history/{quote(str(version_id), safe='')}"
        return _as(resource_type, self._body(self._request("GET", url)))

    @overload
    def search(self, resource_type: str, params: SearchParams | None = None) -> Iterator[Resource]: ...
    @overload
    def search(self, resource_type: type[Model], params: SearchParams | None = None) -> Iterator[Model]: ...
    def search(
        self, resource_type: str | type[Model], params: SearchParams | None = None
    ) -> Iterator[Resource | Model]:
        """Every matching resource, page after page (``_include``-d resources are left out)."""
        return (
            _as(resource_type, entry["resource"])
            for bundle in self.search_pages(resource_type, params)
            for entry in bundle.get("entry") or []
            if "resource" in entry and (entry.get("search") or {}).get("mode", "match") == "match"
        )

    def search_pages(
        self, resource_type: str | type[ResourceModel], params: SearchParams | None = None
    ) -> Iterator[Resource]:
        """The searchset Bundles of a search, following ``next`` links."""
        return self._pages(f"{self.base_url}/{type_name(resource_type)}", params)

    def history(
        self,
        resource_type: str | type[ResourceModel] | None = None,
        id: str | None = None,
        *,
        since: datetime | str | None = None,
    ) -> Iterator[Resource]:
        """The entries of the instance, type or system history (newest first), following ``next`` links.

        An entry holds ``request`` (method and url), ``response`` (status, etag) and, unless it
        records a deletion, ``resource``.
        """
        if id is not None and resource_type is None:
            raise ValueError("an instance history needs the resource type")
        url = self.base_url
        if resource_type is not None:
            url = f"{url}/{type_name(resource_type)}"
        if id is not None:
            url = f"{url}/{quote(id, safe='')}"
        params = {"_since": _instant(since)} if since is not None else None
        return (entry for bundle in self._pages(f"{url}/_history", params) for entry in bundle.get("entry") or [])

    def capabilities(self) -> Resource:
        return self._body(self._request("GET", f"{self.base_url}/metadata"))

    # -- writes --------------------------------------------------------------------------------------

    @overload
    def create(self, resource: Resource, *, if_none_exist: SearchParams | str | None = None) -> Resource: ...
    @overload
    def create(self, resource: Model, *, if_none_exist: SearchParams | str | None = None) -> Model: ...
    def create(
        self, resource: Resource | Model, *, if_none_exist: SearchParams | str | None = None
    ) -> Resource | Model:
        """POST a new resource; with ``if_none_exist`` criteria, an existing match is returned instead."""
        body = _to_json(resource)
        headers = {"If-None-Exist": _query(if_none_exist)} if if_none_exist is not None else {}
        response = self._request("POST", f"{self.base_url}/{body['resourceType']}", body=body, headers=headers)
        return _like(resource, self._written(response))

    @overload
    def update(self, resource: Resource, *, if_match: str | int | None = None) -> Resource: ...
    @overload
    def update(self, resource: Model, *, if_match: str | int | None = None) -> Model: ...
    def update(self, resource: Resource | Model, *, if_match: str | int | None = None) -> Resource | Model:
        """PUT a resource at its id; ``if_match`` (a versionId or ETag) makes it fail with
        ``VersionConflict`` when the server holds another version."""
        body = _to_json(resource)
        if not body.get("id"):
            raise ValueError("update needs a resource with an id")
        headers = {"If-Match": etag(if_match)} if if_match is not None else {}
        url = self._instance_url(body["resourceType"], body["id"])
        return _like(resource, self._written(self._request("PUT", url, body=body, headers=headers)))

    @overload
    def conditional_update(
        self, resource_type: str | type[ResourceModel], criteria: SearchParams | str, resource: Resource
    ) -> Resource: ...
    @overload
    def conditional_update(
        self, resource_type: str | type[ResourceModel], criteria: SearchParams | str, resource: Model
    ) -> Model: ...
    def conditional_update(
        self, resource_type: str | type[ResourceModel], criteria: SearchParams | str, resource: Resource | Model
    ) -> Resource | Model:
        """``PUT Type?criteria``: update the one match, or create when nothing matches."""
        body = _to_json(resource)
        url = f"{self.base_url}/{type_name(resource_type)}?{_query(criteria)}"
        return _like(resource, self._written(self._request("PUT", url, body=body)))

    def delete(self, resource_type: str | type[ResourceModel], id: str, *, if_match: str | int | None = None) -> None:
        headers = {"If-Match": etag(if_match)} if if_match is not None else {}
        self._request("DELETE", self._instance_url(resource_type, id), headers=headers)

    def transaction(self, bundle: Resource) -> Resource:
        """POST a ``transaction`` (or ``batch``) Bundle; returns the response Bundle."""
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") not in ("transaction", "batch"):
            raise ValueError("transaction takes a Bundle of type transaction or batch")
        return self._body(self._request("POST", self.base_url, body=bundle))

    # -- HTTP ----------------------------------------------------------------------------------------

    def _instance_url(self, resource_type: str | type[ResourceModel], id: str) -> str:
        return f"{self.base_url}/{type_name(resource_type)}/{quote(id, safe='')}"

    def _pages(self, url: str, params: SearchParams | Mapping[str, str] | None) -> Iterator[Resource]:
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            bundle = self._body(self._request("GET", next_url, params=params))
            yield bundle
            params = None  # a next link carries the whole query
            next_url = _link(bundle, "next")
            if next_url is not None:
                next_url = self._same_server(urljoin(f"{self.base_url}/", next_url))
                if next_url in seen:
                    raise FhirClientError(f"the server's next links loop back to {next_url}", url=next_url)
                seen.add(next_url)

    def _same_server(self, url: str) -> str:
        # Credentials go only to the server they were given for.
        if _origin(url) != _origin(self.base_url):
            raise FhirClientError(f"refusing to follow a link to another server: {url}", url=url)
        return url

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: SearchParams | Mapping[str, str] | None = None,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        data = None
        if body is not None:
            data = fhir_json.dumps(body)
            all_headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
            all_headers.setdefault("Prefer", "return=representation")
        try:
            response = self.session.request(
                method, url, params=params, data=data, headers=all_headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise TransportError(f"{method} {url}: {exc}", url=url) from exc
        if response.status_code >= 400:
            raise _error(method, response)
        return response

    def _body(self, response: requests.Response) -> Resource:
        body = _parse(response)
        if body is None:
            raise FhirClientError(
                f"{response.request.method} {response.url}: the server answered without a body",
                status=response.status_code,
                url=response.url,
            )
        return body

    def _written(self, response: requests.Response) -> Resource:
        """The resource a write stored: its body, or (when the server sent none) what Location names."""
        body = _parse(response)
        if body is not None and body.get("resourceType") != "OperationOutcome":
            return body
        location = response.headers.get("Location") or response.headers.get("Content-Location")
        if not location:
            raise FhirClientError(
                f"{response.request.method} {response.url}: the server sent neither the resource nor its Location",
                status=response.status_code,
                url=response.url,
            )
        target = self._same_server(urljoin(f"{self.base_url}/", location))
        return self._body(self._request("GET", target))


# -- conversions --------------------------------------------------------------------------------------


def type_name(resource_type: str | type[ResourceModel]) -> str:
    return resource_type if isinstance(resource_type, str) else resource_type.get_resource_type()


def etag(version: str | int) -> str:
    """``3`` or ``"3"`` -> ``W/"3"``; an ETag is passed through."""
    text = str(version)
    if text.startswith(("W/", '"')):
        return text
    return f'W/"{text}"'


def version_of_etag(value: str) -> str:
    """``W/"3"`` -> ``3``."""
    return value.strip().removeprefix("W/").strip('"')


def _as(resource_type: str | type[Model], body: Resource) -> Resource | Model:
    expected = type_name(resource_type)
    if body.get("resourceType") != expected:
        raise FhirClientError(f"expected a {expected} but the server sent a {body.get('resourceType')}")
    if isinstance(resource_type, str):
        return body
    try:
        return resource_type.model_validate(body)
    except pydantic.ValidationError as exc:
        raise FhirClientError(f"the server's {expected} does not fit the {resource_type.__name__} model") from exc


def _like(original: Resource | Model, body: Resource) -> Resource | Model:
    """The written resource in the shape the caller gave it (dict or the same model class)."""
    if isinstance(original, ResourceModel):
        return _as(type(original), body)
    return body


def _to_json(resource: Resource | ResourceModel) -> Resource:
    if isinstance(resource, ResourceModel):
        body: Resource = fhir_json.loads(resource.model_dump_json())
        return body
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise ValueError("a resource is a dict with a resourceType, or a fhir.resources model")
    return resource


def _query(criteria: SearchParams | str | None) -> str:
    if criteria is None or isinstance(criteria, str):
        return (criteria or "").lstrip("?")
    return urlencode(criteria, doseq=True)


def _instant(moment: datetime | str | None) -> str:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("since must carry a time zone")
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(moment)


def _link(bundle: Resource, relation: str) -> str | None:
    for link in bundle.get("link") or []:
        if link.get("relation") == relation and link.get("url"):
            return str(link["url"])
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _parse(response: requests.Response) -> Resource | None:
    if not response.content.strip():
        return None
    try:
        body = fhir_json.loads(response.content)
    except FhirError as exc:
        raise FhirClientError(
            f"{response.request.method} {response.url}: the answer is not FHIR JSON",
            status=response.status_code,
            url=response.url,
        ) from exc
    if not isinstance(body, dict):
        raise FhirClientError(f"{response.request.method} {response.url}: the answer is not a FHIR resource")
    return body


def _error(method: str, response: requests.Response) -> FhirClientError:
    outcome: Resource | None = None
    try:
        parsed = _parse(response)
    except FhirClientError:
        parsed = None  # a proxy's HTML error page, for instance
    if parsed is not None and parsed.get("resourceType") == "OperationOutcome":
        outcome = parsed
    error = error_class(response.status_code)(
        f"{method} {response.url}: {response.status_code} {response.reason}",
        status=response.status_code,
        outcome=outcome,
        url=response.url,
    )
    if error.diagnostics:
        error.args = (f"{error.args[0]}: {'; '.join(error.diagnostics)}",)
    return error


__all__ = ["FHIR_JSON", "FhirClient", "Resource", "SearchParams", "etag", "type_name", "version_of_etag"]
