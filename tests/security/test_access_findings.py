"""Regression tests for the nine access-control findings, each on both storage backends.

The setting: Aisha and Ben are children of the medical home (clinic-a), whose care coordinator is on
their care teams. Another practice (clinic-b), a payer, an agency and a school see a child's data only
as the policy allows: a treating relationship from the data (care team, general practitioner, managing
organization), or the family's consent for the information classes and sensitive labels it lists, and
for referrals only those that name them. What a caller may not see must answer exactly as what does
not exist, through every path: reads, history, searches and their counts and links, ``_has``,
conditional interactions and references, ``$everything``, ``$summary`` and the coordination API.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import Resource, care_plan, care_team, goal, observation, organization, patient, task
from tests.security.conftest import client_as, secure_settings, signed, store, token_for

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

AISHA, BEN = "aisha", "ben"
CLINIC_A, CLINIC_B, PAYER, AGENCY, SCHOOL, BEN_PAYER = "clinic-a", "clinic-b", "payer", "agency", "school", "ben-payer"
COORDINATOR = "Practitioner/coordinator"
OTHER_DOCTOR = "Practitioner/doc-b"
BEN_SPECIALIST = "Practitioner/ben-specialist"
MOTHER = "RelatedPerson/aisha-mother"

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
PLAN_KIND = "http://fhirbridge.org/fhir/CodeSystem/care-plan-kind"
SHARED_INFORMATION = "http://fhirbridge.org/fhir/CodeSystem/shared-information"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

# Words only the hidden resources carry: none may show in an answer to a caller who may not see them.
ASTHMA = "asthma-marker-c7"
AUTISM = "autism-marker-c8"
WEIGHT = "weight-marker-o1"
PLAN = "plan-marker-p1"
STEP = "step-marker-t1"
WORRY = "worry-marker-c9"

EMERGENCY_PLAN = [{"coding": [{"system": PLAN_KIND, "code": "emergency-plan"}]}]


# -- builders ---------------------------------------------------------------------------------------


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def labelled(resource: Resource, *labels: str) -> Resource:
    resource["meta"] = {"security": [{"system": ACT_CODE, "code": label} for label in labels]}
    return resource


def practitioner(reference: str) -> Resource:
    id = reference.split("/")[1]
    return {"resourceType": "Practitioner", "id": id, "name": [{"family": id.title()}]}


def consent(
    id: str,
    child: str,
    org: str,
    *classes: str,
    labels: tuple[str, ...] = (),
    period: dict[str, str] | None = None,
) -> Resource:
    provision: Resource = {
        "type": "permit",
        "actor": [
            {
                "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                "reference": ref(f"Organization/{org}"),
            }
        ],
        "class": [{"system": SHARED_INFORMATION, "code": code} for code in classes],
    }
    if labels:
        provision["securityLabel"] = [{"system": ACT_CODE, "code": label} for label in labels]
    if period:
        provision["period"] = period
    return {
        "resourceType": "Consent",
        "id": id,
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": ACT_CODE, "code": "IDSCL"}]}],
        "patient": ref(f"Patient/{child}"),
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes", "code": "hipaa-auth"}]
        },
        "provision": provision,
    }


def condition(id: str, child: str, code: str, text: str, system: str = ICD10CM) -> Resource:
    return {
        "resourceType": "Condition",
        "id": id,
        "code": {"coding": [{"system": system, "code": code}], "text": text},
        "subject": ref(f"Patient/{child}"),
    }


def action_step(id: str, child: str, owner: str) -> Resource:
    """A step of the child's plan, ``owner``'s to do."""
    return task(id, child, intent="plan", description=STEP, owner=ref(owner))


def referral(id: str, child: str, *, requester: str, performer: str) -> list[Resource]:
    """A ServiceRequest ``id`` and its Task ``id-task`` (code fulfill), from requester to performer."""
    return [
        {
            "resourceType": "ServiceRequest",
            "id": id,
            "status": "active",
            "intent": "order",
            "subject": ref(f"Patient/{child}"),
            "requester": ref(requester),
            "performer": [ref(performer)],
        },
        {
            "resourceType": "Task",
            "id": f"{id}-task",
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
            "focus": ref(f"ServiceRequest/{id}"),
            "for": ref(f"Patient/{child}"),
            "requester": ref(requester),
            "owner": ref(performer),
        },
    ]


def message(id: str, child: str, *, sender: str, recipient: str) -> Resource:
    return {
        "resourceType": "Communication",
        "id": id,
        "status": "completed",
        "subject": ref(f"Patient/{child}"),
        "sender": ref(sender),
        "recipient": [ref(recipient)],
        "payload": [{"contentString": "the referral letter is attached"}],
    }


def letter(id: str, child: str, *, author: str) -> Resource:
    return {
        "resourceType": "DocumentReference",
        "id": id,
        "status": "current",
        "subject": ref(f"Patient/{child}"),
        "author": [ref(author)],
        "content": [{"attachment": {"contentType": "text/plain", "data": "bGV0dGVy"}}],
    }


def psychosocial(id: str, child: str, author: str) -> Resource:
    return labelled(
        {
            "resourceType": "QuestionnaireResponse",
            "id": id,
            "status": "completed",
            "subject": ref(f"Patient/{child}"),
            "author": ref(author),
        },
        "SOC",
    )


def records() -> list[Resource]:
    """Aisha's and Ben's records, and the directory."""
    return [
        *(organization(org) for org in (CLINIC_A, CLINIC_B, PAYER, AGENCY, SCHOOL, BEN_PAYER)),
        *(practitioner(doc) for doc in (COORDINATOR, OTHER_DOCTOR, BEN_SPECIALIST)),
        patient(AISHA, family="Aisha", managingOrganization=ref(f"Organization/{CLINIC_A}")),
        patient(BEN, family="Ben", managingOrganization=ref(f"Organization/{CLINIC_A}")),
        {"resourceType": "RelatedPerson", "id": "aisha-mother", "patient": ref(f"Patient/{AISHA}")},
        care_team("aisha-team", AISHA, COORDINATOR, f"Organization/{CLINIC_A}", MOTHER),
        care_team("ben-team", BEN, BEN_SPECIALIST),
        goal("aisha-goal", AISHA),
        care_plan("aisha-plan", AISHA, title=PLAN),
        care_plan("aisha-emergency", AISHA, title=PLAN, category=EMERGENCY_PLAN),
        action_step("aisha-step", AISHA, COORDINATOR),
        action_step("aisha-own-step", AISHA, MOTHER),
        condition("aisha-asthma", AISHA, "J45.909", ASTHMA),
        condition("aisha-autism", AISHA, "F84.0", AUTISM),
        observation("aisha-weight", AISHA, code_text=WEIGHT),
        observation("aisha-height", AISHA, code_text="height"),
        psychosocial("aisha-psychosocial", AISHA, MOTHER),
        *referral("aisha-to-agency", AISHA, requester=f"Organization/{CLINIC_A}", performer=f"Organization/{AGENCY}"),
        *referral("aisha-to-school", AISHA, requester=f"Organization/{CLINIC_A}", performer=f"Organization/{SCHOOL}"),
        message("aisha-note-to-agency", AISHA, sender=f"Organization/{CLINIC_A}", recipient=f"Organization/{AGENCY}"),
        message("aisha-note-to-school", AISHA, sender=f"Organization/{CLINIC_A}", recipient=f"Organization/{SCHOOL}"),
        letter("aisha-letter-from-agency", AISHA, author=f"Organization/{AGENCY}"),
        letter("aisha-letter-from-school", AISHA, author=f"Organization/{SCHOOL}"),
        goal("ben-goal", BEN),
        condition("ben-asthma", BEN, "J45.909", "ben asthma"),
        {
            "resourceType": "Coverage",
            "id": "ben-coverage",
            "status": "active",
            "beneficiary": ref(f"Patient/{BEN}"),
            "payor": [ref(f"Organization/{BEN_PAYER}")],
        },
        consent("ben-consent", BEN, BEN_PAYER, "goals"),
    ]


def seed(server: LiveServer, *extra: Resource) -> None:
    store(server, *records(), *extra)


# -- callers ----------------------------------------------------------------------------------------


def family(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("family", patient=AISHA, user=MOTHER))


def coordinator(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("care-coordinator", org=CLINIC_A, user=COORDINATOR))


def other_practice(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("care-coordinator", org=CLINIC_B, user=OTHER_DOCTOR))


def payer(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("payer-case-manager", org=PAYER))


def agency(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("referral-partner", org=AGENCY))


def medical_home_ehr(server: LiveServer) -> httpx.Client:
    return client_as(server, token_for("ehr-system", org=CLINIC_A))


# -- helpers ----------------------------------------------------------------------------------------


def issues(response: httpx.Response, *names: str) -> str:
    """An error answer's issues as text, with the names that legitimately differ taken out."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    text = json.dumps(body.get("issue", body), sort_keys=True) if isinstance(body, dict) else response.text
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "<name>")
    return UUID.sub("<generated id>", text)


