"""Closed-loop referrals as the Gravity SDOH Clinical Care guide has them, over HTTP on both backends.

Who the parties may be (an Organization or a PractitionerRole), why a referral was turned down
(``statusReason``), what the performer did (a Procedure it may create, named by a ``resulting-activity``
output), the ServiceRequest kept in step with its Task, the performer's notes in the record, and a
referral to an organization the record does not know yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.provenance import Provenance

from fhirbridge.classification import SHARED_INFORMATION
from fhirbridge.domain import Child, Organization, Record, Referral, StatusChange, record_to_json
from fhirbridge.domain.plan import ProgressNote
from fhirbridge.errors import Forbidden
from fhirbridge.mappers import record_from_resources, record_to_resources
from fhirbridge.security.write_rules import WriteCaller, check_write
from tests.conftest import LiveServer
from tests.factories import care_team, organization
from tests.security import records
from tests.security.conftest import CHILD, OTHER_CHILD, client_as, store, token_for

Resource = dict[str, Any]

TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
SDOHCC_CODES = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
MEDICAL_HOME = "Organization/medical-home"
AGENCY = "noor-audiology"
SCHOOL = "school-1"


def service_request(id: str, child: str = CHILD, *, requester: str = MEDICAL_HOME, performer: str) -> Resource:
    return {
        "resourceType": "ServiceRequest",
        "id": id,
        "status": "active",
        "intent": "order",
        "code": {"text": "Hearing evaluation"},
        "subject": {"reference": f"Patient/{child}"},
        "requester": {"reference": requester},
        "performer": [{"reference": performer}],
    }


def referral_task(
    id: str, status: str, child: str = CHILD, *, requester: str = MEDICAL_HOME, owner: str, **extra: Any
) -> Resource:
    return {
        "resourceType": "Task",
        "id": f"{id}-task",
        "status": status,
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{id}"},
        "for": {"reference": f"Patient/{child}"},
        "requester": {"reference": requester},
        "owner": {"reference": owner},
        **extra,
    }


def referral(id: str, status: str, child: str = CHILD, *, requester: str = MEDICAL_HOME, owner: str) -> list[Resource]:
    """A ServiceRequest and its Task (``<id>-task``), from requester to owner."""
    return [
        service_request(id, child, requester=requester, performer=owner),
        referral_task(id, status, child, requester=requester, owner=owner),
    ]


def reason(text: str) -> Resource:
    return {"statusReason": {"text": text}}


def procedure(child: str = CHILD, *, based_on: str | None = "ServiceRequest/hearing", performer: str) -> Resource:
    resource: Resource = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"text": "Pure-tone audiometry"},
        "subject": {"reference": f"Patient/{child}"},
        "performedDateTime": "2026-03-02T10:00:00Z",
        "performer": [{"actor": {"reference": performer}}],
    }
    if based_on is not None:
        resource["basedOn"] = [{"reference": based_on}]
    return resource


def resulting_activity(reference: str) -> Resource:
    return {
        "type": {"coding": [{"system": SDOHCC_CODES, "code": "resulting-activity"}]},
        "valueReference": {"reference": reference},
    }


def referrals_consent(id: str, child: str, org: str) -> Resource:
    """The family shares the referrals that name ``org``, and nothing else of the child's record."""
    consent = records.consent(id, child, org)
    consent["provision"]["class"] = [{"system": SHARED_INFORMATION, "code": "referrals"}]
    return consent


def put(http: httpx.Client, resource: Resource, status: int = 200) -> httpx.Response:
    response = http.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code == status, response.text
    return response


def stored(server: LiveServer, resource_type: str, id: str) -> Resource:
    version = server.repository.read(resource_type, id)
    assert version is not None and version.content is not None
    resource: Resource = json.loads(version.content)
    return resource


def provenances_of(server: LiveServer, target: str) -> list[Resource]:
    """The Provenance of every version of ``target`` (``Type/id``), from the store."""
    page = server.repository.history(resource_type="Provenance", count=1000)
    found = [json.loads(version.content) for version in page.versions if version.content is not None]
    return [p for p in found if any(t["reference"].startswith(f"{target}/_history/") for t in p["target"])]


