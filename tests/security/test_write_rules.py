"""The element-level write policy (fhirbridge.security.write_rules): pure functions, no server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhirbridge.errors import Forbidden
from fhirbridge.security.write_rules import (
    ACTION_STEP_TASK,
    GOAL,
    REFERRAL_TASK,
    SERVICE_REQUEST,
    WriteCaller,
    appended_only,
    check_write,
    element_policy,
    same,
)
from tests.factories import Resource, goal

CHILD = "child-ana"
OTHER_CHILD = "child-ben"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

COORDINATOR = WriteCaller(frozenset({"Practitioner/coord", "Organization/medical-home"}), None, True)
EHR = WriteCaller(frozenset({"Organization/medical-home"}), None, True)
PARTNER = WriteCaller(frozenset({"Practitioner/pt-1", "Organization/pt-clinic"}), None, False)
OTHER_PARTNER = WriteCaller(frozenset({"Organization/school"}), None, False)
FAMILY = WriteCaller(frozenset({"RelatedPerson/mother"}), CHILD, False)
FAMILY_NO_USER = WriteCaller(frozenset(), CHILD, False)
PAYER = WriteCaller(frozenset({"Organization/payer"}), None, False)
OUTSIDERS = [PARTNER, OTHER_PARTNER, FAMILY, PAYER]


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def referral_task(**elements: Any) -> Resource:
    task: Resource = {
        "resourceType": "Task",
        "id": "referral-pt",
        "meta": {"versionId": "3", "lastUpdated": "2024-05-01T10:00:00Z"},
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
        "focus": ref("ServiceRequest/pt"),
        "for": ref(f"Patient/{CHILD}"),
        "basedOn": [ref("CarePlan/plan")],
        "requester": ref("Organization/medical-home"),
        "owner": ref("Organization/pt-clinic"),
        "note": [{"text": "Please see within two weeks", "authorReference": ref("Practitioner/coord")}],
    }
    task.update(elements)
    return {key: value for key, value in task.items() if value is not None}


def action_step(**elements: Any) -> Resource:
    task: Resource = {
        "resourceType": "Task",
        "id": "step-1",
        "meta": {"versionId": "1", "lastUpdated": "2024-05-01T10:00:00Z"},
        "status": "requested",
        "intent": "plan",
        "code": {"coding": [{"system": "http://fhirbridge.org/fhir/CodeSystem/task-kind", "code": "action-step"}]},
        "description": "Call the early-intervention program",
        "for": ref(f"Patient/{CHILD}"),
        "owner": ref("Practitioner/coord"),
        "focus": ref("ServiceRequest/pt"),
        "reasonReference": ref("Goal/walk"),
        "restriction": {"period": {"end": "2024-06-01"}},
        "note": [{"text": "First call made"}],
    }
    task.update(elements)
    return {key: value for key, value in task.items() if value is not None}


def mothers_step(**elements: Any) -> Resource:
    return action_step(owner=ref("RelatedPerson/mother"), **elements)


def service_request(**elements: Any) -> Resource:
    request: Resource = {
        "resourceType": "ServiceRequest",
        "id": "pt",
        "status": "active",
        "intent": "order",
        "code": {"text": "Physical therapy"},
        "subject": ref(f"Patient/{CHILD}"),
        "requester": ref("Organization/medical-home"),
        "performer": [ref("Organization/pt-clinic")],
        "note": [{"text": "Gross motor delay"}],
    }
    request.update(elements)
    return {key: value for key, value in request.items() if value is not None}


def walk_goal(**elements: Any) -> Resource:
    """The goal the rules are checked on: labelled, with a target and the coordinator's note."""
    label = {"security": [{"system": ACT_CODE, "code": "SOC"}]}
    note = [{"text": "Standing with support", "authorReference": ref("Practitioner/coord")}]
    defaults: Resource = {"meta": label, "target": [{"dueDate": "2024-12-01"}], "note": note}
    return goal("walk", CHILD, description_text="Walk independently", **{**defaults, **elements})


def answers(**elements: Any) -> Resource:
    resource: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": "needs",
        "status": "completed",
        "subject": ref(f"Patient/{CHILD}"),
        "author": ref("RelatedPerson/mother"),
        "item": [{"linkId": "1", "answer": [{"valueBoolean": True}]}],
    }
    resource.update(elements)
    return {key: value for key, value in resource.items() if value is not None}


def posted(resource_type: str, element: str, author: Any, **elements: Any) -> Resource:
    resource: Resource = {"resourceType": resource_type, "id": "x", "status": "final", element: author}
    resource.update(elements)
    return resource


