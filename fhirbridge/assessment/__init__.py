"""The pediatric care-coordination needs assessment.

- the instruments: ``assessment_questionnaire()`` and ``screening_questionnaire()`` (SDC Questionnaires
  published in ``profiles/questionnaires/``) and ``screening_outcome`` deciding whether the full
  assessment is needed;
- ``validate_response`` / ``check_response``: a QuestionnaireResponse checked against its Questionnaire
  (``check_response``: as a write and ``$validate`` check it, the structure only while it is unfinished);
- ``extract``: SDC ``$extract`` into a transaction Bundle of Observations, health-concern Conditions and
  proposed Goals;
- ``populate``: SDC ``$populate`` from the child's record and previous assessment;
- ``stratify`` / ``assess_complexity``: the complexity level, its RiskAssessment (``complexity_risk``,
  the one shape the record writes too) and next review date;
- ``overdue_reviews``: the worklist of plans past their review, each with the rule that set its date.
"""

from fhirbridge.assessment.complexity import (
    COMPLEXITY_RISK_CODE,
    NEXT_REVIEW_EXTENSION,
    complexity_level,
    complexity_rationale,
    complexity_risk,
    level_schedule,
)
from fhirbridge.assessment.definitions import (
    ASSESSMENT_URL,
    COMPLEXITY_CODE_SYSTEM,
    COMPLEXITY_PROFILE,
    SCREENING_URL,
    assessment_questionnaire,
    default_rules,
    definition,
    screening_questionnaire,
)
from fhirbridge.assessment.extraction import extract
from fhirbridge.assessment.needs import Need, identified_needs
from fhirbridge.assessment.population import populate
from fhirbridge.assessment.reviews import (
    LAST_REVIEW_EXTENSION,
    OverdueReview,
    PlanReview,
    overdue_reviews,
    plan_review,
)
from fhirbridge.assessment.screening import ScreeningResult, is_screening, screening_outcome
from fhirbridge.assessment.stratification import (
    RuleHit,
    Stratification,
    assess_complexity,
    complexity_risk_assessment,
    stratify,
)
from fhirbridge.assessment.validation import check_response, require_valid_response, validate_response

__all__ = [
    "ASSESSMENT_URL",
    "COMPLEXITY_CODE_SYSTEM",
    "COMPLEXITY_PROFILE",
    "COMPLEXITY_RISK_CODE",
    "LAST_REVIEW_EXTENSION",
    "NEXT_REVIEW_EXTENSION",
    "SCREENING_URL",
    "Need",
    "OverdueReview",
    "PlanReview",
    "RuleHit",
    "ScreeningResult",
    "Stratification",
    "assess_complexity",
    "assessment_questionnaire",
    "check_response",
    "complexity_level",
    "complexity_rationale",
    "complexity_risk",
    "complexity_risk_assessment",
    "default_rules",
    "definition",
    "extract",
    "identified_needs",
    "is_screening",
    "level_schedule",
    "overdue_reviews",
    "plan_review",
    "populate",
    "require_valid_response",
    "screening_outcome",
    "screening_questionnaire",
    "stratify",
    "validate_response",
]