def seed_parties(client: httpx.Client) -> None:
    """Ana, the medical home and the audiology agency, for a server that checks references."""
    for resource in (
        organization("medical-home"),
        organization(AGENCY),
        {"resourceType": "Patient", "id": CHILD, "managingOrganization": {"reference": MEDICAL_HOME}},
    ):
        put(client, resource, 201)


def issue(response: httpx.Response) -> Resource:
    first: Resource = response.json()["issue"][0]
    return first


# -- (b) a rejection or a cancellation says why -------------------------------------------------------------


def test_a_rejection_or_a_cancellation_must_say_why(client: httpx.Client) -> None:
    seed_parties(client)
    for resource in referral("hearing", "requested", owner=f"Organization/{AGENCY}"):
        put(client, resource, 201)
    rejected = referral_task("hearing", "rejected", owner=f"Organization/{AGENCY}")
    refused = client.put("/Task/hearing-task", json=rejected)
    assert refused.status_code == 422
    assert issue(refused)["code"] == "business-rule"
    assert issue(refused)["expression"] == ["Task.statusReason"]
    blank = client.put("/Task/hearing-task", json={**rejected, "statusReason": {"text": "  "}})
    assert blank.status_code == 422
    coded = {"coding": [{"system": SDOHCC_CODES, "code": "no-capacity", "display": "No capacity"}]}
    assert client.put("/Task/hearing-task", json={**rejected, "statusReason": coded}).status_code == 200

    cancelled = referral_task("again", "cancelled", owner=f"Organization/{AGENCY}")
    put(client, service_request("again", performer=f"Organization/{AGENCY}"), 201)
    arriving_cancelled = client.put("/Task/again-task", json=cancelled)
    assert arriving_cancelled.status_code == 422  # even a referral synced mid-way says why it was cancelled
    assert issue(arriving_cancelled)["expression"] == ["Task.statusReason"]
    assert client.put("/Task/again-task", json={**cancelled, **reason("Family moved away")}).status_code == 201


# -- (d) the ServiceRequest is kept in step with its Task ---------------------------------------------------


def test_the_request_follows_its_task_to_completed_or_revoked(client: httpx.Client) -> None:
    seed_parties(client)
    owner = f"Organization/{AGENCY}"
    for id in ("done", "turned-down", "withdrawn", "failed"):
        for resource in referral(id, "requested", owner=owner):
            put(client, resource, 201)

    def request_status(id: str) -> str:
        status: str = client.get(f"/ServiceRequest/{id}").json()["status"]
        return status

    for status in ("accepted", "in-progress"):
        put(client, referral_task("done", status, owner=owner))
        assert request_status("done") == "active"
    put(client, referral_task("done", "completed", owner=owner))
    assert request_status("done") == "completed"
    put(client, referral_task("turned-down", "rejected", owner=owner, **reason("No capacity")))
    assert request_status("turned-down") == "revoked"
    put(client, referral_task("withdrawn", "cancelled", owner=owner, **reason("Seen elsewhere")))
    assert request_status("withdrawn") == "revoked"
    put(client, referral_task("failed", "accepted", owner=owner))
    put(client, referral_task("failed", "failed", owner=owner))
    assert request_status("failed") == "revoked"
    # The request moved once, in the Task's own write: one new version each.
    history = client.get("/ServiceRequest/done/_history").json()
    assert [entry["resource"]["status"] for entry in history["entry"]] == ["completed", "active"]
    # Marking the Task entered-in-error leaves the request as it stands.
    put(client, referral_task("done", "entered-in-error", owner=owner))
    assert request_status("done") == "completed"


def test_a_completed_task_completes_its_request_inside_a_transaction(client: httpx.Client) -> None:
    seed_parties(client)
    owner = f"Organization/{AGENCY}"
    for resource in referral("hearing", "in-progress", owner=owner):
        put(client, resource, 201)
    completed = referral_task("hearing", "completed", owner=owner)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": completed, "request": {"method": "PUT", "url": "Task/hearing-task"}}],
    }
    assert client.post("/", json=bundle).status_code == 200
    assert client.get("/ServiceRequest/hearing").json()["status"] == "completed"
    # A request already closed is not moved again (nor reopened).
    revoked = {**service_request("closed", performer=owner), "status": "revoked"}
    put(client, revoked, 201)
    put(client, referral_task("closed", "in-progress", owner=owner), 201)
    put(client, referral_task("closed", "completed", owner=owner))
    assert client.get("/ServiceRequest/closed").json()["status"] == "revoked"