def refusal(caller: WriteCaller, resource_type: str, current: Resource | None, new: Resource | None) -> Forbidden:
    with pytest.raises(Forbidden) as raised:
        check_write(caller, resource_type, current, new)
    assert raised.value.status == 403
    assert raised.value.issues[0].code == "forbidden"
    return raised.value


def refused_at(caller: WriteCaller, resource_type: str, current: Resource | None, new: Resource | None) -> str:
    """The one element a refusal names."""
    (expression,) = refusal(caller, resource_type, current, new).issues[0].expression
    return expression


def changed(resource: Resource, **elements: Any) -> Resource:
    """A copy of ``resource`` with ``elements`` set (None removes one)."""
    result = copy.deepcopy(resource)
    for key, value in elements.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


# --- the four attacks ------------------------------------------------------------------------------------


def test_attack_partner_takes_over_a_referral_by_rewriting_owner_and_requester() -> None:
    current = referral_task(owner=ref("Organization/school"))
    forged = changed(current, owner=ref("Organization/pt-clinic"), requester=ref("Organization/pt-clinic"))
    assert refused_at(PARTNER, "Task", current, forged) == "Task.owner"
    assert refused_at(PARTNER, "Task", current, changed(current, requester=ref("Practitioner/pt-1"))) == (
        "Task.requester"
    )


@pytest.mark.parametrize(
    ("forgery", "element"),
    [
        (
            {"owner": ref("RelatedPerson/mother"), "output": [{"type": {"text": "result"}, "valueString": "Done"}]},
            "Task.owner",
        ),
        ({"owner": ref("RelatedPerson/mother")}, "Task.owner"),
        ({"output": [{"type": {"text": "result"}, "valueString": "No delay found"}]}, "Task.output"),
    ],
)
def test_attack_family_rewrites_a_referrals_owner_and_forges_its_output(forgery: Resource, element: str) -> None:
    current = referral_task(status="in-progress")
    assert refused_at(FAMILY, "Task", current, changed(current, **forgery)) == element


@pytest.mark.parametrize("author", [ref("RelatedPerson/mother"), None])
def test_attack_family_posts_answers_about_another_child(author: dict[str, str] | None) -> None:
    forged = answers(subject=ref(f"Patient/{OTHER_CHILD}"), author=author)
    error = refusal(FAMILY, "QuestionnaireResponse", None, forged)
    assert error.issues[0].expression == ("QuestionnaireResponse.subject",)
    assert OTHER_CHILD not in str(error)


@pytest.mark.parametrize("status", ["cancelled", "completed", "on-hold"])
def test_attack_family_cancels_an_action_step_the_coordinator_owns(status: str) -> None:
    current = action_step()
    assert refused_at(FAMILY, "Task", current, changed(current, status=status)) == "Task.status"
    with_reason = changed(current, status=status, statusReason={"text": "not needed"})
    assert refused_at(FAMILY, "Task", current, with_reason) == "Task.status"


# --- treating callers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", [COORDINATOR, EHR])
@pytest.mark.parametrize(
    ("resource_type", "current", "new"),
    [
        ("Task", referral_task(), referral_task(owner=ref("Organization/school"), requester=ref("Practitioner/x"))),
        ("Task", referral_task(), referral_task(output=[{"valueString": "result"}], note=[])),
        ("Task", referral_task(), None),
        ("Task", None, referral_task(requester=ref("Practitioner/someone-else"))),
        ("Task", action_step(), action_step(status="cancelled", owner=ref("RelatedPerson/mother"))),
        ("Task", None, action_step()),
        ("ServiceRequest", service_request(), service_request(status="revoked", performer=[ref("Organization/x")])),
        ("ServiceRequest", None, service_request(requester=ref("Practitioner/other"))),
        ("Goal", walk_goal(), walk_goal(status="cancelled", note=[], meta={})),
        ("QuestionnaireResponse", answers(), answers(subject=ref(f"Patient/{OTHER_CHILD}"))),
        ("Communication", None, posted("Communication", "sender", ref("Practitioner/other"))),
        ("Observation", posted("Observation", "performer", [ref("Practitioner/other")]), None),
    ],
)
def test_treating_callers_may_change_any_element(
    caller: WriteCaller, resource_type: str, current: Resource | None, new: Resource | None
) -> None:
    check_write(caller, resource_type, current, new)


# --- referral Task ---------------------------------------------------------------------------------------


IMMUTABLE_CHANGES: list[tuple[str, Any]] = [
    ("owner", ref("Organization/school")),
    ("owner", {"reference": "Organization/pt-clinic", "display": "PT clinic"}),
    ("owner", None),
    ("requester", ref("Organization/pt-clinic")),
    ("focus", ref("ServiceRequest/other")),
    ("for", ref(f"Patient/{OTHER_CHILD}")),
    ("basedOn", [ref("CarePlan/other")]),
    ("basedOn", None),
    ("intent", "plan"),
    ("code", {"coding": [{"system": TASK_CODE, "code": "fulfill"}], "text": "Fulfill"}),
    ("code", {"coding": [{"system": TASK_CODE, "code": "approve"}]}),
]