def assert_same_answer(hidden: httpx.Response, absent: httpx.Response, *names: str) -> None:
    """A hidden resource, or a match on one, answers exactly as nothing at all."""
    assert hidden.status_code == absent.status_code, (hidden.status_code, hidden.text, absent.text)
    if hidden.status_code >= 400:
        assert issues(hidden, *names) == issues(absent, *names)


def ids(response: httpx.Response) -> set[str]:
    """``Type/id`` of every resource in a Bundle answer (matches and includes)."""
    assert response.status_code == 200, response.text
    return {
        f"{entry['resource']['resourceType']}/{entry['resource']['id']}"
        for entry in response.json().get("entry", [])
        if "resource" in entry and entry["resource"]["resourceType"] != "OperationOutcome"
    }


def assert_reveals_nothing(response: httpx.Response) -> None:
    """A search the caller may run but whose matches it may not see: empty, uncounted, unpaged."""
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert [entry for entry in bundle.get("entry", []) if entry.get("search", {}).get("mode") != "outcome"] == []
    assert bundle.get("total", 0) == 0
    assert [link for link in bundle.get("link", []) if link["relation"] != "self"] == []


def current(server: LiveServer, resource_type: str, id: str) -> Resource | None:
    version = server.repository.read(resource_type, id)
    if version is None or version.content is None:
        return None
    resource: Resource = json.loads(version.content)
    return resource


def stored(server: LiveServer, resource_type: str, id: str) -> Resource:
    resource = current(server, resource_type, id)
    assert resource is not None, f"{resource_type}/{id} is gone"
    return resource


def transaction(*entries: Resource) -> Resource:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def json_patch(*operations: Resource) -> tuple[str, dict[str, str]]:
    return json.dumps(list(operations)), {"Content-Type": "application/json-patch+json"}