def test_a_task_moves_only_its_own_childs_request(client: httpx.Client) -> None:
    seed_parties(client)
    put(client, {"resourceType": "Patient", "id": OTHER_CHILD}, 201)
    owner = f"Organization/{AGENCY}"
    put(client, service_request("bens", OTHER_CHILD, performer=owner), 201)
    # A Task for Ana pointing at Ben's request (a mistake, or worse) completes nothing of Ben's.
    put(client, referral_task("bens", "completed", owner=owner), 201)
    assert client.get("/ServiceRequest/bens").json()["status"] == "active"


# -- (a) an Organization or a PractitionerRole as a party, (c) the performer's Procedure: authentication on ----


@pytest.fixture
def world(secure_server: LiveServer) -> LiveServer:
    """Ana, treated by the medical home; the audiology agency and the school each hold a consent that
    shares the referrals naming them; a hearing referral from the medical home to the agency, accepted."""
    store(
        secure_server,
        records.practice_child(CHILD),
        records.practice_child(OTHER_CHILD),
        organization("medical-home"),
        organization(AGENCY),
        organization(SCHOOL),
        referrals_consent("ana-agency", CHILD, AGENCY),
        referrals_consent("ana-school", CHILD, SCHOOL),
        referrals_consent("ben-agency", OTHER_CHILD, AGENCY),
        *referral("hearing", "accepted", owner=f"Organization/{AGENCY}"),
        *referral("ben-hearing", "accepted", OTHER_CHILD, owner=f"Organization/{AGENCY}"),
        *referral("reading", "accepted", owner=f"Organization/{SCHOOL}"),
        *referral("waiting", "requested", owner=f"Organization/{AGENCY}"),
    )
    return secure_server


@pytest.fixture
def agency(world: LiveServer) -> Iterator[httpx.Client]:
    with client_as(world, token_for("referral-partner", org=AGENCY)) as http:
        yield http


@pytest.fixture
def ehr(world: LiveServer) -> Iterator[httpx.Client]:
    with client_as(world, token_for("ehr-system", org="medical-home")) as http:
        yield http


def test_an_organization_or_a_practitioner_role_may_request_and_perform(secure_server: LiveServer) -> None:
    coordinator_role = "PractitionerRole/coordinator-at-medical-home"
    audiologist_role = "PractitionerRole/audiologist-at-noor"
    store(
        secure_server,
        records.practice_child(CHILD),
        care_team("ana-team", CHILD, coordinator_role),
        referrals_consent("ana-agency", CHILD, AGENCY),
        *referral("by-org", "requested", owner=f"Organization/{AGENCY}"),
        *referral("by-role", "requested", requester=coordinator_role, owner=audiologist_role),
    )
    medical_home = client_as(secure_server, token_for("ehr-system", org="medical-home"))
    coordinator = client_as(secure_server, token_for("care-coordinator", user=coordinator_role))
    audiologist = client_as(secure_server, token_for("referral-partner", org=AGENCY, user=audiologist_role))
    with medical_home, coordinator, audiologist:
        cancel = reason("Seen at the school clinic instead")
        # The Organization that requested it cancels it.
        put(medical_home, referral_task("by-org", "cancelled", owner=f"Organization/{AGENCY}", **cancel))
        # The PractitionerRole that requested it cancels it; its organization's system, not named, may not.
        by_role = referral_task("by-role", "accepted", requester=coordinator_role, owner=audiologist_role)
        put(audiologist, by_role)  # the PractitionerRole it was sent to accepts it
        cancelled = {**by_role, "status": "cancelled", **cancel}
        refused = medical_home.put("/Task/by-role-task", json=cancelled)
        assert refused.status_code == 403
        assert issue(refused)["expression"] == ["Task.requester"]
        put(coordinator, cancelled)
    assert stored(secure_server, "ServiceRequest", "by-role")["status"] == "revoked"


