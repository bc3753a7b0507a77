"""What a Subscription must say for this server to honour it; anything else is refused on write."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhirbridge.engine.resource_types import resource_types
from fhirbridge.errors import Unprocessable
from fhirbridge.search import supported_parameters

# Result parameters make no sense in a subscription's criteria; everything else must be a real parameter.
CONTROL_PARAMETERS = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}


def check_subscription(_previous: dict[str, Any] | None, subscription: dict[str, Any]) -> None:
    channel = subscription.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise Unprocessable(
            f"Only rest-hook channels are supported, not {channel.get('type')}",
            code="not-supported",
            expression="Subscription.channel.type",
        )
    endpoint = urlsplit(str(channel.get("endpoint", "")))
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        raise Unprocessable(
            "A rest-hook needs an absolute http(s) endpoint", expression="Subscription.channel.endpoint"
        )
    resource_type, _, query = str(subscription.get("criteria", "")).partition("?")
    if resource_type not in resource_types():
        raise Unprocessable(
            f"The criteria must start with a resource type, not '{resource_type}'", expression="Subscription.criteria"
        )
    known = {param.code for param in supported_parameters(resource_type)} | CONTROL_PARAMETERS
    for name, _ in parse_qsl(query, keep_blank_values=True):
        base = name.split(":", 1)[0].split(".", 1)[0]
        if base not in known and not name.startswith("_has"):
            raise Unprocessable(
                f"'{name}' is not a search parameter of {resource_type}", expression="Subscription.criteria"
            )


__all__ = ["check_subscription"]