def patch_entry(url: str, *operations: Resource) -> Resource:
    return {
        "request": {"method": "PATCH", "url": url},
        "resource": {
            "resourceType": "Binary",
            "contentType": "application/json-patch+json",
            "data": base64.b64encode(json.dumps(list(operations)).encode()).decode(),
        },
    }


def observation_referring_to(criteria: str, child: str) -> Resource:
    """A transaction creating an Observation whose ``focus`` is the conditional reference ``criteria``."""
    resource = observation(None, child, code_text="result", focus=[ref(criteria)])
    return transaction({"request": {"method": "POST", "url": "Observation"}, "resource": resource})


# -- (1) conditional interactions are no oracle -------------------------------------------------------


def test_finding_1_if_none_exist_does_not_match_what_the_caller_cannot_see(secure_server: LiveServer) -> None:
    seed(secure_server)
    body = observation(None, AISHA, code_text="result")
    with agency(secure_server) as http:  # no consent for Aisha
        absent = http.post("/Observation", json=body, headers={"If-None-Exist": "_id=no-such-observation"})
        one = http.post("/Observation", json=body, headers={"If-None-Exist": "_id=aisha-weight"})
        several = http.post("/Observation", json=body, headers={"If-None-Exist": f"patient=Patient/{AISHA}"})
    for hidden, criteria in ((one, "_id=aisha-weight"), (several, f"patient=Patient/{AISHA}")):
        assert hidden.status_code not in (200, 412), hidden.text
        assert WEIGHT not in hidden.text
        assert_same_answer(hidden, absent, criteria, "_id=no-such-observation")


def test_finding_1_if_none_exist_on_a_writable_child_is_not_answered_by_a_hidden_match(
    secure_server: LiveServer,
) -> None:
    # The agency may write Ben's results (consent for assessments); Aisha's observation must not match.
    seed(secure_server, consent("ben-agency", BEN, AGENCY, "needs-assessment"))
    body = observation(None, BEN, code_text="result")
    with agency(secure_server) as http:
        absent = http.post("/Observation", json=body, headers={"If-None-Exist": "_id=no-such-observation"})
        hidden = http.post("/Observation", json=body, headers={"If-None-Exist": "_id=aisha-weight"})
    assert hidden.status_code != 200 or hidden.json().get("id") != "aisha-weight"
    assert WEIGHT not in hidden.text
    assert_same_answer(hidden, absent, "_id=aisha-weight", "_id=no-such-observation")


def test_finding_1_conditional_references_resolve_only_to_visible_resources(secure_server: LiveServer) -> None:
    seed(secure_server, consent("ben-agency", BEN, AGENCY, "needs-assessment"))
    nothing = f"Condition?patient=Patient/{AISHA}&code=Z99.9"
    with agency(secure_server) as http:
        for child in (AISHA, BEN):
            absent = http.post("/", json=observation_referring_to(nothing, child))
            for criteria in (f"Condition?patient=Patient/{AISHA}&code=F84.0", f"Condition?patient=Patient/{AISHA}"):
                hidden = http.post("/", json=observation_referring_to(criteria, child))
                assert "matches 2" not in hidden.text and "matches 1 " not in hidden.text, hidden.text
                assert "aisha-autism" not in hidden.text and "aisha-asthma" not in hidden.text
                assert_same_answer(hidden, absent, criteria, nothing)


def test_finding_1_conditional_update_does_not_match_what_the_caller_cannot_see(secure_server: LiveServer) -> None:
    seed(secure_server)
    before = current(secure_server, "Task", "aisha-step")
    task = action_step("aisha-step", AISHA, f"Organization/{AGENCY}")
    with agency(secure_server) as http:
        # The agency may not create Tasks: with nothing it may see matching, that is the only answer. An
        # answer that the id is taken ("exists but does not match") would confirm the hidden Task.
        absent = http.put("/Task", params={"_id": "no-such-task"}, json={**task, "id": "no-such-task"})
        hidden = http.put("/Task", params={"_id": "aisha-step"}, json=task)
        several = http.put(
            "/Task", params={"patient": f"Patient/{AISHA}"}, json={k: v for k, v in task.items() if k != "id"}
        )
        absent_several = http.put(
            "/Task", params={"patient": "Patient/no-such-child"}, json={k: v for k, v in task.items() if k != "id"}
        )
    assert_same_answer(hidden, absent, "aisha-step", "no-such-task")
    assert several.status_code != 412, several.text
    assert_same_answer(several, absent_several, AISHA, "no-such-child")
    assert current(secure_server, "Task", "aisha-step") == before


def test_finding_1_conditional_patch_in_a_transaction_does_not_match_what_the_caller_cannot_see(
    secure_server: LiveServer,
) -> None:
    seed(secure_server)
    before = current(secure_server, "Task", "aisha-step")
    operation = {"op": "replace", "path": "/status", "value": "cancelled"}
    with agency(secure_server) as http:
        absent = http.post("/", json=transaction(patch_entry("Task?_id=no-such-task", operation)))
        hidden = http.post("/", json=transaction(patch_entry("Task?_id=aisha-step", operation)))
    assert_same_answer(hidden, absent, "aisha-step", "no-such-task")
    assert current(secure_server, "Task", "aisha-step") == before


