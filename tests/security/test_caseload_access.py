"""Caseloads (Groups of children) under the access policy, over HTTP with tokens as deployed (care-team mode).

A Group is in the Patient compartment of every child it lists (R4: ``Group.member.entity``), so the one
policy decides on it as on any resource of several children: it is seen, searched, included, written and
worked through (``$worklist``) only by a caller who may see every child it lists. Another practice's
coordinator, even one who treats some of those children, learns nothing of it: not that it exists, not who
is in it, not how many; an organization the family's Consent opens a child to gets no caseload (no Consent
class shares one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.security.conftest import bearer, client_as, signed, store, token_for
from tests.server.caseloads import AS_OF, COORDINATOR_A, COORDINATOR_B, caseload, riverside_caseload, world

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


@pytest.fixture
def world_stored(secure_server: LiveServer) -> LiveServer:
    store(secure_server, *world())
    return secure_server


@pytest.fixture
def dana(world_stored: LiveServer) -> Iterator[httpx.Client]:
    """Riverside's coordinator, with her caseload kept through the API."""
    with client_as(world_stored, token_for("care-coordinator", org="riverside", user=COORDINATOR_A)) as http:
        assert http.put("/Group/caseload-a", json=riverside_caseload()).status_code == 201
        yield http


@pytest.fixture
def sam(world_stored: LiveServer) -> Iterator[httpx.Client]:
    """Northside's coordinator: treats Fay, and Ben, who is on Dana's caseload too."""
    with client_as(world_stored, token_for("care-coordinator", org="northside", user=COORDINATOR_B)) as http:
        yield http


def total(http: httpx.Client, path: str, **params: str) -> int:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    found: int = response.json()["total"]
    return found


def test_the_coordinator_keeps_her_caseload_through_the_api(dana: httpx.Client) -> None:
    assert dana.get("/Group/caseload-a").json()["name"] == "Dana Whitfield's caseload"
    assert total(dana, "/Group", **{"managing-entity": COORDINATOR_A}) == 1
    assert total(dana, "/Group", member="Patient/ben") == 1
    # Children join and leave: a new version, not a move of the Group between children's records.
    changed = riverside_caseload()
    changed["member"] = [member for member in changed["member"] if member["entity"]["reference"] != "Patient/ben"]
    changed["member"].append({"entity": {"reference": "Patient/gus"}})
    updated = dana.put("/Group/caseload-a", json=changed, headers={"If-Match": 'W/"1"'})
    assert updated.status_code == 200, updated.text
    assert total(dana, "/Group", member="Patient/ben") == 0
    assert total(dana, "/Group", member="Patient/gus") == 1
    assert len(dana.get("/Group/caseload-a/_history").json()["entry"]) == 2


def test_another_practice_learns_nothing_of_the_caseload(dana: httpx.Client, sam: httpx.Client) -> None:
    # Sam treats Ben, who is on the caseload: still nothing, since he may not see Ana or Cara.
    never_used = sam.get("/Group/no-such-caseload")
    hidden = sam.get("/Group/caseload-a")
    assert (hidden.status_code, never_used.status_code) == (404, 404)
    assert hidden.json()["issue"][0]["diagnostics"] == "Group/caseload-a is not known"
    worklist = sam.get("/Group/caseload-a/$worklist", params={"as-of": AS_OF})
    assert worklist.status_code == 404
    assert worklist.json()["issue"][0]["diagnostics"] == "Group/caseload-a is not known"
    assert total(sam, "/Group") == 0
    assert total(sam, "/Group", member="Patient/ben") == 0
    assert total(sam, "/Group", _id="caseload-a") == 0
    assert total(sam, "/Group", **{"managing-entity": COORDINATOR_A}) == 0
    assert total(sam, "/Patient", **{"_has:Group:member:_id": "caseload-a"}) == 0
    included = sam.get("/Patient", params={"_id": "ben", "_revinclude": "Group:member"}).json()
    assert [entry["resource"]["resourceType"] for entry in included["entry"]] == ["Patient"]
    assert sam.get("/Group/caseload-a/_history").json().get("entry", []) == []
    # Nothing of Ana or Cara either, directly.
    assert sam.get("/Patient/ana").status_code == 404


def test_a_caseload_names_only_children_its_keeper_treats(dana: httpx.Client, sam: httpx.Client) -> None:
    refused = sam.put("/Group/caseload-b", json=caseload("caseload-b", COORDINATOR_B, "fay", "ana"))
    assert refused.status_code == 403
    assert dana.get("/Group/caseload-b").status_code == 404  # nothing was stored
    # Nor can Sam take Dana's caseload over, or add to it.
    taken = sam.put("/Group/caseload-a", json=caseload("caseload-a", COORDINATOR_B, "fay", "ben"))
    assert taken.status_code in (403, 404), taken.text
    kept = dana.get("/Group/caseload-a").json()
    assert (kept["meta"]["versionId"], kept["managingEntity"]["reference"]) == ("1", COORDINATOR_A)
    # Dana, for her part, cannot list Fay, whom she does not treat.
    assert dana.put("/Group/mixed", json=caseload("mixed", COORDINATOR_A, "ana", "fay")).status_code == 403