@pytest.mark.parametrize("caller", OUTSIDERS)
@pytest.mark.parametrize(("element", "value"), IMMUTABLE_CHANGES)
def test_referral_task_parties_and_subject_are_fixed_outside_the_care_team(
    caller: WriteCaller, element: str, value: Any
) -> None:
    current = referral_task()
    assert refused_at(caller, "Task", current, changed(current, **{element: value})) == f"Task.{element}"


def test_referral_task_primitive_extension_is_judged_as_its_element() -> None:
    current = referral_task()
    new = changed(current, _intent={"extension": [{"url": "http://example.org/x", "valueString": "y"}]})
    assert refused_at(PARTNER, "Task", current, new) == "Task.intent"


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (referral_task(basedOn=None), referral_task(basedOn=[])),
        (referral_task(basedOn=None), referral_task(basedOn=[{}])),
        (referral_task(), referral_task(basedOn=[ref("CarePlan/plan"), None])),
        (referral_task(owner={"reference": "Organization/pt-clinic", "display": None}), referral_task()),
    ],
)
def test_referral_task_missing_and_empty_elements_are_the_same(current: Resource, new: Resource) -> None:
    check_write(PARTNER, "Task", current, new)


@pytest.mark.parametrize("caller", [PARTNER, OTHER_PARTNER, FAMILY])
@pytest.mark.parametrize(
    "change",
    [
        {"status": "accepted"},
        {"status": "rejected", "statusReason": {"text": "No capacity"}},
        {"businessStatus": {"text": "Waiting list"}},
        {"lastModified": "2024-05-02T10:00:00Z"},
        {"executionPeriod": {"start": "2024-05-02"}},
        {"meta": {"versionId": "4", "tag": [{"code": "x"}]}},
        {"meta": None},
        {"text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'>x</div>"}},
        {"extension": [{"url": "http://fhirbridge.org/fhir/StructureDefinition/status-change"}]},
        {"priority": "urgent"},
        {"id": "other-id", "resourceType": "Task"},
    ],
)
def test_referral_task_status_and_bookkeeping_are_left_to_the_state_machine(
    caller: WriteCaller, change: dict[str, Any]
) -> None:
    current = referral_task()
    check_write(caller, "Task", current, changed(current, **change))


OUTPUT = [{"type": {"text": "result"}, "valueString": "Seen, plan for 12 sessions"}]


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (referral_task(status="in-progress"), referral_task(status="completed", output=OUTPUT)),
        (referral_task(output=OUTPUT), referral_task(output=[*OUTPUT, {"valueDate": "2024-06-01"}])),
        (referral_task(output=OUTPUT), referral_task(output=None)),
    ],
)
def test_referral_output_is_written_by_the_performer(current: Resource, new: Resource) -> None:
    check_write(PARTNER, "Task", current, new)


@pytest.mark.parametrize("caller", [OTHER_PARTNER, FAMILY, PAYER])
@pytest.mark.parametrize(
    ("current", "new"),
    [
        (referral_task(), referral_task(output=OUTPUT)),
        (referral_task(output=OUTPUT), referral_task(output=[{"valueString": "Nothing found"}])),
        (referral_task(output=OUTPUT), referral_task(output=None)),
    ],
)
def test_referral_output_is_refused_to_anyone_but_the_performer(
    caller: WriteCaller, current: Resource, new: Resource
) -> None:
    error = refusal(caller, "Task", current, new)
    assert error.issues[0].expression == ("Task.output",)
    assert "Task.owner" in str(error)  # says who may


def test_referral_output_goes_by_the_owner_as_stored_not_as_written() -> None:
    current = referral_task(owner=ref("Organization/school"))
    # the owner is fixed, so the partner is refused at the owner before its output is considered
    new = changed(current, owner=ref("Organization/pt-clinic"), output=OUTPUT)
    assert refused_at(PARTNER, "Task", current, new) == "Task.owner"


NOTE = {"text": "Please see within two weeks", "authorReference": ref("Practitioner/coord")}
REPLY = {"text": "First visit booked", "authorReference": ref("Organization/pt-clinic")}