def test_finding_1_conditional_delete_does_not_match_what_the_caller_cannot_see(secure_server: LiveServer) -> None:
    # The referral partner has no delete scope at all; another practice's EHR does, but treats no one here.
    seed(secure_server)
    with client_as(secure_server, token_for("ehr-system", org=CLINIC_B)) as http:
        absent = http.delete("/Observation", params={"_id": "no-such-observation"})
        one = http.delete("/Observation", params={"_id": "aisha-weight"})
        absent_several = http.delete("/Observation", params={"patient": "Patient/no-such-child"})
        several = http.delete("/Observation", params={"patient": f"Patient/{AISHA}"})
    assert_same_answer(one, absent, "aisha-weight", "no-such-observation")
    assert several.status_code != 412, several.text
    assert_same_answer(several, absent_several, AISHA, "no-such-child")
    assert current(secure_server, "Observation", "aisha-weight") is not None
    assert current(secure_server, "Observation", "aisha-height") is not None


def test_finding_1_id_criteria_are_no_oracle(secure_server: LiveServer) -> None:
    seed(secure_server)
    with agency(secure_server) as http:
        assert_reveals_nothing(http.get("/Observation", params={"_id": "aisha-weight", "_total": "accurate"}))
        assert_reveals_nothing(http.get("/ServiceRequest", params={"_id": "aisha-to-agency", "_total": "accurate"}))
        hidden = http.get("/Observation/aisha-weight")
        absent = http.get("/Observation/no-such-observation")
    assert hidden.status_code == 404
    assert_same_answer(hidden, absent, "aisha-weight", "no-such-observation")


# -- (2) _has on directory types under a patient-confined token --------------------------------------


@pytest.mark.parametrize(
    ("path", "criteria", "revealed"),
    [
        ("/Practitioner", {"_has:CareTeam:participant:patient": f"Patient/{BEN}"}, BEN_SPECIALIST),
        ("/Practitioner", {"_has:CareTeam:participant:subject": f"Patient/{BEN}"}, BEN_SPECIALIST),
        ("/Organization", {"_has:Consent:actor:patient": f"Patient/{BEN}"}, f"Organization/{BEN_PAYER}"),
        ("/Organization", {"_has:Coverage:payor:patient": f"Patient/{BEN}"}, f"Organization/{BEN_PAYER}"),
        ("/Organization", {"_has:Coverage:payor:beneficiary": f"Patient/{BEN}"}, f"Organization/{BEN_PAYER}"),
    ],
    ids=["care-team-patient", "care-team-subject", "consent-actor", "coverage-patient", "coverage-beneficiary"],
)
def test_finding_2_has_on_directory_types_does_not_reveal_another_childs_team_or_payer(
    secure_server: LiveServer, path: str, criteria: dict[str, str], revealed: str
) -> None:
    seed(secure_server, consent("aisha-payer", AISHA, PAYER, "goals"))
    with family(secure_server) as http:
        response = http.get(path, params=criteria)
        assert revealed not in ids(response)
        assert_reveals_nothing(response)
        # The same question about the family's own child is answered (the query itself works).
        own = {name: value.replace(BEN, AISHA) for name, value in criteria.items()}
        expected = {"/Practitioner": COORDINATOR, "/Organization": f"Organization/{PAYER}"}[path]
        if "Coverage" not in next(iter(criteria)):
            assert expected in ids(http.get(path, params=own))


# -- (3) counts and paging links ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/Condition", {"patient": AISHA, "_count": "1"}),
        ("/Condition", {"patient": f"Patient/{AISHA}", "_count": "1", "_total": "accurate"}),
        ("/Condition", {"_count": "1", "_total": "accurate"}),
        ("/Observation", {"subject": f"Patient/{AISHA}", "_count": "1", "_total": "accurate"}),
        ("/Goal", {"patient": AISHA, "_count": "1", "_total": "accurate"}),
        (f"/Patient/{AISHA}/Condition", {"_count": "1", "_total": "accurate"}),
        ("/Condition/_history", {"_count": "1"}),
    ],
    ids=[
        "condition-by-patient-id",
        "condition-by-patient-reference",
        "every-condition",
        "observation-by-subject",
        "goal-by-patient",
        "compartment",
        "type-history",
    ],
)
def test_finding_3_paging_and_counts_reveal_nothing_to_a_payer_without_consent(
    secure_server: LiveServer, path: str, params: dict[str, str]
) -> None:
    seed(secure_server)
    with payer(secure_server) as http:
        assert_reveals_nothing(http.get(path, params=params))


# -- (4) sensitive labels -----------------------------------------------------------------------------


def plan_with_contained_worry(id: str) -> Resource:
    plan = care_plan(id, AISHA, title=PLAN)
    plan["contained"] = [
        labelled(
            {
                "resourceType": "Condition",
                "id": "worry",
                "code": {"text": WORRY},
                "subject": ref(f"Patient/{AISHA}"),
            },
            "MH",
        )
    ]
    plan["addresses"] = [ref("#worry")]
    return plan


def test_finding_4_a_contained_labelled_resource_hides_its_container(secure_server: LiveServer) -> None:
    classes = ("care-plan", "medical-summary", "goals")
    seed(secure_server, plan_with_contained_worry("aisha-worry-plan"), consent("aisha-payer", AISHA, PAYER, *classes))
    with payer(secure_server) as http:
        assert http.get("/CarePlan/aisha-plan").status_code == 200  # the consent does open plans
        hidden = http.get("/CarePlan/aisha-worry-plan")
        assert_same_answer(hidden, http.get("/CarePlan/no-such-plan"), "aisha-worry-plan", "no-such-plan")
        assert hidden.status_code == 404
        assert "CarePlan/aisha-worry-plan" not in ids(http.get("/CarePlan", params={"patient": AISHA}))
        assert "CarePlan/aisha-worry-plan" not in ids(http.get(f"/Patient/{AISHA}/$everything"))
        assert WORRY not in http.get(f"/Patient/{AISHA}/$everything").text
        assert WORRY not in http.get("/CarePlan/_history").text
    store(secure_server, consent("aisha-payer", AISHA, PAYER, *classes, labels=("MH",)))
    with payer(secure_server) as http:
        assert http.get("/CarePlan/aisha-worry-plan").status_code == 200