def test_each_practice_works_through_its_own_children_only(dana: httpx.Client, sam: httpx.Client) -> None:
    created = sam.put("/Group/caseload-b", json=caseload("caseload-b", COORDINATOR_B, "ben", "fay"))
    assert created.status_code == 201, created.text
    assert dana.get("/Group/caseload-b").status_code == 404  # Dana does not treat Fay
    response = sam.get("/Group/caseload-b/$worklist", params={"as-of": AS_OF})
    assert response.status_code == 200, response.text
    body = response.json()
    counts = {parameter["name"]: parameter.get("valueInteger") for parameter in body["parameter"]}
    assert counts["children"] == 2
    sections = {
        parameter["name"]: parameter["part"][0]["valueInteger"]
        for parameter in body["parameter"]
        if "part" in parameter
    }
    # Ben: no plan, no level, a revoked emergency plan; Fay: no plan, no level, an emergency plan in force.
    assert sections == {
        "actionSteps": 0,
        "referrals": 0,
        "reviewsOverdue": 2,
        "goalsWithoutFamilyAgreement": 0,
        "withoutEmergencyPlan": 1,
    }
    text = response.text
    others = [f"Patient/{child}" for child in ("ana", "cara", "dan", "eve", "gus")]
    for other in (*others, "ref-a", "step-a", "goal-a", "Perez", "Diaz", "Whitfield"):
        assert other not in text


def test_consent_opens_a_child_but_no_caseload(dana: httpx.Client, world_stored: LiveServer) -> None:
    """The payer the family shares everything with sees Ana's record, and no caseload she is on."""
    assert dana.put("/Group/ana-only", json=caseload("ana-only", COORDINATOR_A, "ana")).status_code == 201
    store(world_stored, every_class_consent("ana-payer", "ana", "payer-1"))
    token = signed({"scope": "user/*.rs", "fhirbridge_org": "Organization/payer-1", "sub": "payer-portal"})
    with httpx.Client(base_url=world_stored.url, timeout=30, headers=bearer(token)) as payer:
        assert payer.get("/Patient/ana").status_code == 200
        assert payer.get("/Goal/goal-a1").status_code == 200
        for caseload_id in ("ana-only", "caseload-a"):
            assert payer.get(f"/Group/{caseload_id}").status_code == 404
            assert payer.get(f"/Group/{caseload_id}/$worklist").status_code == 404
        assert total(payer, "/Group", member="Patient/ana") == 0
        # Nor through what the SQL half of the policy computes: the children a chain or _has finds, includes.
        assert total(payer, "/Patient", **{"_has:Group:member:_id": "ana-only"}) == 0
        assert total(payer, "/Patient", **{"_has:Group:member:managing-entity": COORDINATOR_A}) == 0
        included = payer.get("/Patient", params={"_id": "ana", "_revinclude": "Group:member"}).json()
        assert [entry["resource"]["resourceType"] for entry in included["entry"]] == ["Patient"]


def test_a_family_sees_no_caseload_its_child_is_on(dana: httpx.Client, world_stored: LiveServer) -> None:
    token = token_for("family", patient="ana", user="RelatedPerson/ana-mother")
    with client_as(world_stored, token) as family:
        assert family.get("/Patient/ana").status_code == 200
        assert family.get("/Group/caseload-a").status_code == 404
        assert family.get("/Group/caseload-a/$worklist").status_code == 404


def test_a_child_no_longer_on_record_is_left_out_and_not_counted(dana: httpx.Client, world_stored: LiveServer) -> None:
    with_gus = riverside_caseload()
    with_gus["member"].append({"entity": {"reference": "Patient/gus"}})
    assert dana.put("/Group/caseload-a", json=with_gus).status_code == 200
    before = dana.get("/Group/caseload-a/$worklist", params={"as-of": AS_OF}).json()
    assert count_of(before, "children") == 4 and "Patient/gus" in str(before)
    world_stored.repository.run_write(lambda tx: tx.delete("Patient", "gus"))
    after = dana.get("/Group/caseload-a/$worklist", params={"as-of": AS_OF}).json()
    assert count_of(after, "children") == 3
    assert "Patient/gus" not in str(after) and "Gus" not in str(after)
    assert section_count(after, "actionSteps") == section_count(before, "actionSteps") - 1  # his overdue step


def test_the_worklist_needs_search_on_what_it_reads(world_stored: LiveServer, dana: httpx.Client) -> None:
    """Over a type it may not see, a section would say "not recorded" of what is only hidden: 403 instead,
    which says nothing about any child."""
    token = signed(
        {
            "scope": "user/Group.rs user/Patient.rs user/CarePlan.rs",
            "fhirUser": COORDINATOR_A,
            "fhirbridge_org": "Organization/riverside",
            "sub": "narrow",
        }
    )
    with httpx.Client(base_url=world_stored.url, timeout=30, headers=bearer(token)) as narrow:
        assert narrow.get("/Group/caseload-a").status_code == 200
        response = narrow.get("/Group/caseload-a/$worklist")
        assert response.status_code == 403
        assert "Patient/" not in response.text


def count_of(body: dict[str, Any], name: str) -> int:
    return int(next(p["valueInteger"] for p in body["parameter"] if p["name"] == name))


def section_count(body: dict[str, Any], name: str) -> int:
    return int(next(p["part"][0]["valueInteger"] for p in body["parameter"] if p["name"] == name))


def every_class_consent(id: str, child: str, organization: str) -> dict[str, Any]:
    """A privacy Consent of ``child`` opening every class (no class listed) to ``organization``."""
    return {
        "resourceType": "Consent",
        "id": id,
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": ACT_CODE, "code": "IDSCL"}]}],
        "patient": {"reference": f"Patient/{child}"},
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                    "reference": {"reference": f"Organization/{organization}"},
                }
            ],
        },
    }