@pytest.mark.parametrize("caller", [PARTNER, OTHER_PARTNER, FAMILY])
def test_referral_notes_may_be_appended(caller: WriteCaller) -> None:
    own = {"text": "First visit booked", "authorReference": ref(sorted(caller.references)[0])}
    unsigned = {"text": "First visit booked"}
    check_write(caller, "Task", referral_task(note=[NOTE]), referral_task(note=[NOTE, own]))
    check_write(caller, "Task", referral_task(note=None), referral_task(note=[unsigned]))


@pytest.mark.parametrize("caller", [OTHER_PARTNER, FAMILY])
def test_an_appended_note_names_no_one_else_as_its_author(caller: WriteCaller) -> None:
    # REPLY is signed by the physical therapy clinic: nobody else may add it in the clinic's name.
    assert refused_at(caller, "Task", referral_task(note=[NOTE]), referral_task(note=[NOTE, REPLY])) == "Task.note"


STATUS_CHANGE = {"url": "http://fhirbridge.org/fhir/StructureDefinition/status-change", "valueString": "accepted"}


def test_a_referrals_status_history_may_be_added_to_but_not_rewritten() -> None:
    current = referral_task(extension=[STATUS_CHANGE])
    check_write(
        PARTNER, "Task", current, changed(current, extension=[STATUS_CHANGE, {**STATUS_CHANGE, "valueString": "x"}])
    )
    assert refused_at(PARTNER, "Task", current, changed(current, extension=[])) == "Task.extension"


@pytest.mark.parametrize("caller", [PARTNER, FAMILY])
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([NOTE], [{**NOTE, "text": "Whenever convenient"}]),
        ([NOTE], []),
        ([NOTE], None),
        ([NOTE, REPLY], [NOTE]),
        ([NOTE, REPLY], [REPLY, NOTE]),
        ([NOTE], [REPLY, NOTE]),
        ([NOTE], [{"text": NOTE["text"]}]),
    ],
)
def test_referral_notes_may_not_be_rewritten(caller: WriteCaller, before: Any, after: Any) -> None:
    current = referral_task(note=before)
    assert refused_at(caller, "Task", current, changed(current, note=after)) == "Task.note"


def test_referral_created_in_the_callers_own_name() -> None:
    check_write(PARTNER, "Task", None, referral_task(requester=ref("Organization/pt-clinic"), owner=ref("X/1")))
    check_write(PARTNER, "Task", None, referral_task(requester=ref("Practitioner/pt-1"), status="draft"))


@pytest.mark.parametrize("caller", OUTSIDERS)
@pytest.mark.parametrize("requester", [ref("Organization/medical-home"), None, {"display": "PT clinic"}])
def test_referral_created_in_someone_elses_name_is_refused(caller: WriteCaller, requester: Any) -> None:
    new = referral_task(requester=requester)
    assert refused_at(caller, "Task", None, new) == "Task.requester"


def test_referral_created_with_a_result_only_by_its_performer() -> None:
    sent_on = referral_task(requester=ref("Organization/pt-clinic"), owner=ref("Organization/school"), output=OUTPUT)
    assert refused_at(PARTNER, "Task", None, sent_on) == "Task.output"
    own = referral_task(requester=ref("Organization/pt-clinic"), owner=ref("Organization/pt-clinic"), output=OUTPUT)
    check_write(PARTNER, "Task", None, own)


@pytest.mark.parametrize("caller", OUTSIDERS)
def test_referral_task_deleted_only_by_the_care_team(caller: WriteCaller) -> None:
    assert refused_at(caller, "Task", referral_task(), None) == "Task"


def test_a_task_cannot_be_turned_into_or_out_of_a_referral_to_escape_its_rules() -> None:
    step = mothers_step()
    into = changed(step, code={"coding": [{"system": TASK_CODE, "code": "fulfill"}]})
    assert element_policy("Task", step, into) is REFERRAL_TASK
    assert refused_at(FAMILY, "Task", step, into) == "Task.code"
    referral = referral_task()
    out_of = changed(referral, code={"text": "anything"}, owner=ref("Organization/pt-clinic"))
    assert refused_at(PARTNER, "Task", referral, out_of) == "Task.code"


# --- action steps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"status": "in-progress"},
        {"status": "completed", "executionPeriod": {"end": "2024-05-03"}},
        {"status": "cancelled", "statusReason": {"text": "Moved away"}},
        {"businessStatus": {"text": "Left a message"}},
        {"note": [{"text": "First call made"}, {"text": "Second call made"}]},
        {"lastModified": "2024-05-03T10:00:00Z", "meta": {"versionId": "9"}, "text": None},
        {"_status": {"extension": [{"url": "http://example.org/by", "valueString": "phone"}]}},
    ],
)
def test_action_step_owner_reports_on_its_own_step(change: dict[str, Any]) -> None:
    current = mothers_step()
    check_write(FAMILY, "Task", current, changed(current, **change))