def test_finding_4_a_later_label_hides_the_earlier_versions(secure_server: LiveServer) -> None:
    seed(secure_server, goal("aisha-sleep", AISHA), consent("aisha-payer", AISHA, PAYER, "goals"))
    store(secure_server, labelled(goal("aisha-sleep", AISHA), "SOC"))  # version 2, labelled
    with payer(secure_server) as http:
        assert http.get("/Goal/aisha-goal").status_code == 200  # the consent does open goals
        for path in ("/Goal/aisha-sleep", "/Goal/aisha-sleep/_history/1", "/Goal/aisha-sleep/_history/2"):
            hidden = http.get(path)
            assert hidden.status_code == 404, path
            absent = http.get(path.replace("aisha-sleep", "no-such-goal"))
            assert_same_answer(hidden, absent, "aisha-sleep", "no-such-goal")
        instance = http.get("/Goal/aisha-sleep/_history")
        absent_instance = http.get("/Goal/no-such-goal/_history")
        if instance.status_code == 200:
            assert_reveals_nothing(instance)
        assert_same_answer(instance, absent_instance, "aisha-sleep", "no-such-goal")
        history = http.get("/Goal/_history")
        assert history.status_code == 200
        assert [e for e in history.json().get("entry", []) if "aisha-sleep" in e["fullUrl"]] == []
        assert history.json()["total"] == 1  # aisha-goal's one version
        system = http.get("/_history")
        if system.status_code == 200:
            assert "aisha-sleep" not in system.text
        assert "Goal/aisha-sleep" not in ids(http.get("/Goal", params={"patient": AISHA}))


def test_finding_4_an_icd10cm_chapter_f_code_given_by_oid_is_behavioral_health(secure_server: LiveServer) -> None:
    depression = condition("aisha-depression", AISHA, "F32.9", "depression-marker", system=ICD10CM_OID)
    seed(secure_server, depression, consent("aisha-payer", AISHA, PAYER, "medical-summary"))
    with payer(secure_server) as http:
        assert http.get("/Condition/aisha-asthma").status_code == 200  # the consent does open conditions
        hidden = http.get("/Condition/aisha-depression")
        assert hidden.status_code == 404
        assert_same_answer(hidden, http.get("/Condition/no-such-condition"), "aisha-depression", "no-such-condition")
        assert ids(http.get("/Condition", params={"patient": AISHA})) == {"Condition/aisha-asthma"}
        assert_reveals_nothing(http.get("/Condition", params={"code": "F32.9", "_total": "accurate"}))
    store(secure_server, consent("aisha-payer", AISHA, PAYER, "medical-summary", labels=("BH",)))
    with payer(secure_server) as http:
        assert http.get("/Condition/aisha-depression").status_code == 200


# -- (5) consent granularity --------------------------------------------------------------------------


def test_finding_5_a_payer_sees_only_the_classes_its_consent_lists(secure_server: LiveServer) -> None:
    seed(secure_server, consent("aisha-payer", AISHA, PAYER, "goals", "referrals"))
    with payer(secure_server) as http:
        assert http.get(f"/Patient/{AISHA}").status_code == 200
        assert http.get("/Goal/aisha-goal").status_code == 200
        for path in (
            "/Condition/aisha-asthma",
            "/Observation/aisha-weight",
            "/CarePlan/aisha-plan",
            "/CarePlan/aisha-emergency",
            "/CareTeam/aisha-team",
        ):
            assert http.get(path).status_code == 404, path
        assert_reveals_nothing(http.get("/Condition", params={"patient": AISHA, "_total": "accurate"}))
        assert_reveals_nothing(http.get("/Observation", params={"patient": AISHA, "_total": "accurate"}))
        assert_reveals_nothing(http.get("/CarePlan", params={"patient": AISHA, "_total": "accurate"}))
        everything = http.get(f"/Patient/{AISHA}/$everything")
        found = ids(everything)
        assert {f"Patient/{AISHA}", "Goal/aisha-goal"} <= found
        assert {name.split("/")[0] for name in found} <= {"Patient", "Goal", "Organization", "Practitioner"}
        for marker in (ASTHMA, AUTISM, WEIGHT, PLAN, STEP):
            assert marker not in everything.text
        record = http.get(f"/coordination/children/{AISHA}")
        assert record.status_code in (200, 403, 404)
        for marker in (ASTHMA, AUTISM, WEIGHT, PLAN, STEP):
            assert marker not in record.text, marker


