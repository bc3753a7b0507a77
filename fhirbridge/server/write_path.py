"""The write path of a server, for writing into a store without HTTP (``fhirbridge import``).

The engine a client's writes go through checks more than the engine's defaults: the integrity options of
the settings, the endpoint rule and the owner of a Subscription, the declared profiles when the settings
ask for them, and a QuestionnaireResponse against its Questionnaire. ``create_app`` (app.py) sets these on
its engine; ``write_path`` sets the same on an engine of its own, and tests/bulk/test_write_path.py
checks that the two stay alike. Nothing here publishes anything or starts a thread.
"""

from __future__ import annotations

from fhirbridge.config import Settings
from fhirbridge.engine.integrity import IntegrityOptions
from fhirbridge.engine.interactions import FhirEngine
from fhirbridge.engine.operations.assessment import AssessmentOperations
from fhirbridge.engine.operations.coordination_time import check_coordination_activity
from fhirbridge.engine.operations.validate import check_declared_profiles
from fhirbridge.engine.searching import SearchService
from fhirbridge.engine.transaction import BundleProcessor
from fhirbridge.search.engine import SearchLimits
from fhirbridge.storage.sql import SqlRepository
from fhirbridge.subscriptions.owner import record_owner
from fhirbridge.subscriptions.rules import subscription_rule


def write_path(settings: Settings, repository: SqlRepository) -> BundleProcessor:
    """A bundle processor over an engine with the write rules a server of ``settings`` has."""
    search = SearchService(repository, limits=SearchLimits(settings.max_search_parameters, settings.max_search_values))
    engine = FhirEngine(repository, matcher=search, integrity=IntegrityOptions.from_settings(settings))
    engine.rules["Subscription"] = [subscription_rule(settings)]
    engine.rules["Procedure"] = [check_coordination_activity]  # its minutes are counted
    engine.stamps["Subscription"] = [record_owner]
    if settings.validate_profiles_on_write:
        engine.rules["*"] = [check_declared_profiles]
    bundles = BundleProcessor(engine, max_entries=settings.max_bundle_entries, searcher=search.search_in)
    engine.rules["QuestionnaireResponse"] = [AssessmentOperations(engine, bundles).check_written_response]
    return bundles


__all__ = ["write_path"]