@pytest.mark.parametrize("caller", [FAMILY, PARTNER, FAMILY_NO_USER])
@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"status": "completed"}, "Task.status"),
        ({"_status": {"extension": [{"url": "http://example.org/by"}]}}, "Task.status"),
        ({"businessStatus": {"text": "Done"}}, "Task.businessStatus"),
        ({"statusReason": {"text": "Not needed"}}, "Task.statusReason"),
        ({"executionPeriod": {"end": "2024-05-03"}}, "Task.executionPeriod"),
    ],
)
def test_action_step_status_is_refused_to_anyone_but_its_owner(
    caller: WriteCaller, change: dict[str, Any], element: str
) -> None:
    current = action_step()  # owned by the coordinator
    error = refusal(caller, "Task", current, changed(current, **change))
    assert error.issues[0].expression == (element,)
    assert "Task.owner" in str(error)


@pytest.mark.parametrize("caller", [FAMILY, PARTNER])
def test_action_step_notes_may_be_appended_by_anyone_writing_the_task(caller: WriteCaller) -> None:
    current = action_step()
    appended = changed(current, note=[{"text": "First call made"}, {"text": "We called too"}])
    check_write(caller, "Task", current, appended)
    rewritten = changed(current, note=[{"text": "Never called"}])
    assert refused_at(caller, "Task", current, rewritten) == "Task.note"


@pytest.mark.parametrize("current", [action_step(), mothers_step()])
@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"owner": ref("RelatedPerson/father")}, "Task.owner"),
        ({"owner": None}, "Task.owner"),
        ({"for": ref(f"Patient/{OTHER_CHILD}")}, "Task.for"),
        ({"focus": ref("ServiceRequest/other")}, "Task.focus"),
        ({"output": [{"valueString": "Done"}]}, "Task.output"),
        ({"description": "Something else"}, "Task.description"),
        ({"restriction": {"period": {"end": "2025-01-01"}}}, "Task.restriction"),
        ({"reasonReference": None}, "Task.reasonReference"),
        ({"intent": "order"}, "Task.intent"),
        ({"priority": "urgent"}, "Task.priority"),
    ],
)
def test_action_step_assignment_belongs_to_the_care_team(
    current: Resource, change: dict[str, Any], element: str
) -> None:
    assert refused_at(FAMILY, "Task", current, changed(current, **change)) == element


def test_plan_review_task_is_an_action_step_without_an_owner() -> None:
    review = action_step(owner=None, code={"text": "Care plan review"}, output=[{"valueString": "Plan kept"}])
    assert refused_at(FAMILY, "Task", review, changed(review, status="cancelled")) == "Task.status"
    assert refused_at(FAMILY, "Task", review, changed(review, output=None)) == "Task.output"


@pytest.mark.parametrize("caller", OUTSIDERS)
def test_action_steps_are_created_and_deleted_only_by_the_care_team(caller: WriteCaller) -> None:
    assert refused_at(caller, "Task", None, mothers_step()) == "Task"
    assert refused_at(caller, "Task", mothers_step(), None) == "Task"


# --- ServiceRequest --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"note": [{"text": "Gross motor delay"}, {"text": "Family prefers mornings"}]},
        {"meta": {"versionId": "2"}},
        {"text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'>PT</div>"}},
    ],
)
@pytest.mark.parametrize("caller", [PARTNER, FAMILY])
def test_service_request_notes_may_be_appended(caller: WriteCaller, change: dict[str, Any]) -> None:
    current = service_request()
    check_write(caller, "ServiceRequest", current, changed(current, **change))


@pytest.mark.parametrize("caller", [PARTNER, FAMILY])
@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"status": "revoked"}, "ServiceRequest.status"),
        ({"performer": [ref("Organization/school")]}, "ServiceRequest.performer"),
        ({"requester": ref("Organization/pt-clinic")}, "ServiceRequest.requester"),
        ({"code": {"text": "Speech therapy"}}, "ServiceRequest.code"),
        ({"subject": ref(f"Patient/{OTHER_CHILD}")}, "ServiceRequest.subject"),
        ({"note": []}, "ServiceRequest.note"),
        ({"extension": [{"url": "http://example.org/x", "valueString": "y"}]}, "ServiceRequest.extension"),
    ],
)
def test_service_request_is_otherwise_fixed(caller: WriteCaller, change: dict[str, Any], element: str) -> None:
    current = service_request()
    assert refused_at(caller, "ServiceRequest", current, changed(current, **change)) == element


def test_service_request_created_only_in_the_callers_own_name() -> None:
    check_write(PARTNER, "ServiceRequest", None, service_request(requester=ref("Organization/pt-clinic")))
    assert refused_at(PARTNER, "ServiceRequest", None, service_request()) == "ServiceRequest.requester"
    assert refused_at(FAMILY, "ServiceRequest", None, service_request()) == "ServiceRequest.requester"


