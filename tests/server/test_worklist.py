"""A caseload's worklist over HTTP, on both storage backends, with tokens as deployed (care-team mode): what
each section lists for a small world worked out by hand (tests/server/caseloads.py), and the parameters.

Worked out on 2026-03-01, with the default window of 14 days (due by 2026-03-15):

- action steps, by owner: Dana has Ana's "Call the school nurse" (due 02-20: 9 days overdue) and Cara's
  inline "Book the hearing test" (02-25: 4 days); Maria, Ana's mother, "Keep a seizure diary" (due 03-10);
  nobody owns "Find a respite provider", which has no due date either. Not listed: "Ask about summer camp"
  (04-30, beyond the window), a completed step, a completed inline step and a do-not-perform entry, and
  the steps of Dan (inactive member), Eve (membership ended) and Gus (not a member in these tests);
- referrals: the physical therapy referral, requested 2026-01-30 (30 days old), and the audiology request
  nobody tracks with a Task (2026-02-15, 14 days); the completed orthopedics referral is closed;
- reviews: Ana's plan was due 30 days (high complexity) after her assessment of 2026-01-02, 28 days ago;
  Ben has no plan of care and no complexity level; Cara's plan has no complexity level, so its review
  date cannot be known;
- goals: Ana's mother disagrees with "Walks to class with a walker"; nobody of the family answered for
  "Eats lunch at school", and only Dana for "Joins a swim class"; the goal she agrees with and the
  completed one are not listed;
- emergency plans: Ben's was revoked; Cara has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fhirbridge.validation import validate_resource
from tests.conftest import LiveServer
from tests.security.conftest import client_as, store, token_for
from tests.server.caseloads import AS_OF, COORDINATOR_A, riverside_caseload, world

Outline = list[tuple[str, Any]]


@pytest.fixture
def dana(secure_server: LiveServer) -> Iterator[httpx.Client]:
    """Dana's client, after she has kept her caseload through the FHIR API."""
    store(secure_server, *world())
    with client_as(secure_server, token_for("care-coordinator", org="riverside", user=COORDINATOR_A)) as http:
        created = http.put("/Group/caseload-a", json=riverside_caseload())
        assert created.status_code == 201, created.text
        yield http


def outline(parameters: list[dict[str, Any]]) -> Outline:
    """Parameters as (name, value) pairs: a Reference as its reference, parts as their own outline."""
    found: Outline = []
    for parameter in parameters:
        if "part" in parameter:
            found.append((parameter["name"], outline(parameter["part"])))
            continue
        value = next(value for key, value in parameter.items() if key.startswith("value"))
        found.append(
            (parameter["name"], value.get("reference", value.get("display")) if isinstance(value, dict) else value)
        )
    return found


