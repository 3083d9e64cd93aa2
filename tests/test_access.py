"""The authorisation matrix: every route of the API, every role, and whose deal it is."""

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.phases.catalog import RECORD_KINDS
from tests.conftest import WATER_DEAL, Workplace, make_workplace

ACTING = {"rep": "rep.alex", "manager": "rep.kim", "ops": "ops.lee", "admin": "admin", "integration": "crm.sync"}
# Whose deal, from the acting rep's and manager's point of view (both in the Water team).
OWNERS = {"own": None, "teammate": "rep.sam", "other team": "rep.zoe"}
NOBODY = "01930000-0000-7000-8000-0000000000ff"
# GETs that may rightly answer 404 for a visible deal: a record that does not exist yet.
UNSURE = {kind.path for kind in RECORD_KINDS.values() if kind.singleton} | {"{record_id}"}
SMALL_PROCESS = {"title": "Renewal", "phases": ["p"], "steps": [{"name": "a", "phase": "p"}, {"name": "b", "phase": "p"}]}
BODIES: dict[str, dict[str, Any]] = {  # a valid body for each route that takes one
    "/v1/opportunities": WATER_DEAL, "transitions": {"to": "lost", "reason": "matrix"},
    "stakeholders": {"name": "Pat", "role": "user"}, "account-profile": {}, "competitors": {"name": "Rival"},
    "decision-process": {}, "politics-notes": {"note": "Quiet"}, "meeting-plans": {"objective": "Meet"},
    "activities": {"kind": "call", "occurred_at": "2026-01-05T09:00:00Z"}, "problems": {"description": "Leaks"},
    "qualification": {"urgency": "unknown", "resources": "unknown"},
    "solution-options": {"name": "Ours", "provider": "ours"}, "proposition": {"benefit": "Clean water"},
    "scope-items": {"name": "Kit", "price": {"amount": 1, "currency": "EUR"}}, "presentations": {},
    "objections": {"statement": "Later", "category": "timing"}, "buying-signals": {"description": "Asked about dates"},
    "acceptance": {"accepted_by_id": NOBODY, "accepted_at": "2026-01-05T09:00:00Z",
                   "order_value": {"amount": 1, "currency": "EUR"}, "products": [{"product": "Kit", "quantity": 1}],
                   "paperwork_reference": "PO-1"},
    "tasks": {"title": "Call back", "due_date": "2027-01-01"}, "keys": {},
    "proposal-previews": {"stakeholder_id": NOBODY, "previewed_at": "2026-01-05T09:00:00Z"},
    "promises": {"what": "Train the team", "due_on": "2027-01-01"},
    "value-reviews": {"problem_id": NOBODY, "reviewed_on": "2027-01-01", "solved": True},
    "/v1/admin/teams": {"name": "Gas"},
    "/v1/processes": {"key": "renewal", **SMALL_PROCESS}, "versions": SMALL_PROCESS, "publish": {}, "dry-run": {},
    "migrate": {}, "/v1/admin/users": {"handle": "new.rep", "name": "New", "role": "rep"},
    "/v1/webhook-endpoints": {"url": "https://example.com/hook"}, "rotate-secret": {}, "test": {},
    "replay": {"since": "2026-01-01T00:00:00Z"},
    "/v1/accounts": {"name": "Matrix Water"}, "integrations": {},
    "/v1/complaints": {"account_id": NOBODY, "summary": "Late", "category": "delivery", "severity": "low"},
    "/v1/accounts/external/{system}/{external_id}": {"name": "Matrix Water"},
    "/v1/accounts/external/{system}": {"items": [{"external_id": "a-1", "name": "Matrix Water"}]},
    "/v1/opportunities/external/{system}/{external_id}": {"name": "Matrix deal", "account": {"name": "Matrix"}},
    "/v1/opportunities/external/{system}": {"items": [{"external_id": "o-1", "name": "Matrix deal",
                                                       "account": {"name": "Matrix"}}]},
    "/v1/opportunities/{opportunity_id}/stakeholders/external/{system}/{external_id}": {"name": "Pat", "role": "user"},
    "snooze": {"until": (date.today() + timedelta(days=30)).isoformat(), "reason": "matrix"}, "follow-up-done": {},
    "complete": {}, "reopen": {}, "deactivate": {},
    "/v1/handovers/preview": {"user": "rep.sam", "successor": "rep.alex"},
    "/v1/handovers": {"user": "rep.sam", "successor": "rep.alex"},
}