@pytest.mark.parametrize("caller", OUTSIDERS)
def test_service_request_deleted_only_by_the_care_team(caller: WriteCaller) -> None:
    assert refused_at(caller, "ServiceRequest", service_request(), None) == "ServiceRequest"


# --- Goal ------------------------------------------------------------------------------------------------


AGREEMENT = {
    "url": "http://hl7.org/fhir/StructureDefinition/goal-acceptance",
    "extension": [
        {"url": "individual", "valueReference": ref("RelatedPerson/mother")},
        {"url": "status", "valueCode": "agree"},
    ],
}


@pytest.mark.parametrize(
    "change",
    [
        {"extension": [AGREEMENT]},
        {"achievementStatus": {"coding": [{"code": "improving"}]}},
        {
            "note": [
                walk_goal()["note"][0],
                {"text": "Took three steps", "authorReference": ref("RelatedPerson/mother")},
            ]
        },
        {"meta": {"versionId": "5", "security": [{"system": ACT_CODE, "code": "SOC"}]}},
        {"text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'>Goal</div>"}},
    ],
)
def test_goal_family_records_its_agreement_progress_and_notes(change: dict[str, Any]) -> None:
    current = walk_goal()
    check_write(FAMILY, "Goal", current, changed(current, **change))


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"lifecycleStatus": "cancelled"}, "Goal.lifecycleStatus"),
        ({"description": {"text": "Run"}}, "Goal.description"),
        ({"target": []}, "Goal.target"),
        ({"subject": ref(f"Patient/{OTHER_CHILD}")}, "Goal.subject"),
        ({"expressedBy": ref("RelatedPerson/mother")}, "Goal.expressedBy"),
        ({"note": [{"text": "Standing with support"}]}, "Goal.note"),
        ({"note": None}, "Goal.note"),
    ],
)
def test_goal_family_may_not_rewrite_the_goal(change: dict[str, Any], element: str) -> None:
    current = walk_goal()
    assert refused_at(FAMILY, "Goal", current, changed(current, **change)) == element


@pytest.mark.parametrize("caller", OUTSIDERS)
def test_goals_are_created_and_deleted_only_by_the_care_team(caller: WriteCaller) -> None:
    assert refused_at(caller, "Goal", None, walk_goal()) == "Goal"
    assert refused_at(caller, "Goal", walk_goal(), None) == "Goal"


# --- security labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "current"),
    [("Goal", walk_goal()), ("Task", referral_task(meta={"security": [{"system": ACT_CODE, "code": "BH"}]}))],
)
@pytest.mark.parametrize("meta", [None, {"versionId": "9"}, {"security": [{"system": ACT_CODE, "code": "N"}]}])
def test_security_labels_are_kept_by_callers_outside_the_care_team(
    resource_type: str, current: Resource, meta: Any
) -> None:
    new = changed(current, meta=meta)
    assert refused_at(FAMILY, resource_type, current, new) == f"{resource_type}.meta.security"
    check_write(COORDINATOR, resource_type, current, new)


# --- authored resources ----------------------------------------------------------------------------------


AUTHORED = [
    ("Communication", "sender", False),
    ("DocumentReference", "author", True),
    ("Observation", "performer", True),
]


def as_element(references: list[str], is_list: bool) -> Any:
    return [ref(r) for r in references] if is_list else ref(references[0]) if references else None


@pytest.mark.parametrize(("resource_type", "element", "is_list"), AUTHORED)
@pytest.mark.parametrize("own", [["Organization/pt-clinic"], ["Practitioner/pt-1"]])
def test_authored_resources_are_posted_in_the_callers_own_name(
    resource_type: str, element: str, is_list: bool, own: list[str]
) -> None:
    check_write(PARTNER, resource_type, None, posted(resource_type, element, as_element(own, is_list)))


def test_authored_list_may_name_the_caller_several_ways() -> None:
    both = [ref("Practitioner/pt-1"), ref("Organization/pt-clinic")]
    check_write(PARTNER, "DocumentReference", None, posted("DocumentReference", "author", both))


@pytest.mark.parametrize(("resource_type", "element", "is_list"), AUTHORED)
@pytest.mark.parametrize(
    "author",
    [["Organization/school"], ["Practitioner/coord"], []],
)
def test_authored_resources_in_someone_elses_name_are_refused(
    resource_type: str, element: str, is_list: bool, author: list[str]
) -> None:
    new = posted(resource_type, element, as_element(author, is_list))
    assert refused_at(PARTNER, resource_type, None, new) == f"{resource_type}.{element}"