def test_the_performer_reports_what_it_did_as_a_procedure(
    world: LiveServer, agency: httpx.Client, ehr: httpx.Client
) -> None:
    created = agency.post("/Procedure", json=procedure(performer=f"Organization/{AGENCY}"))
    assert created.status_code == 201, created.text
    procedure_ref = f"Procedure/{created.json()['id']}"
    task = referral_task("hearing", "in-progress", owner=f"Organization/{AGENCY}")
    put(agency, task)
    done = {**task, "status": "completed", "output": [resulting_activity(procedure_ref)]}
    put(agency, done)
    as_read = ehr.get("/Task/hearing-task").json()
    assert as_read["output"][0]["valueReference"] == {"reference": procedure_ref}
    assert ehr.get(f"/{procedure_ref}").json()["basedOn"] == [{"reference": "ServiceRequest/hearing"}]
    assert ehr.get("/ServiceRequest/hearing").json()["status"] == "completed"
    # Creating is all it may do: it reads and changes no Procedure, its own included (the care team corrects).
    assert agency.get(f"/{procedure_ref}").status_code == 403
    changed = {**ehr.get(f"/{procedure_ref}").json(), "status": "entered-in-error"}
    assert agency.put(f"/{procedure_ref}", json=changed).status_code == 403


def test_the_procedure_and_the_completed_task_in_one_transaction(
    world: LiveServer, agency: httpx.Client, ehr: httpx.Client
) -> None:
    put(agency, referral_task("hearing", "in-progress", owner=f"Organization/{AGENCY}"))
    completed = {
        **referral_task("hearing", "completed", owner=f"Organization/{AGENCY}"),
        "output": [resulting_activity("urn:uuid:5f0c7d3e-0b1a-4a51-9a43-3c6f0e6d9b21")],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5f0c7d3e-0b1a-4a51-9a43-3c6f0e6d9b21",
                "resource": procedure(performer=f"Organization/{AGENCY}"),
                "request": {"method": "POST", "url": "Procedure"},
            },
            {"resource": completed, "request": {"method": "PUT", "url": "Task/hearing-task"}},
        ],
    }
    response = agency.post("/", json=bundle)
    assert response.status_code == 200, response.text
    location = response.json()["entry"][0]["response"]["location"]
    procedure_ref = "/".join(location.split("/")[-4:-2])
    task = ehr.get("/Task/hearing-task").json()
    assert task["output"][0]["valueReference"] == {"reference": procedure_ref}
    assert ehr.get("/ServiceRequest/hearing").json()["status"] == "completed"


@pytest.mark.parametrize(
    ("case", "resource"),
    [
        (
            "a referral it has not accepted",
            procedure(based_on="ServiceRequest/waiting", performer=f"Organization/{AGENCY}"),
        ),
        (
            "a referral sent to the school",
            procedure(based_on="ServiceRequest/reading", performer=f"Organization/{AGENCY}"),
        ),
        (
            "another child's referral",
            procedure(based_on="ServiceRequest/ben-hearing", performer=f"Organization/{AGENCY}"),
        ),
        ("no referral at all", procedure(based_on="ServiceRequest/no-such", performer=f"Organization/{AGENCY}")),
    ],
)
def test_only_the_performer_of_a_referral_in_progress_reports_a_procedure(
    world: LiveServer, agency: httpx.Client, case: str, resource: Resource
) -> None:
    refused = agency.post("/Procedure", json=resource)
    assert refused.status_code in (403, 422), case
    if refused.status_code == 403:
        assert issue(refused)["expression"] == ["Procedure.basedOn"], case


@pytest.mark.parametrize(
    ("case", "resource"),
    [
        ("in someone else's name", procedure(performer=MEDICAL_HOME)),
        ("naming no performer", {k: v for k, v in procedure(performer=MEDICAL_HOME).items() if k != "performer"}),
        ("based on no referral", procedure(based_on=None, performer=f"Organization/{AGENCY}")),
    ],
)
def test_a_procedure_of_the_childs_record_is_otherwise_the_care_teams(
    world: LiveServer, agency: httpx.Client, case: str, resource: Resource
) -> None:
    assert agency.post("/Procedure", json=resource).status_code == 403, case


def test_a_closed_referral_takes_no_new_procedure(world: LiveServer, agency: httpx.Client) -> None:
    put(agency, referral_task("hearing", "in-progress", owner=f"Organization/{AGENCY}"))
    put(agency, referral_task("hearing", "completed", owner=f"Organization/{AGENCY}"))
    refused = agency.post("/Procedure", json=procedure(performer=f"Organization/{AGENCY}"))
    assert refused.status_code == 403
    assert issue(refused)["expression"] == ["Procedure.basedOn"]


