"""Role x interaction x resource: what each preset may do to Ana's record, over real HTTP.

Ana's care team (EHR, coordinator, discharge planner) works under user/system scopes; the payer and the
referral partner hold a consent from Ana's family; the family's token is confined to Ana.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import care_team, goal, observation, task
from tests.security import records
from tests.security.conftest import CHILD, PAYER, SCHOOL, client_as, store, token_for

ROLE_TOKENS: dict[str, Callable[[], str]] = {
    "ehr-system": lambda: token_for("ehr-system", org="medical-home"),
    "care-coordinator": lambda: token_for("care-coordinator", user="Practitioner/coordinator-1"),
    "discharge-planner": lambda: token_for("discharge-planner", user="Practitioner/planner-1"),
    "payer-case-manager": lambda: token_for("payer-case-manager", org=PAYER),
    "referral-partner": lambda: token_for("referral-partner", org=SCHOOL),
    "family": lambda: token_for("family", patient=CHILD, user="RelatedPerson/mother"),
}

Interaction = Callable[[httpx.Client, str, str], httpx.Response]


def _read(http: httpx.Client, rtype: str, id: str) -> httpx.Response:
    return http.get(f"/{rtype}/{id}")


def _vread(http: httpx.Client, rtype: str, id: str) -> httpx.Response:
    return http.get(f"/{rtype}/{id}/_history/1")


def _history(http: httpx.Client, rtype: str, id: str) -> httpx.Response:
    return http.get(f"/{rtype}/{id}/_history")


def _create(http: httpx.Client, rtype: str, id: str) -> httpx.Response:
    return http.post(f"/{rtype}", json=_new(rtype))


def _update(http: httpx.Client, rtype: str, id: str) -> httpx.Response:
    return http.put(f"/{rtype}/{id}", json={**_new(rtype), "id": id})


def _patch(http: httpx.Client, rtype: str, id: str) -> httpx.Response:
    operations = [{"op": "add", "path": "/language", "value": "en"}]
    return http.patch(f"/{rtype}/{id}", json=operations, headers={"Content-Type": "application/json-patch+json"})


def _delete(http: httpx.Client, rtype: str, id: str) -> httpx.Response:
    return http.delete(f"/{rtype}/{id}")


def _new(rtype: str) -> dict[str, Any]:
    builders = {"Goal": goal, "Task": task, "Observation": observation}
    return {key: value for key, value in builders[rtype]("new", CHILD).items() if key != "id"}


INTERACTIONS: dict[str, Interaction] = {
    "read": _read,
    "vread": _vread,
    "history": _history,
    "create": _create,
    "update": _update,
    "patch": _patch,
    "delete": _delete,
}
RESOURCES = {"Goal": "ana-goal", "Task": "ana-task", "Observation": "ana-weight"}

# role -> resource type -> the interactions allowed (everything else must be refused with 403).
READS = {"read", "vread", "history"}
ALLOWED: dict[str, dict[str, set[str]]] = {
    "ehr-system": {rtype: set(INTERACTIONS) for rtype in RESOURCES},
    "care-coordinator": {rtype: set(INTERACTIONS) - {"delete"} for rtype in RESOURCES},
    "discharge-planner": {"Goal": READS, "Task": READS | {"create"}, "Observation": READS},
    "payer-case-manager": {"Goal": READS, "Task": set(), "Observation": READS},
    # Outside the care team, element rules (security/write_rules.py) apply on top of the scopes: the update
    # here changes nothing and passes, the patch sets a language, which an action step nobody assigned to
    # the school or the family and a Goal are not theirs to change, and an Observation that does not name
    # its poster as performer is refused (tests/security/test_write_rules.py has the writes they may make).
    "referral-partner": {"Goal": set(), "Task": READS | {"update"}, "Observation": READS},
    "family": {"Goal": READS | {"update"}, "Task": READS | {"update"}, "Observation": READS},
}


def seed(server: LiveServer, rtype: str) -> None:
    builders = {"Goal": goal, "Task": task, "Observation": observation}
    store(
        server,
        records.practice_child(CHILD),
        builders[rtype](RESOURCES[rtype], CHILD),
        records.consent("ana-payer", CHILD, PAYER),
        records.consent("ana-school", CHILD, SCHOOL),
        care_team("ana-hospital-team", CHILD, "Practitioner/planner-1"),
    )


@pytest.mark.parametrize("rtype", RESOURCES)
@pytest.mark.parametrize("role", ROLE_TOKENS)
def test_role_interaction_resource(secure_server: LiveServer, role: str, rtype: str) -> None:
    seed(secure_server, rtype)
    outcomes: dict[str, str] = {}
    with client_as(secure_server, ROLE_TOKENS[role]()) as http:
        # In this order, so that delete comes last.
        for name, interaction in INTERACTIONS.items():
            response = interaction(http, rtype, RESOURCES[rtype])
            if response.status_code == 403 or (response.status_code == 404 and name in READS | {"update", "patch"}):
                # 404: a resource the caller may not see is answered as absent.
                assert response.json()["issue"][0]["code"] in ("forbidden", "not-found")
                outcomes[name] = "deny"
            else:
                assert response.status_code < 300, f"{name}: {response.text}"
                outcomes[name] = "allow"
    expected = {name: "allow" if name in ALLOWED[role][rtype] else "deny" for name in INTERACTIONS}
    assert outcomes == expected