def test_finding_5_an_agency_sees_only_the_referrals_that_name_it(secure_server: LiveServer) -> None:
    seed(secure_server, consent("aisha-agency", AISHA, AGENCY, "referrals"))
    with agency(secure_server) as http:
        for path in (
            "/ServiceRequest/aisha-to-agency",
            "/Task/aisha-to-agency-task",
            "/Communication/aisha-note-to-agency",
            "/DocumentReference/aisha-letter-from-agency",
        ):
            assert http.get(path).status_code == 200, path
        for path in (
            "/ServiceRequest/aisha-to-school",
            "/Task/aisha-to-school-task",
            "/Communication/aisha-note-to-school",
            "/DocumentReference/aisha-letter-from-school",
            "/Task/aisha-step",
            "/Observation/aisha-weight",
        ):
            assert http.get(path).status_code == 404, path
        assert http.get("/QuestionnaireResponse/aisha-psychosocial").status_code in (403, 404)
        assert ids(http.get("/ServiceRequest", params={"patient": AISHA})) == {"ServiceRequest/aisha-to-agency"}
        assert ids(http.get("/Task", params={"patient": AISHA})) == {"Task/aisha-to-agency-task"}
        assert ids(http.get("/DocumentReference", params={"patient": AISHA})) == {
            "DocumentReference/aisha-letter-from-agency"
        }
        assert_reveals_nothing(http.get("/Observation", params={"patient": AISHA, "_total": "accurate"}))


def test_finding_5_a_label_and_a_class_must_be_shared_by_the_same_consent(secure_server: LiveServer) -> None:
    # One Consent shares goals, another shares the psychosocial assessment (SOC): a goal labelled SOC is
    # shared by neither of them, and so not by the two together.
    seed(
        secure_server,
        labelled(goal("aisha-club", AISHA), "SOC"),
        consent("aisha-payer-goals", AISHA, PAYER, "goals"),
        consent("aisha-payer-assessment", AISHA, PAYER, "needs-assessment", labels=("SOC",)),
    )
    with payer(secure_server) as http:
        assert http.get("/Goal/aisha-goal").status_code == 200
        assert http.get("/Observation/aisha-weight").status_code == 200
        assert http.get("/Goal/aisha-club").status_code == 404
        assert ids(http.get("/Goal", params={"patient": AISHA})) == {"Goal/aisha-goal"}


# -- (6) fail closed ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "user/*.rs"},
        {"scope": "user/*.rs", "patient": AISHA},
        {"scope": "user/*.rs", "fhirUser": "Practitioner/stranger"},
        {"scope": "user/*.rs", "fhirbridge_team": "treating"},
    ],
    ids=["bare", "patient-claim", "unrelated-user", "team-claim"],
)
def test_finding_6_a_user_token_without_an_organization_reads_nothing_of_a_child(
    secure_server: LiveServer, claims: dict[str, str]
) -> None:
    seed(secure_server)
    with client_as(secure_server, signed(claims)) as http:
        assert http.get(f"/Organization/{CLINIC_A}").status_code == 200  # directory: by scopes alone
        for path in (f"/Patient/{AISHA}", "/Goal/aisha-goal", "/Condition/aisha-asthma", "/Task/aisha-step"):
            assert http.get(path).status_code == 404, path
        everything = http.get(f"/Patient/{AISHA}/$everything")
        assert everything.status_code != 200 or ids(everything) <= {f"Organization/{CLINIC_A}"}
        assert ASTHMA not in everything.text
        assert http.get(f"/Patient/{AISHA}/$summary").status_code != 200
        assert http.get(f"/coordination/children/{AISHA}").status_code != 200
        for path in ("/Patient", "/Goal", "/Condition", "/Task", "/Goal/_history"):
            assert_reveals_nothing(http.get(path, params={"_total": "accurate"}))


# -- (7) the treating relationship comes from the data ------------------------------------------------


def test_finding_7_another_practice_reads_and_writes_nothing_of_the_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    changed = goal("aisha-goal", AISHA, description_text="changed by another practice")
    before = current(secure_server, "Goal", "aisha-goal")
    with other_practice(secure_server) as http:
        for path in (f"/Patient/{AISHA}", "/Goal/aisha-goal", "/Condition/aisha-asthma"):
            assert http.get(path).status_code == 404, path
        assert_reveals_nothing(http.get("/Goal", params={"patient": AISHA, "_total": "accurate"}))
        assert http.put("/Goal/aisha-goal", json=changed).status_code in (403, 404)
        body, headers = json_patch({"op": "replace", "path": "/lifecycleStatus", "value": "cancelled"})
        assert http.patch("/Goal/aisha-goal", content=body, headers=headers).status_code in (403, 404)
        created = http.post("/Goal", json=goal(None, AISHA))
        assert created.status_code in (403, 404)
    assert current(secure_server, "Goal", "aisha-goal") == before
    with coordinator(secure_server) as http:  # on Aisha's care team
        assert http.get("/Goal/aisha-goal").status_code == 200
        assert http.put("/Goal/aisha-goal", json=changed).status_code == 200


TREATED_BY_DATA = {
    # How cara's record names the practice, and the practice's token.
    "managing-organization": (
        [patient("cara", family="Cara", managingOrganization=ref(f"Organization/{CLINIC_B}"))],
        {"org": CLINIC_B},
    ),
    "general-practitioner": (
        [patient("cara", family="Cara", generalPractitioner=[ref(OTHER_DOCTOR)])],
        {"user": OTHER_DOCTOR},
    ),
    "care-team-organization": (
        [patient("cara", family="Cara"), care_team("cara-team", "cara", f"Organization/{CLINIC_B}")],
        {"org": CLINIC_B},
    ),
    "care-team-practitioner": (
        [patient("cara", family="Cara"), care_team("cara-team", "cara", OTHER_DOCTOR)],
        {"org": CLINIC_B, "user": OTHER_DOCTOR},
    ),
}