def test_the_server_attributes_the_request_it_moved(world: LiveServer, agency: httpx.Client) -> None:
    put(agency, referral_task("hearing", "in-progress", owner=f"Organization/{AGENCY}"))
    put(agency, referral_task("hearing", "completed", owner=f"Organization/{AGENCY}"))
    request = stored(world, "ServiceRequest", "hearing")
    assert request["status"] == "completed"
    (provenance,) = provenances_of(world, "ServiceRequest/hearing")
    Provenance.model_validate(provenance)
    assert provenance["target"] == [{"reference": f"ServiceRequest/hearing/_history/{request['meta']['versionId']}"}]
    assert provenance["agent"][0]["who"]["display"] == "fhirbridge"
    task = stored(world, "Task", "hearing-task")
    assert provenance["entity"] == [
        {"role": "source", "what": {"reference": f"Task/hearing-task/_history/{task['meta']['versionId']}"}}
    ]
    assert provenance["extension"][0]["valueReference"] == {"reference": f"Patient/{CHILD}"}
    # The Task's version that caused it is the agency's own, attributed to the agency as every write is.
    (by_agency,) = [
        p for p in provenances_of(world, "Task/hearing-task") if p["target"] == [provenance["entity"][0]["what"]]
    ]
    assert by_agency["agent"][0]["onBehalfOf"] == {"reference": f"Organization/{AGENCY}"}


# -- (a), (e), (f): the record -------------------------------------------------------------------------------


def coordination_record() -> Record:
    return Record(
        child=Child(id="maya", given_names=["Maya"], family_name="Okafor"),
        organizations=[
            Organization(id="maya-home", name="Riverside Medical Home"),
            Organization(id="maya-ent", name="Children's ENT"),
        ],
        referrals=[
            Referral(
                id="maya-ref-ent",
                service="ENT evaluation",
                recipient_id="maya-ent",
                status="accepted",
                history=[
                    StatusChange(status="requested", at="2026-02-02T09:00:00Z"),
                    StatusChange(status="accepted", at="2026-02-03T09:00:00Z"),
                ],
            )
        ],
    )


