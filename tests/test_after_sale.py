"""After the sale and when people change: back-office work the rep stays accountable for, deals that wait for a good
reason, and a leaving rep's work handed over before the user is deactivated."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.opportunities.models import HistoryEntry, Opportunity
from app.outbox import Event
from app.settings import get_settings
from tests.conftest import WATER_DEAL, Workplace, _libpq, dump
from tests.method import post, prepare

TODAY = datetime.now(UTC).date()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def _as(app: FastAPI, workplace: Workplace, handle: str) -> TestClient:
    return TestClient(app, headers=workplace.as_user(handle))


def _advice(client: TestClient, oid: str) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in client.get(f"/v1/opportunities/{oid}/guidance").json()["recommendations"]}


def _events(app: FastAPI, type_: str) -> list[Event]:
    with app.state.database.engine.connect() as connection:
        return list(connection.execute(select(Event).where(Event.type == type_)).all())


def _colleague(app: FastAPI, workplace: Workplace, handle: str, role: str, team: str | None) -> TestClient:
    """A new user of the workspace (in a team made for them when named), and a client acting as them."""
    admin = _as(app, workplace, "admin")
    team_id = None
    if team is not None:
        team_id = admin.post("/v1/admin/teams", json={"name": team}).json()["id"]
    user = admin.post("/v1/admin/users", json={"handle": handle, "name": handle, "role": role, "team_id": team_id})
    assert user.status_code == 201, user.text
    key = admin.post(f"/v1/admin/users/{user.json()['id']}/keys").json()["key"]
    return TestClient(app, headers={"Authorization": f"Bearer {key}"})


def _won(client: TestClient) -> str:
    """A deal of the client's user won through every gate."""
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, oid, "follow_up")
    for step in ("opening", "questioning", "solution_design", "presentation", "negotiation", "closing", "follow_up"):
        moved = client.post(f"/v1/opportunities/{oid}/transitions", json={"to": step})
        assert moved.status_code == 200, moved.text
    return oid


