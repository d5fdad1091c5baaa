"""Who may do what: the matrix cell by cell, and every route under every role."""

from __future__ import annotations

import pytest

from rxtrace.trace.accounts import MATRIX, Permission, Role, allows, require
from rxtrace.trace.errors import PermissionDeniedError

from .serverkit import Server

# The table, written out again by hand: a change to MATRIX must change this too.
INV, SUP, ADM = "investigator", "supervisor", "admin"
EXPECTED: dict[str, set[str]] = {
    "resolve": {INV, SUP},
    "scan": {INV, SUP},
    "cases": {INV, SUP},
    "leads.read": {INV, SUP},
    "leads.note": {INV, SUP},
    "leads.investigate": {INV, SUP},
    "leads.workflow": {SUP},
    "graph": {INV, SUP},
    "timeline": {INV, SUP},
    "geo": {INV, SUP},
    "dossier": {SUP},
    "reveal": {SUP},
    "audit": {SUP},
    "users": {ADM},
    "loads": {ADM},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_matrix_cell(role: Role, permission: Permission) -> None:
    expected = role.value in EXPECTED[permission.value]
    assert allows(role, permission) is expected
    if not expected:
        with pytest.raises(PermissionDeniedError, match=permission.value):
            require(role, permission)


def test_every_permission_is_in_the_table() -> None:
    assert set(EXPECTED) == {p.value for p in Permission}
    assert set(MATRIX) == set(Role)


# (method, path, permission needed, body)
ROUTES: list[tuple[str, str, str, object]] = [
    ("GET", "/api/resolve?code=87000010000000010001", "resolve", None),
    ("POST", "/api/resolve", "resolve", {"codes": ["87000010000000010001"]}),
    ("GET", "/api/cases", "cases", None),
    ("GET", "/api/cases/K1", "cases", None),
    ("GET", "/api/seizures", "cases", None),
    ("GET", "/api/seizures/Z1", "cases", None),
    ("GET", "/api/cases/K1/graph", "graph", None),
    ("GET", "/api/cases/K1/timeline", "timeline", None),
    ("GET", "/api/cases/K1/report?format=csv", "dossier", None),
    ("GET", "/api/leads", "leads.read", None),
    ("GET", "/api/hotspots?case=K1", "geo", None),
    ("GET", "/api/routes", "geo", None),
    ("GET", "/api/audit", "audit", None),
    ("GET", "/api/audit/verify", "audit", None),
    ("GET", "/api/loads", "loads", None),
    ("GET", "/api/rejects", "loads", None),
    ("GET", "/api/users", "users", None),
]


@pytest.mark.parametrize("role", [INV, SUP, ADM])
def test_every_route_under_every_role(server: Server, role: str) -> None:
    client = server.login(role[:3])
    for method, path, permission, body in ROUTES:
        answer = client.request(method, path, json=body)
        if role in EXPECTED[permission]:
            assert answer.status_code == 200, (role, path, answer.text[:200])
        else:
            assert answer.status_code == 403, (role, path, answer.status_code)
            assert permission in answer.json()["detail"]


def test_an_investigator_takes_a_lead_up_but_only_a_supervisor_moves_it_on(server: Server) -> None:
    investigator = server.login("inv")
    supervisor = server.login("sup")
    lead_id = investigator.get("/api/leads").json()["leads"][0]["lead_id"]
    path = f"/api/leads/{lead_id}/status"
    assert investigator.post(path, json={"status": "investigating"}).json()["status"] == "investigating"
    assert investigator.post(path, json={"status": "escalated"}).status_code == 403
    assert investigator.post(path, json={"status": "closed", "note": "no case"}).status_code == 403
    assert supervisor.post(path, json={"status": "escalated"}).json()["status"] == "escalated"
    assert supervisor.post(path, json={"status": "closed"}).status_code == 409  # closing needs a reason
    closed = supervisor.post(path, json={"status": "closed", "note": "handed to the prosecutor"})
    assert closed.json()["status"] == "closed"
    assert investigator.post(path, json={"status": "investigating"}).status_code == 403  # reopening
    noted = investigator.post(f"/api/leads/{lead_id}/notes", json={"note": "called the clinic"}).json()
    assert noted["history"][-1]["note"] == "called the clinic" and noted["history"][-1]["by"] == "inv"
    assert server.login("adm").post(f"/api/leads/{lead_id}/notes", json={"note": "x"}).status_code == 403
