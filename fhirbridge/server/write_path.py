"""The write path of a server: the engine every write goes through, with the server's rules.

The engine a client's writes go through checks more than the engine's defaults: the integrity options of
the settings, the endpoint rule and the owner of a Subscription, a coordination activity against its
profile, the declared profiles when the settings ask for them, and a QuestionnaireResponse against its
Questionnaire. ``write_engine`` sets all of that up once: ``create_app`` (app.py) serves it over HTTP, and
``fhirbridge import`` writes through it without HTTP (``write_path``). Nothing here publishes anything or
starts a thread.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class WriteEngine:
    """The engine with a server's write rules, and what was built with it."""

    search: SearchService
    engine: FhirEngine
    bundles: BundleProcessor
    assessment_operations: AssessmentOperations


def write_engine(settings: Settings, repository: SqlRepository) -> WriteEngine:
    """The engine of a server of ``settings`` over ``repository``, every write rule in place."""
    search = SearchService(repository, limits=SearchLimits(settings.max_search_parameters, settings.max_search_values))
    # Every interaction takes the caller's Access and is checked against it (fhirbridge.security).
    engine = FhirEngine(repository, matcher=search, integrity=IntegrityOptions.from_settings(settings))
    engine.rules["Subscription"] = [subscription_rule(settings)]
    engine.rules["Procedure"] = [check_coordination_activity]  # its minutes are counted
    # Each write of a Subscription makes the caller its owner, whose access its notifications go out under.
    engine.stamps["Subscription"] = [record_owner]
    if settings.validate_profiles_on_write:
        engine.rules["*"] = [check_declared_profiles]
    bundles = BundleProcessor(engine, max_entries=settings.max_bundle_entries, searcher=search.search_in)
    assessment_operations = AssessmentOperations(engine, bundles)
    engine.rules["QuestionnaireResponse"] = [assessment_operations.check_written_response]
    return WriteEngine(search, engine, bundles, assessment_operations)


def write_path(settings: Settings, repository: SqlRepository) -> BundleProcessor:
    """A bundle processor over an engine with the write rules a server of ``settings`` has."""
    return write_engine(settings, repository).bundles


__all__ = ["WriteEngine", "write_engine", "write_path"]