def test_back_office_work_stays_the_reps_until_it_is_done(app: FastAPI, client: TestClient,
                                                          workplace: Workplace) -> None:
    back_office = _colleague(app, workplace, "bo.pat", "ops", "Back office")
    manager, stranger = _as(app, workplace, "rep.kim"), _as(app, workplace, "rep.zoe")
    oid = _won(client)

    # The win made the plan's back-office tasks for the team named Back office; the rep answers for them.
    mine = client.get("/v1/tasks", params={"accountable": "me", "kind": "back_office"}).json()["items"]
    assert len(mine) == 5 and all(t["owner"] is None and t["team_id"] for t in mine)
    team_id = mine[0]["team_id"]
    assert {t["id"] for t in back_office.get("/v1/tasks", params={"team_id": team_id}).json()["items"]} == \
        {t["id"] for t in mine}
    assert stranger.get("/v1/tasks", params={"kind": "back_office"}).json()["items"] == []
    assert "guidance.back_office_overdue" not in _advice(client, oid)

    # Delivery slips: the owner's guidance flags it, and so does their manager's view of the team's tasks.
    delivery = next(t for t in mine if t["title"] == "Deliver the order")
    client.patch(f"/v1/opportunities/{oid}/tasks/{delivery['id']}", json={"due_date": YESTERDAY})
    flag = _advice(client, oid)["guidance.back_office_overdue"]
    assert flag["severity"] == "warn" and flag["details"]["tasks"][0]["id"] == delivery["id"]
    assert flag["details"]["tasks"][0]["team_id"] == team_id
    late = manager.get("/v1/tasks", params={"kind": "back_office", "overdue": "true"}).json()["items"]
    assert [t["id"] for t in late] == [delivery["id"]]
    assert client.get("/v1/tasks", params={"accountable": "me", "overdue": "true"}).json()["items"] == late
    assert stranger.get("/v1/tasks", params={"overdue": "true"}).json()["items"] == []

    # The follow-up is not done while back-office work is open; nothing changes when it is refused.
    before = dump(app)
    refused = client.post(f"/v1/opportunities/{oid}/follow-up-done", json={"note": "All delivered"})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert [f["code"] for f in body["unmet"]] == ["deploy.back_office_done"]
    assert body["unmet"][0]["details"]["count"] == 5 and body["unmet"][0]["overridable"] is False
    assert dump(app) == before

    # The team does the work; someone else's rep may not mark it done.
    assert stranger.post(f"/v1/tasks/{delivery['id']}/complete").status_code in (403, 404)
    for task in mine:
        done = back_office.post(f"/v1/tasks/{task['id']}/complete")
        assert done.status_code == 200, done.text
        assert done.json()["completed_by"] == "bo.pat"
    assert "guidance.back_office_overdue" not in _advice(client, oid)
    assert len(_events(app, "task.completed")) == 5
    checklist = {c["text"]: c["done"] for c in client.get(f"/v1/opportunities/{oid}/guidance").json()["checklist"]}
    assert checklist[next(t for t in checklist if t.startswith("See the back-office work through"))] is True

    done = client.post(f"/v1/opportunities/{oid}/follow-up-done", json={"note": "All delivered and trained"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "won" and done.json()["follow_up_done_at"]
    history = client.get(f"/v1/opportunities/{oid}/history").json()["items"]
    assert (history[-1]["kind"], history[-1]["to_step"], history[-1]["reason"]) == \
        ("follow_up_done", "follow_up", "All delivered and trained")
    assert client.post(f"/v1/opportunities/{oid}/follow-up-done", json={}).status_code == 409
    assert len(_events(app, "opportunity.follow_up_done")) == 1


def test_a_snoozed_deal_waits_quietly_and_wakes_by_itself(app: FastAPI, client: TestClient,
                                                           workplace: Workplace) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    post(client, oid, "objections", {"statement": "Not this budget year", "category": "timing",
                                     "raised_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()})
    with app.state.database.writer() as session:
        session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(oid)).values(
            step_entered_at=datetime.now(UTC) - timedelta(days=40)))
        session.execute(update(HistoryEntry).where(HistoryEntry.opportunity_id == uuid.UUID(oid)).values(
            at=datetime.now(UTC) - timedelta(days=40)))
        session.commit()
    assert {"guidance.no_recent_activity", "guidance.objection_open_too_long"} <= set(_advice(client, oid))
    manager = _as(app, workplace, "rep.kim")
    assert _stale(manager) == [oid]

    before = dump(app)
    for body in ({"until": YESTERDAY, "reason": "Budget round"},
                 {"until": (TODAY + timedelta(days=400)).isoformat(), "reason": "Budget round"},
                 {"until": (TODAY + timedelta(days=30)).isoformat(), "reason": "   "},
                 {"until": (TODAY + timedelta(days=30)).isoformat()}):
        refused = client.post(f"/v1/opportunities/{oid}/snooze", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert dump(app) == before

    until = (TODAY + timedelta(days=30)).isoformat()
    snoozed = client.post(f"/v1/opportunities/{oid}/snooze", json={"until": until, "reason": "Budget round in March"})
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["snooze"] == {"until": until, "reason": "Budget round in March"}
    assert snoozed.json()["status"] == "open" and snoozed.json()["step"] == "planning"
    guidance = client.get(f"/v1/opportunities/{oid}/guidance").json()
    assert guidance["snooze"] == {"until": until, "reason": "Budget round in March"}
    assert not {"guidance.no_recent_activity", "guidance.objection_open_too_long"} & set(_advice(client, oid))
    assert len(_events(app, "opportunity.snoozed")) == 1
    assert _stale(manager) == []  # it waits for a reason

    # The day comes: the prompts speak again without anyone waking the deal.
    with app.state.database.writer() as session:
        session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(oid)).values(snoozed_until=TODAY))
        session.commit()
    assert client.get(f"/v1/opportunities/{oid}").json()["snooze"] is None
    assert {"guidance.no_recent_activity", "guidance.objection_open_too_long"} <= set(_advice(client, oid))
    assert _stale(manager) == [oid]

    client.post(f"/v1/opportunities/{oid}/snooze", json={"until": until, "reason": "Budget round in March"})
    woken = client.delete(f"/v1/opportunities/{oid}/snooze")
    assert woken.status_code == 200 and woken.json()["snooze"] is None
    assert "guidance.no_recent_activity" in _advice(client, oid)
    client.post(f"/v1/opportunities/{oid}/snooze", json={"until": until, "reason": "Budget round in March"})
    lost = client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "lost", "reason": "Went quiet"})
    assert lost.status_code == 200 and lost.json()["snooze"] is None  # a snooze ends when the deal closes
    assert client.post(f"/v1/opportunities/{oid}/snooze", json={"until": until, "reason": "x"}).status_code == 409
    reopened = manager.post(f"/v1/opportunities/{oid}/transitions", json={"to": "planning", "reason": "Back"})
    assert reopened.status_code == 200 and reopened.json()["snooze"] is None


