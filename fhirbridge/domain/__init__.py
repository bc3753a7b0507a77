"""One child's care-coordination record: typed parts, the rules they keep, and the internal JSON format.

Nothing here knows FHIR, HTTP or SQL; mappers, storage and server depend on this package, never the reverse.
"""

from fhirbridge.domain.assessment import ComplexityAssessment, Need, NeedsAssessment
from fhirbridge.domain.common import NEED_DOMAINS
from fhirbridge.domain.consent import ConsentToShare
from fhirbridge.domain.errors import Problem, ValidationError
from fhirbridge.domain.jsonio import record_from_json, record_json_schema, record_to_json
from fhirbridge.domain.people import Child, FamilyMember, Identifier
from fhirbridge.domain.plan import (
    ActionStep,
    CarePlan,
    Diagnosis,
    EmergencyPlan,
    EmergencyScenario,
    Goal,
    GoalAgreement,
    MedicalSummary,
    ProgressNote,
)
from fhirbridge.domain.record import Record
from fhirbridge.domain.referral import Appointment, Referral, StatusChange
from fhirbridge.domain.review import Review
from fhirbridge.domain.rules import check_record, problems
from fhirbridge.domain.team import CareTeam, Organization, TeamMember
from fhirbridge.domain.transition import ReceivingProvider, TransitionPlan

__all__ = [
    "NEED_DOMAINS",
    "ActionStep",
    "Appointment",
    "CarePlan",
    "CareTeam",
    "Child",
    "ComplexityAssessment",
    "ConsentToShare",
    "Diagnosis",
    "EmergencyPlan",
    "EmergencyScenario",
    "FamilyMember",
    "Goal",
    "GoalAgreement",
    "Identifier",
    "MedicalSummary",
    "Need",
    "NeedsAssessment",
    "Organization",
    "Problem",
    "ProgressNote",
    "ReceivingProvider",
    "Record",
    "Referral",
    "Review",
    "StatusChange",
    "TeamMember",
    "TransitionPlan",
    "ValidationError",
    "check_record",
    "problems",
    "record_from_json",
    "record_json_schema",
    "record_to_json",
]
