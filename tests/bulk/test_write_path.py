"""The write path ``fhirbridge import`` writes through is a server's: the same write rules and options as the
engine ``create_app`` builds (both come from server/write_path.py ``write_engine``; this keeps it so)."""

from __future__ import annotations

import pytest

from fhirbridge.config import Settings
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.server.app import create_app
from fhirbridge.server.write_path import write_path
from fhirbridge.storage.sql import SqlRepository


def shape(bundles: BundleProcessor) -> dict[str, object]:
    engine = bundles.engine
    return {
        "rules": {kind: [rule.__qualname__ for rule in rules] for kind, rules in engine.rules.items()},
        "stamps": {kind: [stamp.__qualname__ for stamp in stamps] for kind, stamps in engine.stamps.items()},
        "integrity": engine.integrity,
        "max_entries": bundles.max_entries,
        "searches": bundles.searcher is not None and engine.matcher is not None,
    }


@pytest.mark.parametrize(
    "settings",
    [
        Settings(auth_disabled=True, subscription_delivery=False),
        Settings(
            auth_disabled=True,
            subscription_delivery=False,
            validate_profiles_on_write=True,
            check_references=False,
            max_bundle_entries=200,
        ),
    ],
    ids=["defaults", "relaxed-and-profiled"],
)
def test_the_import_writes_as_a_server_of_the_same_settings(repository: SqlRepository, settings: Settings) -> None:
    app = create_app(settings, repository)
    assert shape(write_path(settings, repository)) == shape(app.services.bundles)