@pytest.mark.parametrize("named_by", list(TREATED_BY_DATA))
def test_finding_7_a_practice_named_by_the_data_treats_the_child(secure_server: LiveServer, named_by: str) -> None:
    resources, claims = TREATED_BY_DATA[named_by]
    seed(secure_server, *resources, goal("cara-goal", "cara"))
    with client_as(secure_server, token_for("care-coordinator", **claims)) as http:
        assert http.get("/Patient/cara").status_code == 200
        assert http.get("/Goal/cara-goal").status_code == 200
        assert http.put("/Goal/cara-goal", json=goal("cara-goal", "cara")).status_code == 200
        assert http.get("/Goal/aisha-goal").status_code == 404  # and only that child


def test_finding_7_a_deleted_care_team_treats_no_one(secure_server: LiveServer) -> None:
    seed(secure_server, patient("cara", family="Cara"), care_team("cara-team", "cara", f"Organization/{CLINIC_B}"))
    secure_server.repository.run_write(lambda tx: tx.delete("CareTeam", "cara-team"))
    with client_as(secure_server, token_for("care-coordinator", org=CLINIC_B)) as http:
        assert http.get("/Patient/cara").status_code == 404


@pytest.fixture
def claim_mode_server(secure_server: LiveServer) -> Iterator[LiveServer]:
    """A second server on the same store, in single-practice mode (the team claim is trusted)."""
    server = LiveServer(secure_server.repository, secure_settings(treating_relationship="claim"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_finding_7_in_claim_mode_the_team_claim_opens_the_child(
    secure_server: LiveServer, claim_mode_server: LiveServer
) -> None:
    seed(secure_server)
    changed = goal("aisha-goal", AISHA, description_text="changed in single-practice mode")
    with other_practice(claim_mode_server) as http:
        assert http.get(f"/Patient/{AISHA}").status_code == 200
        assert http.get("/Condition/aisha-autism").status_code == 200
        assert ids(http.get("/Goal", params={"patient": AISHA})) == {"Goal/aisha-goal"}
        assert http.put("/Goal/aisha-goal", json=changed).status_code == 200
    with other_practice(secure_server) as http:  # the default server still refuses
        assert http.get("/Goal/aisha-goal").status_code == 404
    with client_as(claim_mode_server, token_for("payer-case-manager", org=PAYER)) as http:
        assert http.get("/Goal/aisha-goal").status_code == 404  # no team claim: consent still needed


# -- (8) writes ---------------------------------------------------------------------------------------


def test_finding_8_a_referral_partner_cannot_make_itself_the_requester(secure_server: LiveServer) -> None:
    seed(secure_server, consent("aisha-agency", AISHA, AGENCY, "referrals"))
    task = current(secure_server, "Task", "aisha-to-agency-task")
    assert task is not None
    task = {k: v for k, v in task.items() if k != "meta"}
    with agency(secure_server) as http:
        as_requester = {**task, "requester": ref(f"Organization/{AGENCY}")}
        assert http.put("/Task/aisha-to-agency-task", json=as_requester).status_code in (403, 422)
        cancelled = {**as_requester, "status": "cancelled"}
        assert http.put("/Task/aisha-to-agency-task", json=cancelled).status_code in (403, 422)
        body, headers = json_patch({"op": "replace", "path": "/requester/reference", "value": f"Organization/{AGENCY}"})
        assert http.patch("/Task/aisha-to-agency-task", content=body, headers=headers).status_code in (403, 422)
        stored = current(secure_server, "Task", "aisha-to-agency-task")
        assert stored is not None and stored["requester"] == ref(f"Organization/{CLINIC_A}")
        # What it may do: accept the referral sent to it.
        assert http.put("/Task/aisha-to-agency-task", json={**task, "status": "accepted"}).status_code == 200


def test_finding_8_a_referral_partner_cannot_make_itself_the_owner(secure_server: LiveServer) -> None:
    onward = referral("aisha-onward", AISHA, requester=f"Organization/{AGENCY}", performer=f"Organization/{SCHOOL}")
    seed(secure_server, *onward, consent("aisha-agency", AISHA, AGENCY, "referrals"))
    task = {k: v for k, v in onward[1].items() if k != "meta"}
    with agency(secure_server) as http:
        assert http.get("/Task/aisha-onward-task").status_code == 200  # it names the agency as requester
        taken = {**task, "owner": ref(f"Organization/{AGENCY}")}
        assert http.put("/Task/aisha-onward-task", json=taken).status_code in (403, 422)
        assert http.put("/Task/aisha-onward-task", json={**taken, "status": "accepted"}).status_code in (403, 422)
    stored = current(secure_server, "Task", "aisha-onward-task")
    assert stored is not None and stored["owner"] == ref(f"Organization/{SCHOOL}")
    assert stored["status"] == "requested"


def test_finding_8_a_family_cannot_reassign_a_task_or_forge_its_output(secure_server: LiveServer) -> None:
    seed(secure_server)
    output = [{"type": {"text": "result"}, "valueString": "done, all fine"}]
    with family(secure_server) as http:
        # The coordinator's action step, taken over by the family.
        step = {**action_step("aisha-step", AISHA, COORDINATOR), "owner": ref(MOTHER)}
        assert http.put("/Task/aisha-step", json=step).status_code == 403
        # A referral's result, forged by the family.
        referral_task = current(secure_server, "Task", "aisha-to-agency-task")
        assert referral_task is not None
        forged = {**{k: v for k, v in referral_task.items() if k != "meta"}, "output": output}
        assert http.put("/Task/aisha-to-agency-task", json=forged).status_code == 403
        # Its own step: the output and the owner are not the family's to set either.
        own = action_step("aisha-own-step", AISHA, MOTHER)
        assert http.put("/Task/aisha-own-step", json={**own, "output": output}).status_code == 403
        assert http.put("/Task/aisha-own-step", json={**own, "owner": ref(COORDINATOR)}).status_code == 403
        body, headers = json_patch({"op": "add", "path": "/output", "value": output})
        assert http.patch("/Task/aisha-own-step", content=body, headers=headers).status_code == 403
    assert stored(secure_server, "Task", "aisha-step")["owner"] == ref(COORDINATOR)
    assert "output" not in stored(secure_server, "Task", "aisha-to-agency-task")
    own_stored = current(secure_server, "Task", "aisha-own-step")
    assert own_stored is not None and "output" not in own_stored and own_stored["owner"] == ref(MOTHER)
    with family(secure_server) as http:
        # What it may do: move its own step along, and add a note.
        assert http.put("/Task/aisha-own-step", json={**own, "status": "in-progress"}).status_code == 200
        note = {**own, "status": "in-progress", "note": [{"text": "booked for Tuesday"}]}
        assert http.put("/Task/aisha-own-step", json=note).status_code == 200


def test_finding_8_a_family_cannot_cancel_the_coordinators_action_step(secure_server: LiveServer) -> None:
    seed(secure_server)
    with family(secure_server) as http:
        cancelled = {**action_step("aisha-step", AISHA, COORDINATOR), "status": "cancelled"}
        assert http.put("/Task/aisha-step", json=cancelled).status_code == 403
        body, headers = json_patch({"op": "replace", "path": "/status", "value": "cancelled"})
        assert http.patch("/Task/aisha-step", content=body, headers=headers).status_code == 403
        bundle = transaction(patch_entry("Task/aisha-step", {"op": "replace", "path": "/status", "value": "cancelled"}))
        assert http.post("/", json=bundle).status_code == 403
    assert stored(secure_server, "Task", "aisha-step")["status"] == "requested"


def test_finding_8_a_family_cannot_answer_for_another_child(secure_server: LiveServer) -> None:
    seed(secure_server)
    answers = {k: v for k, v in psychosocial("x", BEN, MOTHER).items() if k not in ("id", "meta")}
    with family(secure_server) as http:
        assert http.post("/QuestionnaireResponse", json=answers).status_code == 403
        bundle = transaction({"request": {"method": "POST", "url": "QuestionnaireResponse"}, "resource": answers})
        assert http.post("/", json=bundle).status_code == 403
        # Its own child's answers, authored by itself, it may post.
        own = {**answers, "subject": ref(f"Patient/{AISHA}")}
        assert http.post("/QuestionnaireResponse", json=own).status_code == 201
    with medical_home_ehr(secure_server) as http:
        assert ids(http.get("/QuestionnaireResponse", params={"patient": BEN})) == set()


# -- (9) $everything and $summary return only the visible part ------------------------------------------


def test_finding_9_everything_returns_only_what_the_caller_may_see(secure_server: LiveServer) -> None:
    seed(
        secure_server,
        consent("aisha-payer", AISHA, PAYER, "goals"),
        consent("aisha-agency", AISHA, AGENCY, "referrals"),
    )
    directory = {"Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService"}
    with payer(secure_server) as http:
        response = http.get(f"/Patient/{AISHA}/$everything")
        found = ids(response)
        assert {name for name in found if name.split("/")[0] not in directory} == {
            f"Patient/{AISHA}",
            "Goal/aisha-goal",
        }
        assert response.json().get("total", len(found)) == len(found)
    with agency(secure_server) as http:
        response = http.get(f"/Patient/{AISHA}/$everything")
        found = ids(response)
        shared = {f"Patient/{AISHA}", "ServiceRequest/aisha-to-agency", "Task/aisha-to-agency-task"}
        # The referrals that name the agency (its Communication too, where $everything finds those).
        naming_it = {"DocumentReference/aisha-letter-from-agency", "Communication/aisha-note-to-agency"}
        record = {name for name in found if name.split("/")[0] not in directory}
        assert shared <= record <= shared | naming_it
        assert response.json().get("total", len(found)) == len(found)
        paged = http.get(f"/Patient/{AISHA}/$everything", params={"_count": "1"})
        assert paged.json().get("total", 0) == len(found)


def test_finding_9_summary_returns_only_what_the_caller_may_see(secure_server: LiveServer) -> None:
    seed(secure_server, consent("aisha-payer", AISHA, PAYER, "goals"))
    with payer(secure_server) as http:
        response = http.get(f"/Patient/{AISHA}/$summary")
        assert response.status_code == 200, response.text
        resources = [entry["resource"] for entry in response.json()["entry"]]
        assert resources[0]["resourceType"] == "Composition"
        assert {f"{r['resourceType']}/{r['id']}" for r in resources[1:]} <= {f"Patient/{AISHA}", "Goal/aisha-goal"}
        for marker in (ASTHMA, AUTISM, WEIGHT, PLAN, STEP):
            assert marker not in response.text, marker
        html = http.get(f"/Patient/{AISHA}/$summary", params={"_format": "html"})
        for marker in (ASTHMA, AUTISM, WEIGHT, PLAN, STEP):
            assert marker not in html.text, marker
    with coordinator(secure_server) as http:  # the treating coordinator's summary holds the whole plan
        assert ASTHMA in http.get(f"/Patient/{AISHA}/$summary").text