@pytest.mark.parametrize(("resource_type", "element"), [("DocumentReference", "author"), ("Observation", "performer")])
def test_authored_list_naming_the_caller_and_someone_else_is_refused(resource_type: str, element: str) -> None:
    new = posted(resource_type, element, [ref("Organization/pt-clinic"), ref("Practitioner/coord")])
    assert refused_at(PARTNER, resource_type, None, new) == f"{resource_type}.{element}"


def test_family_posts_a_communication_as_itself() -> None:
    check_write(FAMILY, "Communication", None, posted("Communication", "sender", ref("RelatedPerson/mother")))
    forged = posted("Communication", "sender", ref("Practitioner/coord"))
    assert refused_at(FAMILY, "Communication", None, forged) == "Communication.sender"
    identifier_only = posted("Communication", "sender", {"identifier": {"value": "mother"}})
    assert refused_at(FAMILY, "Communication", None, identifier_only) == "Communication.sender"


@pytest.mark.parametrize(("resource_type", "element", "is_list"), AUTHORED)
def test_authored_resources_are_updated_and_deleted_only_by_their_author(
    resource_type: str, element: str, is_list: bool
) -> None:
    mine = posted(resource_type, element, as_element(["Organization/pt-clinic"], is_list))
    check_write(PARTNER, resource_type, mine, changed(mine, status="amended"))
    check_write(PARTNER, resource_type, mine, changed(mine, **{element: as_element(["Practitioner/pt-1"], is_list)}))
    check_write(PARTNER, resource_type, mine, None)
    path = f"{resource_type}.{element}"
    assert refused_at(OTHER_PARTNER, resource_type, mine, changed(mine, status="amended")) == path
    assert refused_at(OTHER_PARTNER, resource_type, mine, None) == path
    handed_over = changed(mine, **{element: as_element(["Organization/school"], is_list)})
    assert refused_at(PARTNER, resource_type, mine, handed_over) == path
    taken_over = changed(mine, **{element: as_element(["Organization/school"], is_list)})
    assert refused_at(OTHER_PARTNER, resource_type, mine, taken_over) == path


# --- QuestionnaireResponse -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "author", [ref("RelatedPerson/mother"), ref(f"Patient/{CHILD}"), None, {"reference": "RelatedPerson/mother"}]
)
def test_family_records_answers_about_its_own_child(author: Any) -> None:
    check_write(FAMILY, "QuestionnaireResponse", None, answers(author=author))
    current = answers(status="in-progress")
    check_write(FAMILY, "QuestionnaireResponse", current, changed(answers(author=author), status="completed"))


def test_family_without_a_user_answers_as_the_child() -> None:
    check_write(FAMILY_NO_USER, "QuestionnaireResponse", None, answers(author=ref(f"Patient/{CHILD}")))
    assert refused_at(FAMILY_NO_USER, "QuestionnaireResponse", None, answers()) == "QuestionnaireResponse.author"


@pytest.mark.parametrize(
    ("new", "element"),
    [
        (answers(subject=ref(f"Patient/{OTHER_CHILD}")), "QuestionnaireResponse.subject"),
        (answers(subject=None), "QuestionnaireResponse.subject"),
        (answers(subject={"identifier": {"value": CHILD}}), "QuestionnaireResponse.subject"),
        (answers(subject=ref(f"https://other.example/fhir/Patient/{CHILD}")), "QuestionnaireResponse.subject"),
        (answers(author=ref("RelatedPerson/father")), "QuestionnaireResponse.author"),
        (answers(author=ref("Practitioner/coord")), "QuestionnaireResponse.author"),
        (answers(author=ref(f"Patient/{OTHER_CHILD}")), "QuestionnaireResponse.author"),
        (answers(author={"display": "Mother"}), "QuestionnaireResponse.author"),
    ],
)
def test_family_answers_about_another_child_or_in_another_name_are_refused(new: Resource, element: str) -> None:
    error = refusal(FAMILY, "QuestionnaireResponse", None, new)
    assert error.issues[0].expression == (element,)
    assert OTHER_CHILD not in str(error)
    assert refused_at(FAMILY, "QuestionnaireResponse", answers(), new) == element


@pytest.mark.parametrize("caller", [FAMILY, PARTNER])
def test_answers_cannot_be_moved_to_another_child(caller: WriteCaller) -> None:
    current = answers(author=ref("Organization/pt-clinic") if caller is PARTNER else ref("RelatedPerson/mother"))
    moved = changed(current, subject=ref(f"Patient/{OTHER_CHILD}"))
    assert refused_at(caller, "QuestionnaireResponse", current, moved) == "QuestionnaireResponse.subject"
    elsewhere = changed(current, subject=ref(f"Patient/{OTHER_CHILD}"))
    assert refused_at(caller, "QuestionnaireResponse", elsewhere, current) == "QuestionnaireResponse.subject"