def write_record(client: httpx.Client, record: Record) -> None:
    response = client.put(
        f"/coordination/children/{record.child.id}",
        content=record_to_json(record),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def test_the_performers_note_reaches_the_record(client: httpx.Client) -> None:
    write_record(client, coordination_record())
    task = client.get("/Task/maya-ref-ent-task").json()
    note = {
        "authorReference": {"reference": "Organization/maya-ent"},
        "time": "2026-02-10T15:30:00Z",
        "text": "Tympanostomy tubes advised; family to decide after the next visit",
    }
    assert client.put("/Task/maya-ref-ent-task", json={**task, "note": [note]}).status_code == 200
    (found,) = client.get("/coordination/children/maya/referrals").json()
    (read,) = found["notes"]
    assert read["text"] == note["text"]
    assert read["author_id"] == "maya-ent"
    assert datetime.fromisoformat(read["written_at"]) == datetime(2026, 2, 10, 15, 30, tzinfo=UTC)
    # The coordinator answers in the record; both notes reach the Task, in order.
    found["notes"].append({"text": "Family chose to wait; review in March"})
    assert client.put("/coordination/children/maya/referrals", json=[found]).status_code == 200
    texts = [entry["text"] for entry in client.get("/Task/maya-ref-ent-task").json()["note"]]
    assert texts == [note["text"], "Family chose to wait; review in March"]


def test_an_organization_requester_is_kept_through_the_record(client: httpx.Client) -> None:
    write_record(client, coordination_record())
    for resource_type, id in (("ServiceRequest", "maya-ref-ent"), ("Task", "maya-ref-ent-task")):
        resource = client.get(f"/{resource_type}/{id}").json()
        resource["requester"] = {"reference": "Organization/maya-home"}
        assert client.put(f"/{resource_type}/{id}", json=resource).status_code == 200
    referrals = client.get("/coordination/children/maya/referrals").json()
    assert referrals[0].get("requester_id") is None  # a requester is a team member in the record
    referrals[0]["service"] = "ENT evaluation and hearing test"
    assert client.put("/coordination/children/maya/referrals", json=referrals).status_code == 200
    for resource_type, id in (("ServiceRequest", "maya-ref-ent"), ("Task", "maya-ref-ent-task")):
        assert client.get(f"/{resource_type}/{id}").json()["requester"] == {"reference": "Organization/maya-home"}


def test_a_referral_to_an_organization_the_record_does_not_know_yet(client: httpx.Client) -> None:
    write_record(client, coordination_record())
    put(client, {"resourceType": "Organization", "id": AGENCY, "name": "Noor Audiology"}, 201)
    organizations = {o["id"] for o in client.get("/coordination/children/maya/organizations").json()}
    assert AGENCY not in organizations
    for resource in referral(
        "maya-ref-audiology", "requested", "maya", requester="Organization/maya-home", owner=f"Organization/{AGENCY}"
    ):
        put(client, resource, 201)
    referrals = {r["id"]: r for r in client.get("/coordination/children/maya/referrals").json()}
    assert referrals["maya-ref-audiology"]["recipient_id"] == AGENCY
    organizations = {o["id"] for o in client.get("/coordination/children/maya/organizations").json()}
    assert AGENCY in organizations  # the organization a referral names comes into the record
    assert client.put("/coordination/children/maya/referrals", json=list(referrals.values())).status_code == 200


def test_a_recipient_outside_the_record_is_written_as_an_organization_of_the_directory() -> None:
    record = coordination_record()
    record.referrals[0].recipient_id = AGENCY  # not among the record's organizations
    resources = {(r["resourceType"], r["id"]): r for r in record_to_resources(record)}
    assert resources[("ServiceRequest", "maya-ref-ent")]["performer"] == [{"reference": f"Organization/{AGENCY}"}]
    assert resources[("Task", "maya-ref-ent-task")]["owner"] == {"reference": f"Organization/{AGENCY}"}


def test_why_and_what_was_said_go_to_the_task_and_back() -> None:
    """The mapper alone: a rejection's reason (the note of that status change) and the notes on a referral
    become the Task's ``statusReason`` and ``note``, and read back as they were."""
    record = coordination_record()
    rejected = record.referrals[0].model_copy(
        update={
            "status": "rejected",
            "history": [
                StatusChange(status="requested", at=datetime(2026, 2, 2, 9, tzinfo=UTC)),
                StatusChange(status="rejected", at=datetime(2026, 2, 3, 9, tzinfo=UTC), note="No pediatric ENT"),
            ],
            "notes": [
                ProgressNote(text="Try the children's hospital", written_at=datetime(2026, 2, 3, 9, tzinfo=UTC)),
                ProgressNote(text="Will do", author_id="maya-home"),
            ],
        }
    )
    record.referrals[0] = rejected
    resources = record_to_resources(record)
    task = next(r for r in resources if r["resourceType"] == "Task")
    assert task["statusReason"] == {"text": "No pediatric ENT"}
    assert [note["text"] for note in task["note"]] == ["Try the children's hospital", "Will do"]
    assert task["note"][1]["authorReference"] == {"reference": "Organization/maya-home"}
    (read,) = record_from_resources(resources).record.referrals
    assert read.history == rejected.history
    assert read.notes == rejected.notes


def test_outside_the_care_team_a_procedure_is_recorded_in_ones_own_name() -> None:
    """The write rule alone (security/write_rules.py), whatever relation let the caller write."""
    agency = WriteCaller(frozenset({f"Organization/{AGENCY}"}), None, treating=False)
    own = {**procedure(performer=f"Organization/{AGENCY}"), "id": "p1"}
    check_write(agency, "Procedure", None, own)
    someone_elses = {**procedure(performer=MEDICAL_HOME), "id": "p2"}
    for current, new in ((None, someone_elses), (someone_elses, {**someone_elses, "status": "entered-in-error"})):
        with pytest.raises(Forbidden) as refused:
            check_write(agency, "Procedure", current, new)
        assert refused.value.issues[0].expression == ("Procedure.performer",)
    care_team = WriteCaller(frozenset({MEDICAL_HOME}), None, treating=True)
    check_write(care_team, "Procedure", None, {**procedure(performer="Practitioner/dr-lee"), "id": "p3"})