def worklist(http: httpx.Client, **params: str) -> dict[str, Any]:
    response = http.get("/Group/caseload-a/$worklist", params={"as-of": AS_OF, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def section(body: dict[str, Any], name: str) -> Outline:
    return next(value for key, value in outline(body["parameter"]) if key == name)


def test_the_worklist_lists_what_was_worked_out_by_hand(dana: httpx.Client) -> None:
    body = worklist(dana)
    assert body["resourceType"] == "Parameters"
    assert outline(body["parameter"])[:7] == [
        ("caseload", "Group/caseload-a"),
        ("asOf", "2026-03-01"),
        ("dueWithinDays", 14),
        ("children", 3),
        ("child", "Patient/ana"),
        ("child", "Patient/ben"),
        ("child", "Patient/cara"),
    ]
    assert section(body, "actionSteps") == [
        ("count", 4),
        (
            "byOwner",
            [
                ("owner", COORDINATOR_A),
                ("count", 2),
                (
                    "step",
                    step(
                        "ana", "task", "Task/step-a1", "Call the school nurse", "requested", "overdue", "2026-02-20", 9
                    ),
                ),
                (
                    "step",
                    [
                        ("child", "Patient/cara"),
                        ("carePlan", "CarePlan/cara-plan"),
                        ("activity", "cara-step-1"),
                        ("description", "Book the hearing test"),
                        ("status", "in-progress"),
                        ("state", "overdue"),
                        ("due", "2026-02-25"),
                        ("daysOverdue", 4),
                    ],
                ),
            ],
        ),
        (
            "byOwner",
            [
                ("owner", "RelatedPerson/ana-mother"),
                ("count", 1),
                (
                    "step",
                    step("ana", "task", "Task/step-a2", "Keep a seizure diary", "in-progress", "due", "2026-03-10"),
                ),
            ],
        ),
        (
            "byOwner",
            [
                ("notRecorded", "owner"),
                ("count", 1),
                (
                    "step",
                    [
                        *step("ana", "task", "Task/step-a5", "Find a respite provider", "requested", "no-due-date"),
                        ("notRecorded", "due-date"),
                    ],
                ),
            ],
        ),
    ]
    assert section(body, "referrals") == [
        ("count", 2),
        (
            "byState",
            [
                ("state", "requested"),
                ("count", 1),
                (
                    "referral",
                    [
                        ("child", "Patient/ana"),
                        ("serviceRequest", "ServiceRequest/ref-a1"),
                        ("task", "Task/ref-a1-task"),
                        ("service", "Physical therapy evaluation"),
                        ("performer", "Organization/therapy-clinic"),
                        ("authored", "2026-01-30"),
                        ("ageDays", 30),
                    ],
                ),
            ],
        ),
        (
            "byState",
            [
                ("state", "untracked"),
                ("count", 1),
                (
                    "referral",
                    [
                        ("child", "Patient/ana"),
                        ("serviceRequest", "ServiceRequest/ref-a2"),
                        ("service", "Audiology"),
                        ("performer", "Organization/therapy-clinic"),
                        ("authored", "2026-02-15"),
                        ("ageDays", 14),
                        ("notRecorded", "task"),
                    ],
                ),
            ],
        ),
    ]
    assert section(body, "reviewsOverdue") == [
        ("count", 3),
        (
            "review",
            [
                ("child", "Patient/ana"),
                ("status", "overdue"),
                ("carePlan", "CarePlan/ana-plan"),
                ("level", "high"),
                ("due", "2026-02-01"),
                ("daysOverdue", 28),
                ("rule", "assessment-interval"),
                ("basis", "no review yet: interval for complexity high (30 days) after the assessment of 2026-01-02"),
                ("riskAssessment", "RiskAssessment/ana-complexity"),
            ],
        ),
        (
            "review",
            [
                ("child", "Patient/ben"),
                ("status", "not-recorded"),
                ("notRecorded", "plan-of-care"),
                ("notRecorded", "complexity-level"),
            ],
        ),
        (
            "review",
            [
                ("child", "Patient/cara"),
                ("status", "not-recorded"),
                ("carePlan", "CarePlan/cara-plan"),
                ("notRecorded", "complexity-level"),
            ],
        ),
    ]
    assert section(body, "goalsWithoutFamilyAgreement") == [
        ("count", 3),
        (
            "byAgreement",
            [
                ("agreement", "disagree"),
                ("count", 1),
                ("goal", goal("goal-a1", "Walks to class with a walker", "RelatedPerson/ana-mother")),
            ],
        ),
        (
            "byAgreement",
            [
                ("agreement", "not-recorded"),
                ("count", 2),
                ("goal", goal("goal-a3", "Eats lunch at school")),
                ("goal", goal("goal-a5", "Joins a swim class")),
            ],
        ),
    ]
    assert section(body, "withoutEmergencyPlan") == [
        ("count", 2),
        (
            "missingPlan",
            [
                ("child", "Patient/ben"),
                ("status", "not-current"),
                (
                    "emergencyPlan",
                    [
                        ("plan", "CarePlan/ben-emergency"),
                        ("status", "revoked"),
                        ("periodStart", "2025-06-01"),
                        ("periodEnd", "2026-01-15"),
                    ],
                ),
            ],
        ),
        ("missingPlan", [("child", "Patient/cara"), ("status", "not-recorded")]),
    ]


def step(
    child: str,
    kind: str,
    source: str,
    description: str,
    status: str,
    state: str,
    due: str | None = None,
    days_overdue: int | None = None,
) -> Outline:
    line: Outline = [
        ("child", f"Patient/{child}"),
        (kind, source),
        ("description", description),
        ("status", status),
        ("state", state),
    ]
    line += [("due", due)] if due else []
    line += [("daysOverdue", days_overdue)] if days_overdue is not None else []
    return line


def goal(id: str, description: str, *individuals: str) -> Outline:
    return [
        ("child", "Patient/ana"),
        ("goal", f"Goal/{id}"),
        ("description", description),
        ("lifecycleStatus", "active"),
        *(("individual", individual) for individual in individuals),
    ]


def test_every_line_names_the_people_and_plans_it_is_about(dana: httpx.Client) -> None:
    text = str(worklist(dana))
    for shown in ("Dana Whitfield's caseload", "Ana Perez", "Maria Perez", "Dana Whitfield", "Hill Therapy Clinic"):
        assert shown in text
    assert "Cara's plan of care" in text  # the plan an inline step or a review line names, by its title


def test_the_worklist_is_valid_r4_in_json_and_xml(dana: httpx.Client) -> None:
    body = worklist(dana)
    assert [issue for issue in validate_resource(body) if issue.severity in ("error", "fatal")] == []
    xml = dana.get("/Group/caseload-a/$worklist", params={"as-of": AS_OF}, headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 200
    assert xml.text.startswith("<?xml") and "<Parameters" in xml.text


def test_the_window_sets_which_steps_are_due(dana: httpx.Client) -> None:
    # "Ask about summer camp" is due 2026-04-30, 60 days after 2026-03-01: in a 60-day window, not in 59.
    assert section(worklist(dana, **{"due-within-days": "60"}), "actionSteps")[0] == ("count", 5)
    assert section(worklist(dana, **{"due-within-days": "59"}), "actionSteps")[0] == ("count", 4)


def test_as_of_moves_the_day_and_defaults_to_today(dana: httpx.Client) -> None:
    later = worklist(dana, **{"as-of": "2026-03-11"})
    overdue = [line for _, group in section(later, "actionSteps")[1:] for key, line in group if key == "step"]
    assert [dict(line)["state"] for line in overdue] == ["overdue", "overdue", "overdue", "no-due-date"]
    today = dana.get("/Group/caseload-a/$worklist").json()
    assert outline(today["parameter"])[1] == ("asOf", datetime.now(UTC).date().isoformat())


def test_members_no_longer_on_the_caseload_are_not_counted(dana: httpx.Client) -> None:
    text = str(worklist(dana))
    for child in ("Patient/dan", "Patient/eve"):
        assert child not in text
    # Eve was on the caseload in January: on 2026-01-15 she counts, with her step overdue since 01-01.
    january = worklist(dana, **{"as-of": "2026-01-15"})
    assert ("child", "Patient/eve") in outline(january["parameter"])


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"as-of": "2026-3-1"}, "as-of"),
        ({"as-of": "tomorrow"}, "as-of"),
        ({"asOf": AS_OF}, "asOf"),
        ({"due-within-days": "-1"}, "due-within-days"),
    ],
)
def test_a_parameter_it_cannot_use_is_refused_not_ignored(
    dana: httpx.Client, params: dict[str, str], expression: str
) -> None:
    response = dana.get("/Group/caseload-a/$worklist", params=params)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == [expression]


def test_an_unknown_caseload_is_404(dana: httpx.Client) -> None:
    assert dana.get("/Group/nobody/$worklist").status_code == 404