def _stale(client: TestClient) -> list[str]:
    return [row["id"] for row in client.get("/v1/reports/stale", params={"days": 21}).json()["rows"]]


def _handover_plan(accounts: list[str], notes: bool) -> dict[str, Any]:
    """rep.sam's accounts: the first half to rep.alex (the plan's successor), the rest to rep.kim."""
    return {"user": "rep.sam", "successor": "rep.alex", "accounts": [
        {"account_id": a, **({"note": f"Promised a site visit in May to account {i}; call Dana first"} if notes else {}),
         **({"successor": "rep.kim"} if i >= len(accounts) // 2 else {})} for i, a in enumerate(accounts)]}


def test_a_leaving_rep_hands_everything_over_and_nothing_is_orphaned(app: FastAPI, workplace: Workplace) -> None:
    sam, manager, admin = (_as(app, workplace, h) for h in ("rep.sam", "rep.kim", "admin"))
    alex = _as(app, workplace, "rep.alex")
    accounts = [sam.post("/v1/accounts", json={"name": f"Account {i}", "owner": "rep.sam"}).json()["id"]
                for i in range(10)]
    deals = [sam.post("/v1/opportunities", json={"name": f"Deal {i}", "account_id": accounts[i % 10]}).json()["id"]
             for i in range(30)]
    for oid in deals[:2]:  # won, their follow-up still going: the customer still needs someone
        assert admin.post(f"/v1/opportunities/{oid}/transitions",
                          json={"to": "follow_up", "override": "Won on paper"}).status_code == 200
    for oid in deals[2:4]:  # lost: they stay where they ended
        assert sam.post(f"/v1/opportunities/{oid}/transitions", json={"to": "lost", "reason": "Price"}).status_code == 200
    for oid in deals[4:9]:
        post(sam, oid, "tasks", {"title": "Send the reference list", "due_date": YESTERDAY})
    alex_deal = alex.post("/v1/opportunities", json={"name": "Alex's deal", "account_id": accounts[0]}).json()["id"]
    helping = post(alex, alex_deal, "tasks", {"title": "Join the site visit", "owner": "rep.sam",
                                              "due_date": (TODAY + timedelta(days=3)).isoformat()})
    complaint = sam.post("/v1/complaints", json={"account_id": accounts[3], "summary": "Late delivery",
                                                 "category": "delivery", "severity": "medium"})
    assert complaint.status_code == 201, complaint.text
    sam_user = next(u for u in admin.get("/v1/admin/users").json()["items"] if u["handle"] == "rep.sam")

    # Deactivating a user who still holds work is refused with what they hold.
    held = admin.post(f"/v1/admin/users/{sam_user['id']}/deactivate")
    assert held.status_code == 409 and set(held.json()["holds"]) == {"deal", "account", "task", "complaint"}

    # Reps do not run handovers; a manager does for their team, an admin for anyone.
    plan = _handover_plan(accounts, notes=True)
    assert alex.post("/v1/handovers/preview", json=plan).status_code == 403
    assert _as(app, workplace, "rep.zoe").post("/v1/handovers", json=plan).status_code == 403

    # The preview says what would move and what is missing; an incomplete plan moves nothing.
    incomplete = manager.post("/v1/handovers/preview", json={**_handover_plan(accounts, notes=False), "successor": None})
    assert incomplete.status_code == 200 and incomplete.json()["ran"] is False
    codes = [m["code"] for m in incomplete.json()["missing"]]
    assert codes.count("handover.no_note") == 10 and codes.count("handover.no_successor") == 5
    twice = manager.post("/v1/handovers/preview", json={**plan, "accounts": plan["accounts"] + plan["accounts"][:1]})
    assert twice.status_code == 422 and twice.json()["errors"][0]["pointer"] == "/accounts/10/account_id"
    outsider = manager.post("/v1/handovers/preview", json={**plan, "successor": "rep.zoe"}).json()["missing"]
    assert [m["code"] for m in outsider] == ["handover.successor_out_of_scope"]
    before = dump(app)
    refused = manager.post("/v1/handovers", json=_handover_plan(accounts, notes=False))
    assert refused.status_code == 409 and len(refused.json()["missing"]) == 10
    assert dump(app) == before

    preview = manager.post("/v1/handovers/preview", json=plan).json()
    # Tasks: the ten of each won deal's follow-up plan, the five reference lists, and the one on Alex's deal.
    assert preview["missing"] == [] and preview["counts"] == {"deal": 28, "account": 10, "task": 26, "complaint": 1}
    ran = manager.post("/v1/handovers", json=plan)
    assert ran.status_code == 200, ran.text
    result = ran.json()
    assert result["ran"] is True and result["items"] == preview["items"]
    successor = {a: ("rep.alex" if i < 5 else "rep.kim") for i, a in enumerate(accounts)}

    # Nothing is left with rep.sam but the lost deals; every item went to its account's successor.
    for i, oid in enumerate(deals):
        deal = admin.get(f"/v1/opportunities/{oid}").json()
        history = admin.get(f"/v1/opportunities/{oid}/history").json()["items"]
        if i in (2, 3):
            assert deal["owner"] == "rep.sam" and history[-1]["kind"] == "lost"
            continue
        assert deal["owner"] == successor[deal["account"]["id"]]
        last = history[-1]
        assert (last["kind"], last["from_step"], last["to_step"], last["actor"]) == \
            ("handover", deal["step"], deal["step"], "rep.kim")
        assert last["to_status"] == deal["status"]
    for account in accounts:
        assert admin.get(f"/v1/accounts/{account}").json()["owner"] == successor[account]
    assert admin.get("/v1/tasks", params={"owner": "rep.sam", "completed": "false"}).json()["items"] == []
    moved_task = admin.get(f"/v1/opportunities/{alex_deal}/tasks/{helping['id']}").json()
    assert moved_task["owner"] == "rep.alex"  # the account's successor; the deal stays Alex's
    assert admin.get(f"/v1/complaints/{complaint.json()['id']}").json()["accountable"] == successor[accounts[3]]

    intros = [t for t in admin.get("/v1/tasks", params={"kind": "introduction"}).json()["items"]]
    assert len(intros) == 10 == len([i for i in result["introductions"] if i["task_id"]])
    by_account = {i["account_id"]: i for i in result["introductions"]}
    for task in intros:
        intro = next(i for i in by_account.values() if i["task_id"] == task["id"])
        assert task["owner"] == successor[intro["account_id"]] and "call Dana first" in task["notes"]
        assert task["due_date"] == (TODAY + timedelta(days=7)).isoformat()
    handed = _events(app, "opportunity.handed_over")
    assert len(handed) == 28  # each shows the deal as it stands after the handover
    assert all(e.data["opportunity"]["version"] == e.opportunity_version for e in handed)
    assert all(e.data["opportunity"]["owner"] == e.data["to"] for e in handed)
    assert any(e.data["actor"] == "rep.kim" for e in _events(app, "account.updated"))
    assert _as(app, workplace, "rep.zoe").get("/v1/tasks", params={"kind": "introduction"}).json()["items"] == []

    # Now rep.sam can leave: the key stops working and nothing can be given to them.
    gone = admin.post(f"/v1/admin/users/{sam_user['id']}/deactivate")
    assert gone.status_code == 200 and gone.json()["deactivated_at"]
    assert sam.get("/v1/opportunities").status_code == 401
    refused_owner = alex.post(f"/v1/opportunities/{alex_deal}/tasks",
                              json={"title": "Ask Sam", "owner": "rep.sam", "due_date": YESTERDAY})
    assert refused_owner.status_code == 422
    assert alex.patch(f"/v1/opportunities/{alex_deal}", json={"owner": "rep.sam"}).status_code in (403, 422)
    assert admin.post(f"/v1/admin/users/{sam_user['id']}/keys").status_code == 409
    with app.state.database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Opportunity).where(
            Opportunity.owner == "rep.sam", Opportunity.status == "open")).scalar_one() == 0


def test_a_handover_bound_refuses_a_plan_that_moves_too_much_and_parts_fit(app: FastAPI, workplace: Workplace,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sam, admin = _as(app, workplace, "rep.sam"), _as(app, workplace, "admin")
    for i in range(2):
        sam.post("/v1/opportunities", json={**WATER_DEAL, "name": f"Deal {i}"})
    other = sam.post("/v1/opportunities", json={"name": "Other deal", "account": {"name": "Other"}}).json()
    plan = {"user": "rep.sam", "successor": "rep.alex"}
    part = {**plan, "only_named": True, "accounts": [{"account_id": other["account"]["id"], "note": "Call Jo"}]}
    try:
        for bound, status in (("2", 422), ("3", 200)):  # three deals (their accounts are nobody's)
            monkeypatch.setenv("DEALGATE_HANDOVER_MAX_ITEMS", bound)
            get_settings.cache_clear()
            answer = admin.post("/v1/handovers/preview", json=plan)
            assert answer.status_code == status, answer.text
            assert status == 200 or answer.json()["setting"] == "DEALGATE_HANDOVER_MAX_ITEMS"
        monkeypatch.setenv("DEALGATE_HANDOVER_MAX_ITEMS", "2")
        get_settings.cache_clear()
        ran = admin.post("/v1/handovers", json=part)  # a part: only what belongs to the accounts named
        assert ran.status_code == 200, ran.text
        assert [(i["kind"], i["id"]) for i in ran.json()["items"]] == [("deal", other["id"])]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert admin.post("/v1/handovers/preview", json=plan).json()["counts"]["deal"] == 2


def test_a_handover_waits_for_a_concurrent_change_and_never_overwrites_it(app: FastAPI, workplace: Workplace,
                                                                          backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("two writers at once need PostgreSQL's row locks (SQLite runs one writer at a time)")
    sam, admin = _as(app, workplace, "rep.sam"), _as(app, workplace, "admin")
    account = sam.post("/v1/accounts", json={"name": "Acme", "owner": "rep.sam"}).json()["id"]
    oid = sam.post("/v1/opportunities", json={"name": "Acme deal", "account_id": account}).json()["id"]
    plan = {"user": "rep.sam", "successor": "rep.alex", "accounts": [{"account_id": account, "note": "Dana signs"}]}
    answers: list[Any] = []
    with psycopg.connect(_libpq(app.state.database.url)) as other:  # another writer, mid-transaction
        other.execute("SELECT id FROM opportunity WHERE id = %s FOR UPDATE", (uuid.UUID(oid),))
        running = threading.Thread(target=lambda: answers.append(admin.post("/v1/handovers", json=plan)))
        running.start()
        running.join(1.0)
        assert running.is_alive()  # the handover waits for the deal's lock
        other.execute("UPDATE opportunity SET owner = 'rep.zoe', version = version + 1 WHERE id = %s",
                      (uuid.UUID(oid),))
        other.commit()
    running.join(30)
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["counts"] == {"deal": 0, "account": 1, "task": 0, "complaint": 0}
    assert admin.get(f"/v1/opportunities/{oid}").json()["owner"] == "rep.zoe"  # the other writer's change stands
    assert [h["kind"] for h in admin.get(f"/v1/opportunities/{oid}/history").json()["items"]] == ["create"]


def test_a_deactivation_waits_for_an_assignment_to_the_user_and_then_refuses(app: FastAPI, workplace: Workplace,
                                                                             backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("two writers at once need PostgreSQL's row locks (SQLite runs one writer at a time)")
    admin, alex = _as(app, workplace, "admin"), _as(app, workplace, "rep.alex")
    oid = alex.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    sam = next(u for u in admin.get("/v1/admin/users").json()["items"] if u["handle"] == "rep.sam")
    answers: list[Any] = []
    with psycopg.connect(_libpq(app.state.database.url)) as other:  # an assignment to rep.sam, mid-transaction
        other.execute("SELECT role FROM app_user WHERE handle = 'rep.sam' FOR SHARE")
        other.execute("UPDATE opportunity SET owner = 'rep.sam' WHERE id = %s", (uuid.UUID(oid),))
        running = threading.Thread(target=lambda: answers.append(
            admin.post(f"/v1/admin/users/{sam['id']}/deactivate")))
        running.start()
        running.join(1.0)
        assert running.is_alive()  # the deactivation waits for the assignment
        other.commit()
    running.join(30)
    assert answers[0].status_code == 409 and answers[0].json()["holds"]["deal"] == [oid]