def expected(role: str, relation: str, access: str | None) -> bool:
    """The rule the product states, written independently of the code: may the role do it?"""
    if access is None or role in ("admin", "integration"):
        return True
    if role == "ops":
        return access == "read"
    if role == "rep":
        return relation == "own"
    return relation in ("own", "teammate")  # manager


def _body(method: str, path: str) -> dict[str, Any] | None:
    if method in ("get", "delete"):
        return None
    if method == "patch":
        return {}
    return BODIES.get(path) or BODIES[path.rstrip("/").split("/")[-1] if "{" not in path.split("/")[-1]
                                      else path.split("/")[-2]]


@pytest.fixture
def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the app with its declared policy; none may lack one."""
    found = [(method, path, op.get("x-policy")) for path, item in app.openapi()["paths"].items()
             for method, op in item.items()]
    assert all(rule is not None for _, _, rule in found), [(m, p) for m, p, r in found if r is None]
    assert len(found) > 70
    return found  # type: ignore[return-value]


# Every role on SQLite; on PostgreSQL the roles whose reach its queries decide (own deals, the team's).
MATRIX = {"sqlite": tuple(ACTING), "postgresql": ("rep", "manager")}


@pytest.mark.parametrize("role", list(ACTING))
def test_every_route_allows_exactly_what_the_role_may(app: FastAPI, workplace: Workplace, role: str, backend: str,
                                                      operations: list[tuple[str, str, dict[str, Any]]]) -> None:
    if role not in MATRIX[backend]:
        pytest.skip(f"on {backend} the matrix runs for {', '.join(MATRIX[backend])}; every role runs on SQLite")
    actor = ACTING[role]
    admin = TestClient(app, headers=workplace.as_user("admin"))
    elsewhere = make_workplace(app, "Another company")
    stranger = TestClient(app, headers=elsewhere.as_user("admin"))
    client = TestClient(app, headers=workplace.as_user(actor))
    checked = 0
    for relation in [*OWNERS, "other workspace"]:
        def new_deal() -> dict[str, Any]:
            if relation == "other workspace":
                return stranger.post("/v1/opportunities", json=WATER_DEAL).json()  # type: ignore[no-any-return]
            own = actor if role in ("rep", "manager", "admin") else "rep.alex"  # ops and CRMs own no deals
            return admin.post("/v1/opportunities",  # type: ignore[no-any-return]
                              json={**WATER_DEAL, "owner": OWNERS[relation] or own}).json()

        read_only = new_deal()  # the reads and the refused writes share one deal; every allowed write gets a fresh one
        for method, path, rule in operations:
            refused = role not in rule["roles"] or (rule.get("opportunity") and (
                relation == "other workspace" or not expected(role, relation, rule.get("opportunity"))))
            deal = read_only if method == "get" or refused else new_deal()
            url = path.replace("{opportunity_id}", deal["id"]).replace("{step}", "opening") \
                      .replace("{record_id}", NOBODY).replace("{user_id}", NOBODY).replace("{key_id}", NOBODY) \
                      .replace("{endpoint_id}", NOBODY).replace("{delivery_id}", NOBODY) \
                      .replace("{account_id}", NOBODY).replace("{complaint_id}", NOBODY).replace("{task_id}", NOBODY) \
                      .replace("{system}", "salesforce").replace("{external_id}", "x-1") \
                      .replace("{key}", "complex-sale").replace("{version}", "1")
            response = client.request(method.upper(), url, json=_body(method, path))
            context = (role, relation, method, path, response.status_code, response.text[:200])
            if role not in rule["roles"]:
                assert response.status_code == 403, context
            elif rule.get("opportunity") and relation == "other workspace":
                assert response.status_code == 404, context
            elif rule.get("opportunity") and not expected(role, relation, rule.get("opportunity")):
                assert response.status_code == 403, context
            else:
                assert response.status_code not in (401, 403), context
                if method == "get" and "{opportunity_id}" in path and path.split("/")[-1] not in UNSURE:
                    assert response.status_code == 200, context  # the deal itself is visible
            checked += 1
    assert checked == 4 * len(operations)


def test_reps_list_only_their_deals_and_managers_their_team(app: FastAPI, workplace: Workplace) -> None:
    admin = TestClient(app, headers=workplace.as_user("admin"))
    owners = ["rep.alex", "rep.sam", "rep.zoe", "rep.kim"]
    for owner in owners:
        admin.post("/v1/opportunities", json={**WATER_DEAL, "owner": owner})
    def visible(handle: str) -> list[str]:
        listing = TestClient(app, headers=workplace.as_user(handle)).get("/v1/opportunities").json()["items"]
        return sorted(o["owner"] for o in listing)
    assert visible("rep.alex") == ["rep.alex"]
    assert visible("rep.kim") == ["rep.alex", "rep.kim", "rep.sam"]
    assert visible("ops.lee") == visible("crm.sync") == visible("admin") == sorted(owners)


def test_reps_keep_their_own_deals_and_managers_assign_within_the_team(app: FastAPI, workplace: Workplace) -> None:
    rep = TestClient(app, headers=workplace.as_user("rep.alex"))
    manager = TestClient(app, headers=workplace.as_user("rep.kim"))
    assert rep.post("/v1/opportunities", json={**WATER_DEAL, "owner": "rep.sam"}).status_code == 403
    oid = rep.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    assert rep.patch(f"/v1/opportunities/{oid}", json={"owner": "rep.sam"}).status_code == 403
    assert manager.patch(f"/v1/opportunities/{oid}", json={"owner": "rep.zoe"}).status_code == 403
    assert manager.patch(f"/v1/opportunities/{oid}", json={"owner": "ops.lee"}).status_code == 422  # sells nothing
    assert manager.patch(f"/v1/opportunities/{oid}", json={"owner": "ghost"}).status_code == 422
    assert manager.patch(f"/v1/opportunities/{oid}", json={"owner": "rep.sam"}).json()["owner"] == "rep.sam"
    assert rep.get(f"/v1/opportunities/{oid}").status_code == 403  # no longer alex's deal


def test_admins_add_users_and_keys_and_revoke_them(app: FastAPI, workplace: Workplace) -> None:
    admin = TestClient(app, headers=workplace.as_user("admin"))
    team = admin.post("/v1/admin/teams", json={"name": "Gas"}).json()
    user = admin.post("/v1/admin/users", json={"handle": "rep.max", "name": "Max", "role": "rep",
                                                "team_id": team["id"]}).json()
    assert admin.post("/v1/admin/users", json={"handle": "rep.max", "name": "Max", "role": "rep"}).status_code == 409
    issued = admin.post(f"/v1/admin/users/{user['id']}/keys")
    assert issued.status_code == 201 and issued.json()["key"].startswith("dg_")
    max_client = TestClient(app, headers={"Authorization": f"Bearer {issued.json()['key']}"})
    created = max_client.post("/v1/opportunities", json=WATER_DEAL)
    assert created.status_code == 201 and created.json()["created_by"] == "rep.max"
    listed = admin.get(f"/v1/admin/users/{user['id']}/keys").json()["items"]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is not None
    assert admin.delete(f"/v1/admin/keys/{listed[0]['id']}").status_code == 204
    assert max_client.get("/v1/opportunities").status_code == 401
    trail = admin.get("/v1/admin/audit").json()["items"]
    assert [(a["actor"], a["action"]) for a in trail] == [
        ("admin", "team.create"), ("admin", "user.create"), ("admin", "key.issue"), ("admin", "key.revoke")]
    assert "rep.max" in trail[1]["target"] and listed[0]["prefix"] in trail[3]["target"]


def test_a_manager_without_a_team_sees_only_their_own_deals(app: FastAPI, workplace: Workplace) -> None:
    admin = TestClient(app, headers=workplace.as_user("admin"))
    user = admin.post("/v1/admin/users", json={"handle": "lone.manager", "name": "Lone", "role": "manager"}).json()
    key = admin.post(f"/v1/admin/users/{user['id']}/keys").json()["key"]
    oid = admin.post("/v1/opportunities", json={**WATER_DEAL, "owner": "admin"}).json()["id"]
    admin.post(f"/v1/opportunities/{oid}/tasks", json={"title": "Secret", "due_date": "2027-01-01"})
    lone = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    assert lone.get("/v1/opportunities").json()["items"] == []
    assert lone.get("/v1/tasks").json()["items"] == []


def test_unknown_keys_are_not_cached_and_revoked_ones_are_not_cached_again(app: FastAPI, workplace: Workplace) -> None:
    cache = app.state.keys
    with TestClient(app) as client:
        for n in range(20):
            assert client.get("/v1/opportunities", headers={"Authorization": f"Bearer dg_{n:012d}_{'x' * 43}"}
                              ).status_code == 401
        assert all(not cache.get(f"{n:012d}")[0] for n in range(20))
    prefix = workplace.keys["rep.alex"].split("_")[1]
    cache.forget(prefix)
    cache.put(prefix, object())  # a lookup that started before the revocation
    assert cache.get(prefix) == (False, None)
