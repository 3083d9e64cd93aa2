"""Every change is an event: written with the change or not at all, read back in commit order from the feed."""

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.events.schemas import PAYLOADS
from app.identity.models import Workspace
from app.opportunities.changes import change_deal
from app.opportunities.models import Opportunity
from app.outbox import EVENT_TYPES, Event
from app.paging import encode_cursor
from tests.conftest import (
    ECONOMIC_BUYER,
    QUANTIFIED_PROBLEM,
    WATER_DEAL,
    Workplace,
    count_rows,
    move,
)
from tests.method import prepare
from tests.test_processes import default_spec, publish_version

FEED = "/v1/events"


@pytest.fixture
def crm(app: FastAPI, workplace: Workplace) -> TestClient:
    """An integration client, as a CRM connector would be."""
    return TestClient(app, headers=workplace.as_user("crm.sync"))


def read_all(crm: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Every event of the feed, page by page."""
    events: list[dict[str, Any]] = []
    after = None
    while True:
        answer = crm.get(FEED, params={**params, "limit": 50, **({"after": after} if after else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        events += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return events


def exercise_every_type(client: TestClient, admin: TestClient, ops: TestClient, manager: TestClient) -> str:
    """Make, through the API, at least one change of every kind a deal, a process and an endpoint can have."""
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    client.patch(f"/v1/opportunities/{oid}", json={"name": "Water treatment upgrade", "value": None})
    problem = client.post(f"/v1/opportunities/{oid}/problems", json=QUANTIFIED_PROBLEM).json()
    client.patch(f"/v1/opportunities/{oid}/problems/{problem['id']}", json={"description": "Filters fail"})
    extra = client.post(f"/v1/opportunities/{oid}/stakeholders", json=ECONOMIC_BUYER).json()
    assert client.delete(f"/v1/opportunities/{oid}/stakeholders/{extra['id']}").status_code == 204
    prepare(client, oid, "follow_up")
    for step in ("opening", "questioning", "solution_design", "presentation", "negotiation", "closing", "follow_up"):
        assert move(client, oid, step).status_code == 200, step
    task = client.get(f"/v1/opportunities/{oid}/tasks").json()["items"][0]
    assert client.patch(f"/v1/opportunities/{oid}/tasks/{task['id']}", json={"completed": True}).status_code == 200
    assert move(client, oid, "closing", reason="the order was withdrawn").status_code == 200
    assert move(client, oid, "lost", reason="budget frozen").status_code == 200
    assert move(manager, oid, "closing", reason="budget back").status_code == 200
    other = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    answer = client.post(f"/v1/opportunities/{other}/transitions", json={"to": "disqualified", "reason_code": "not_a_fit"})
    assert answer.status_code == 200, answer.text
    third = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    assert move(client, third, "questioning").status_code == 409  # refused: kept, and announced
    until = (date.today() + timedelta(days=30)).isoformat()
    assert client.post(f"/v1/opportunities/{third}/snooze", json={"until": until, "reason": "Budget round"}).status_code == 200
    assert client.delete(f"/v1/opportunities/{third}/snooze").status_code == 200
    fourth = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, fourth, "follow_up")
    for step in ("opening", "questioning", "solution_design", "presentation", "negotiation", "closing", "follow_up"):
        assert move(client, fourth, step).status_code == 200, step
    for task in client.get("/v1/tasks", params={"kind": "back_office", "completed": "false"}).json()["items"]:
        assert client.post(f"/v1/tasks/{task['id']}/complete").status_code == 200
    assert client.post(f"/v1/opportunities/{fourth}/follow-up-done", json={"note": "Delivered"}).status_code == 200
    leaving = admin.post("/v1/opportunities", json={**WATER_DEAL, "owner": "rep.sam"}).json()
    handed = manager.post("/v1/handovers", json={"user": "rep.sam", "successor": "rep.alex", "accounts": [
        {"account_id": leaving["account"]["id"], "note": "Dana signs"}]})
    assert handed.status_code == 200, handed.text
    version = publish_version(ops, default_spec())
    migrated = ops.post(f"/v1/processes/complex-sale/versions/{version}/migrate", json={"ids": [third]})
    assert migrated.json()["migrated"] == 1, migrated.text
    account = client.get(f"/v1/opportunities/{third}").json()["account"]["id"]
    assert client.patch(f"/v1/accounts/{account}", json={"size": "large"}).status_code == 200
    complaint = client.post("/v1/complaints", json={"account_id": account, "summary": "Late delivery",
                                                    "category": "delivery", "severity": "low"})
    assert client.patch(f"/v1/complaints/{complaint.json()['id']}", json={"status": "investigating"}).status_code == 200
    assert ops.put("/v1/integrations/salesforce", json={"stages": {"Proposal": "presentation"}}).status_code == 201
    pushed = client.put("/v1/opportunities/external/salesforce/006P", json={**WATER_DEAL, "stage": "Proposal"})
    assert pushed.json()["stage_sync"]["reached"] is False, pushed.text  # held at a gate on the way
    endpoint = admin.post("/v1/webhook-endpoints", json={"url": "https://example.com/hook"}).json()
    assert admin.post(f"/v1/webhook-endpoints/{endpoint['id']}/test").status_code == 202
    return oid


def test_each_change_appends_its_event_with_the_deals_version_and_a_payload_of_its_type(
        app: FastAPI, client: TestClient, crm: TestClient, workplace: Workplace) -> None:
    admin = TestClient(app, headers=workplace.as_user("admin"))
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    manager = TestClient(app, headers=workplace.as_user("rep.kim"))
    oid = exercise_every_type(client, admin, ops, manager)
    events = read_all(crm)
    seen = {e["type"] for e in events}
    assert seen >= set(EVENT_TYPES) - {"webhook_endpoint.disabled"}  # the worker disables (tests/test_webhooks.py)
    for event in events:
        PAYLOADS[event["type"]].model_validate(event["data"])  # the documented schema holds
        assert event["data"]["workspace_id"] == str(workplace.workspace_id)
        assert event["id"].startswith("msg_")
    # A deal's events carry its version after each change: rising, and ending at the version the API shows.
    mine = [e for e in events if e["data"].get("opportunity_id") == oid]
    versions = [e["data"]["opportunity_version"] for e in mine]
    assert versions == sorted(versions) and versions[0] == 1
    assert versions[-1] == client.get(f"/v1/opportunities/{oid}").json()["version"]
    history = client.get(f"/v1/opportunities/{oid}/history").json()["items"]
    moves = [e for e in mine if e["type"] == "opportunity.moved"]
    assert [(m["data"]["kind"], m["data"]["to"]["step"], m["data"]["opportunity_version"]) for m in moves] == [
        (h["kind"], h["to_step"], h["seq"]) for h in history if h["kind"] != "create"]
    won = next(e for e in mine if e["type"] == "opportunity.won")
    assert won["data"]["to"]["status"] == "won" and won["data"]["gates"][0]["passed"] is True
    tasks = [e for e in mine if e["type"] == "task.created"]
    assert len(tasks) == len(client.get(f"/v1/opportunities/{oid}/tasks").json()["items"])
    # The follow-up plan is part of the winning move: same version as the win.
    assert {t["data"]["opportunity_version"] for t in tasks} == {won["data"]["opportunity_version"]}
    updated = next(e for e in mine if e["type"] == "opportunity.updated")
    assert updated["data"]["changed"] == ["name", "value"] and updated["data"]["opportunity"]["value"] is None
    deleted = next(e for e in mine if e["type"] == "record.deleted")
    assert deleted["data"]["kind"] == "stakeholder" and deleted["data"]["record"]["name"] == ECONOMIC_BUYER["name"]


def test_the_feed_filters_by_type_and_deal_and_resumes_exactly_after_its_cursor(
        client: TestClient, crm: TestClient) -> None:
    first = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    second = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    page = crm.get(FEED).json()
    assert [e["type"] for e in page["items"]] == ["account.created", "opportunity.created", "opportunity.created"]
    assert page["has_more"] is False
    cursor = page["next_cursor"]
    assert crm.get(FEED, params={"after": cursor}).json()["items"] == []  # caught up: nothing new yet
    client.patch(f"/v1/opportunities/{first}", json={"name": "Renamed"})
    client.post(f"/v1/opportunities/{second}/problems", json=QUANTIFIED_PROBLEM)
    later = crm.get(FEED, params={"after": cursor}).json()
    assert [e["type"] for e in later["items"]] == ["opportunity.updated", "record.created"]
    only = crm.get(FEED, params={"type": "record.created"}).json()["items"]
    assert [e["data"]["opportunity_id"] for e in only] == [second]
    mine = crm.get(FEED, params={"opportunity_id": first}).json()["items"]
    assert [e["type"] for e in mine] == ["opportunity.created", "opportunity.updated"]
    one = crm.get(FEED, params={"limit": 1}).json()
    assert len(one["items"]) == 1 and one["has_more"] is True


def test_reps_may_not_read_the_feed_and_bad_cursors_are_refused(client: TestClient, crm: TestClient) -> None:
    assert client.get(FEED).status_code == 403
    refused = crm.get(FEED, params={"after": "not-a-cursor"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "after"
    expired = encode_cursor([0, 1, datetime.now(UTC) - timedelta(days=400)])
    gone = crm.get(FEED, params={"after": expired})
    assert gone.status_code == 410 and gone.json()["setting"] == "DEALGATE_EVENT_RETENTION_DAYS"
    assert crm.get(FEED, params={"type": "opportunity.exploded"}).status_code == 422
    for forged in (encode_cursor([0, 1, "2026-01-01T00:00:00"]), encode_cursor([2**64, 1, datetime.now(UTC)])):
        assert crm.get(FEED, params={"after": forged}).status_code == 422  # no zone; no such number


def test_a_change_that_fails_appends_no_event(app: FastAPI, client: TestClient, crm: TestClient) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    before = count_rows(app)["event"]
    assert move(client, oid, "presentation").status_code == 409  # the gate refuses: the deal is not changed
    refused = crm.get(FEED, params={"type": "opportunity.move_refused"}).json()["items"]
    assert len(refused) == 1 and count_rows(app)["event"] == before + 1  # only the refusal, kept as data
    before += 1
    assert client.post(f"/v1/opportunities/{oid}/problems", json={"description": ""}).status_code == 422
    stale = client.patch(f"/v1/opportunities/{oid}", json={"name": "X"}, headers={"If-Match": '"9.0"'})
    assert stale.status_code == 412
    assert client.patch(f"/v1/opportunities/{oid}", json={"name": WATER_DEAL["name"]}).status_code == 200  # no change
    assert count_rows(app)["event"] == before


def _workspace(app: FastAPI) -> uuid.UUID:
    with app.state.database.reader() as session:
        return session.scalars(select(Workspace.id)).one()


def _events_of(app: FastAPI, opportunity_id: uuid.UUID) -> int:
    with app.state.database.reader() as session:
        return int(session.scalar(select(func.count()).where(Event.opportunity_id == opportunity_id)) or 0)


def test_a_rolled_back_change_leaves_no_event_and_a_committed_one_always_does(app: FastAPI,
                                                                              client: TestClient) -> None:
    oid = uuid.UUID(client.post("/v1/opportunities", json=WATER_DEAL).json()["id"])
    for outcome, expected in (("rollback", 1), ("commit", 2)):
        with app.state.database.writer() as session:
            deal = session.get(Opportunity, (_workspace(app), oid))
            change_deal(session, deal, "rep.alex", datetime.now(UTC), [("opportunity.updated", {"changed": []})])
            session.flush()
            session.commit() if outcome == "commit" else session.rollback()
        assert _events_of(app, oid) == expected, outcome


def test_a_long_lived_session_versions_every_transaction(app: FastAPI, client: TestClient) -> None:
    """The mark that a row changed in a transaction is cleared at commit: the next transaction versions again."""
    oid = uuid.UUID(client.post("/v1/opportunities", json=WATER_DEAL).json()["id"])
    with app.state.database.writer() as session:
        deal = session.get(Opportunity, (_workspace(app), oid))
        for _ in range(3):
            change_deal(session, deal, "rep.alex", datetime.now(UTC))
            change_deal(session, deal, "rep.alex", datetime.now(UTC))  # the same transaction: one version
            session.commit()
    assert client.get(f"/v1/opportunities/{oid}").json()["version"] == 4


def test_lists_of_deals_follow_changes_since_a_time_and_refuse_unknown_parameters(client: TestClient) -> None:
    old = client.post("/v1/opportunities", json=WATER_DEAL).json()
    new = client.post("/v1/opportunities", json=WATER_DEAL).json()
    client.patch(f"/v1/opportunities/{old['id']}", json={"name": "Touched last"})
    since = new["updated_at"]
    listed = client.get("/v1/opportunities", params={"updated_since": since, "sort": "updated_at"}).json()["items"]
    assert [o["id"] for o in listed] == [new["id"], old["id"]]
    later = client.get("/v1/opportunities", params={"updated_since": "2999-01-01T00:00:00Z"}).json()["items"]
    assert later == []
    paged = client.get("/v1/opportunities", params={"sort": "updated_at", "limit": 1}).json()
    rest = client.get("/v1/opportunities", params={"sort": "updated_at", "cursor": paged["next_cursor"]}).json()
    assert [o["id"] for o in paged["items"] + rest["items"]] == [new["id"], old["id"]]
    for params in ({"updated_sinse": since}, {"sort": "name"}, {"updated_since": "yesterday"}):
        refused = client.get("/v1/opportunities", params=params)
        assert refused.status_code in (400, 422), params
        assert refused.headers["content-type"] == "application/problem+json"
    unknown = client.get("/v1/opportunities", params={"updated_sinse": since}).json()
    assert unknown["status"] == 400 and unknown["parameter"] == "updated_sinse"
    assert "updated_since" in unknown["allowed"]
    assert client.get("/v1/tasks", params={"ownr": "rep.alex"}).status_code == 400


def test_concurrent_writers_leave_a_feed_that_misses_nothing(client: TestClient, crm: TestClient) -> None:
    """Writers commit in any order while a poller reads: every event is read exactly once."""
    writers = 4
    deals = [client.post("/v1/opportunities", json=WATER_DEAL).json()["id"] for _ in range(writers)]
    seen: list[str] = [e["id"] for e in read_all(crm)]
    cursor = crm.get(FEED, params={"limit": 200}).json()["next_cursor"]
    done = threading.Event()

    def write(oid: str) -> None:
        for n in range(15):
            client.patch(f"/v1/opportunities/{oid}", json={"name": f"Deal {n}"})

    def poll() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            page = crm.get(FEED, params={"after": cursor, "limit": 200}).json()
            seen.extend(e["id"] for e in page["items"])
            cursor = page["next_cursor"]
            if finished and not page["items"]:
                return

    poller = threading.Thread(target=poll)
    poller.start()
    threads = [threading.Thread(target=write, args=(oid,)) for oid in deals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    poller.join()
    everything = [e["id"] for e in read_all(crm)]
    assert len(seen) == len(set(seen)), "an event was read twice"
    assert sorted(seen) == sorted(everything) and len(everything) == 1 + writers * 16  # and the account
