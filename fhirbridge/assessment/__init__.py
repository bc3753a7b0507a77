"""The pediatric care-coordination needs assessment.

- the instruments: ``assessment_questionnaire()`` and ``screening_questionnaire()`` (SDC Questionnaires
  published in ``profiles/questionnaires/``) and ``screening_outcome`` deciding whether the full
  assessment is needed;
- ``validate_response``: a QuestionnaireResponse checked against its Questionnaire;
- ``extract``: SDC ``$extract`` into a transaction Bundle of Observations, health-concern Conditions and
  proposed Goals;
- ``populate``: SDC ``$populate`` from the child's record and previous assessment;
- ``stratify`` / ``assess_complexity``: the complexity level, its RiskAssessment and next review date,
  and ``overdue_reviews``, the worklist of plans past their review.
"""

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
from fhirbridge.assessment.screening import ScreeningResult, screening_outcome
from fhirbridge.assessment.stratification import (
    LAST_REVIEW_EXTENSION,
    NEXT_REVIEW_EXTENSION,
    OverdueReview,
    RuleHit,
    Stratification,
    assess_complexity,
    complexity_risk_assessment,
    overdue_reviews,
    stratify,
)
from fhirbridge.assessment.validation import require_valid_response, validate_response

__all__ = [
    "ASSESSMENT_URL",
    "COMPLEXITY_CODE_SYSTEM",
    "COMPLEXITY_PROFILE",
    "LAST_REVIEW_EXTENSION",
    "NEXT_REVIEW_EXTENSION",
    "SCREENING_URL",
    "Need",
    "OverdueReview",
    "RuleHit",
    "ScreeningResult",
    "Stratification",
    "assess_complexity",
    "assessment_questionnaire",
    "complexity_risk_assessment",
    "default_rules",
    "definition",
    "extract",
    "identified_needs",
    "overdue_reviews",
    "populate",
    "require_valid_response",
    "screening_outcome",
    "screening_questionnaire",
    "stratify",
    "validate_response",
]