def test_family_deletes_only_its_own_childs_answers() -> None:
    check_write(FAMILY, "QuestionnaireResponse", answers(), None)
    other = answers(subject=ref(f"Patient/{OTHER_CHILD}"))
    assert refused_at(FAMILY, "QuestionnaireResponse", other, None) == "QuestionnaireResponse.subject"


def test_outside_organization_answers_only_in_its_own_name() -> None:
    check_write(PARTNER, "QuestionnaireResponse", None, answers(author=ref("Organization/pt-clinic")))
    check_write(PARTNER, "QuestionnaireResponse", None, answers(author=None))
    forged = answers(author=ref(f"Patient/{CHILD}"))
    assert refused_at(PARTNER, "QuestionnaireResponse", None, forged) == "QuestionnaireResponse.author"


# --- everything else -------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", OUTSIDERS)
@pytest.mark.parametrize(
    ("resource_type", "current", "new"),
    [
        (
            "CarePlan",
            {"resourceType": "CarePlan", "status": "active"},
            {"resourceType": "CarePlan", "status": "revoked"},
        ),
        ("Consent", None, {"resourceType": "Consent", "status": "active"}),
        ("Appointment", {"resourceType": "Appointment", "status": "booked"}, None),
        ("Task", None, None),
    ],
)
def test_other_writes_have_no_element_rule(
    caller: WriteCaller, resource_type: str, current: Resource | None, new: Resource | None
) -> None:
    check_write(caller, resource_type, current, new)


@pytest.mark.parametrize(
    ("resource_type", "current", "new", "policy"),
    [
        ("Task", referral_task(), None, REFERRAL_TASK),
        ("Task", None, referral_task(), REFERRAL_TASK),
        ("Task", action_step(), action_step(), ACTION_STEP_TASK),
        ("ServiceRequest", None, service_request(), SERVICE_REQUEST),
        ("Goal", walk_goal(), None, GOAL),
        ("Observation", None, {}, None),
    ],
)
def test_element_policy_picks_the_row(
    resource_type: str, current: Resource | None, new: Resource | None, policy: object
) -> None:
    assert element_policy(resource_type, current, new) is policy


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (None, [], True),
        (None, {}, True),
        ([], {}, True),
        ({"a": None, "b": []}, None, True),
        ([{"x": 1, "y": {}}], [{"x": 1}], True),
        ([{"x": 1}, {"x": 2}], [{"x": 2}, {"x": 1}], False),
        ({"reference": "A/1"}, {"reference": "A/1", "display": "A"}, False),
        (0, None, False),
        (False, None, False),
        ("", None, False),
    ],
)
def test_same_treats_missing_and_empty_alike(left: Any, right: Any, expected: bool) -> None:
    assert same(left, right) is expected
    assert same(right, left) is expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, None, True),
        (None, [{"text": "a"}], True),
        ([{"text": "a"}], [{"text": "a"}, {"text": "b"}], True),
        ([{"text": "a", "time": None}], [{"text": "a"}], True),
        ([{"text": "a"}], [], False),
        ([{"text": "a"}, {"text": "b"}], [{"text": "b"}, {"text": "a"}], False),
        ([{"text": "a"}], [{"text": "b"}, {"text": "a"}], False),
        ([{"text": "a"}], [{"text": "A"}], False),
    ],
)
def test_appended_only(old: Any, new: Any, expected: bool) -> None:
    assert appended_only(old, new) is expected


@pytest.mark.parametrize(
    ("caller", "resource_type", "current", "new"),
    [
        (PARTNER, "Task", referral_task(owner=ref("Organization/school")), referral_task()),
        (FAMILY, "Task", referral_task(), referral_task(output=OUTPUT)),
        (FAMILY, "QuestionnaireResponse", None, answers(subject=ref(f"Patient/{OTHER_CHILD}"))),
        (FAMILY, "Task", action_step(), action_step(status="cancelled")),
        (OTHER_PARTNER, "Observation", posted("Observation", "performer", [ref("Organization/pt-clinic")]), None),
    ],
)
def test_refusals_quote_no_resource_data(
    caller: WriteCaller, resource_type: str, current: Resource | None, new: Resource | None
) -> None:
    message = str(refusal(caller, resource_type, current, new))
    for quoted in (OTHER_CHILD, CHILD, "Patient/", "Organization/", "Practitioner/", "RelatedPerson/", "No delay"):
        assert quoted not in message
    assert " only " in message  # says who may
