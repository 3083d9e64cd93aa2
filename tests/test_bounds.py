"""Every cost a user can cause is bounded: records per deal, the records snapshot, pages, dry runs, migrations,
and the caches of compiled versions."""

import copy
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.db import exclusive
from app.engine.machine import MACHINES
from app.main import create_app
from app.processes.service import PUBLISHED, default_process
from app.settings import Settings, get_settings
from tests.conftest import ECONOMIC_BUYER, WATER_DEAL, Workplace, dump, move
from tests.method import EARLIER, post, prepare

OPPORTUNITIES = "/v1/opportunities"


def walk(client: TestClient, path: str, limit: int = 2) -> list[dict[str, Any]]:
    """Every item of a paged list, page by page; each page holds at most `limit`."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture
def admin(app: FastAPI, workplace: Workplace) -> Iterator[TestClient]:
    """The workspace's administrator."""
    with TestClient(app, headers=workplace.as_user("admin")) as client:
        yield client


def test_a_deal_holds_at_most_so_many_records_of_a_kind(app: FastAPI, client: TestClient) -> None:
    limit = get_settings().max_records("stakeholders")
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    for i in range(limit):
        post(client, oid, "stakeholders", {"name": f"Person {i}", "role": "user"})
    before = dump(app)
    refused = client.post(f"{OPPORTUNITIES}/{oid}/stakeholders", json=ECONOMIC_BUYER)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/limit-exceeded")
    assert (refused.json()["limit"], refused.json()["value"]) == ("max_records_per_kind", limit)
    assert dump(app) == before
    assert len(walk(client, f"{OPPORTUNITIES}/{oid}/stakeholders", limit=200)) == limit


def test_the_records_snapshot_stays_under_its_limit(app: FastAPI, client: TestClient) -> None:
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    plan = {"objective": "Everything", "questions": ["q" * 9_000] * 100}  # about 900 KB
    post(client, oid, "meeting-plans", plan)
    before = dump(app)
    refused = client.post(f"{OPPORTUNITIES}/{oid}/meeting-plans", json=plan)
    assert refused.status_code == 422, refused.text
    assert refused.json()["limit"] == "max_snapshot_bytes" and refused.json()["value"] == 1_048_576
    assert dump(app) == before
    assert client.get(f"{OPPORTUNITIES}/{oid}/guidance").status_code == 200


def test_every_list_is_paged_with_a_cursor(app: FastAPI, client: TestClient, admin: TestClient,
                                           workplace: Workplace) -> None:
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    prepare(client, oid, "opening")
    for step in ("opening", "planning", "opening", "planning"):
        assert move(client, oid, step, reason="back and forth").status_code == 200
    for i in range(5):
        post(client, oid, "activities", {"kind": "call", "occurred_at": EARLIER, "notes": f"call {i}"})
        post(client, oid, "tasks", {"title": f"Task {i}", "kind": "other", "due_date": f"2027-01-0{5 - i}"})
    history = walk(client, f"{OPPORTUNITIES}/{oid}/history")
    assert [h["seq"] for h in history] == sorted(h["seq"] for h in history) and len(history) == 5
    assert [a["notes"] for a in walk(client, f"{OPPORTUNITIES}/{oid}/activities")] == [f"call {i}" for i in range(5)]
    tasks = walk(client, "/v1/tasks")
    assert [t["title"] for t in tasks] == [f"Task {i}" for i in reversed(range(5))]  # by due date
    assert len(walk(admin, "/v1/admin/users")) == len(workplace.keys)
    users = {u["handle"]: u["id"] for u in walk(admin, "/v1/admin/users")}
    for _ in range(3):
        admin.post(f"/v1/admin/users/{users['rep.sam']}/keys")
    assert len(walk(admin, f"/v1/admin/users/{users['rep.sam']}/keys")) == 4
    assert len(walk(admin, "/v1/admin/audit")) == 3
    assert len(walk(admin, "/v1/admin/teams", limit=1)) == 2
    refused = client.get(f"{OPPORTUNITIES}/{oid}/history", params={"cursor": "not-a-cursor"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "cursor"
    assert client.get("/v1/tasks", params={"limit": 201}).status_code == 422


def test_one_dry_run_at_a_time_per_workspace(app: FastAPI, workplace: Workplace) -> None:
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    path = "/v1/processes/complex-sale/versions/1/dry-run"
    with app.state.database.reader() as session, exclusive(session, f"dry-run {workplace.workspace_id}") as held:
        assert held
        busy = ops.post(path, json={})
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "5"
        assert busy.json()["type"].endswith("/busy")
    assert ops.post(path, json={}).status_code == 200
    assert ops.post(path, json={"max_ids": 1_001}).status_code == 422


def test_migrating_moves_at_most_a_batch_a_call_and_resumes(app: FastAPI, client: TestClient,
                                                            workplace: Workplace) -> None:
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    ids = [client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"] for _ in range(5)]
    spec = copy.deepcopy(default_process()[1])
    spec["title"] = "Complex sale, revised"
    assert ops.post("/v1/processes/complex-sale/versions", json=spec).status_code == 201
    assert ops.post("/v1/processes/complex-sale/versions/2/publish").status_code == 200
    migrate = "/v1/processes/complex-sale/versions/2/migrate"
    assert ops.post(migrate, json={"limit": 501}).status_code == 422
    moved = [ops.post(migrate, json={"limit": 2}).json() for _ in range(3)]
    assert [(m["migrated"], m["remaining"]) for m in moved] == [(2, 3), (2, 1), (1, 0)]
    assert {client.get(f"{OPPORTUNITIES}/{i}").json()["process"]["version"] for i in ids} == {2}


def test_compiled_versions_and_machines_are_kept_up_to_a_bound(app: FastAPI, client: TestClient,
                                                               workplace: Workplace,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PUBLISHED, "maxsize", 2)
    monkeypatch.setattr(MACHINES, "maxsize", 2)
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    deals = []
    for number in range(2, 7):
        spec = copy.deepcopy(default_process()[1])
        spec["title"] = f"Complex sale {number}"
        assert ops.post("/v1/processes/complex-sale/versions", json=spec).status_code == 201
        assert ops.post(f"/v1/processes/complex-sale/versions/{number}/publish").status_code == 200
        deals.append(client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"])
        assert len(PUBLISHED) <= 2
    for oid in deals:  # a version pushed out is compiled again when a deal needs it
        post(client, oid, "stakeholders", ECONOMIC_BUYER)
        assert client.get(f"{OPPORTUNITIES}/{oid}/gates/opening").status_code == 200
        assert move(client, oid, "lost", reason="test").status_code == 200
        assert len(PUBLISHED) <= 2 and len(MACHINES) <= 2


def test_a_server_process_keeps_as_many_connections_as_requests_it_runs_at_once(app: FastAPI,
                                                                                workplace: Workplace) -> None:
    """With DEALGATE_DATABASE_CONNECTIONS=3, two dozen requests at once take turns on three connections, opened once
    and kept (PostgreSQL): none is opened and closed per request, and none waits for a connection."""
    url = app.state.settings.database_url
    if not url.startswith("postgresql"):
        pytest.skip("SQLite opens a file, not a connection to a server")
    served = create_app(Settings(database_url=url, server_worker=False, database_connections=3))
    opened: list[int] = []
    event.listen(served.state.database.engine, "connect", lambda *_: opened.append(1))
    with TestClient(served, headers=workplace.as_user("rep.alex")) as client, ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: client.get("/v1/opportunities").status_code, range(48)))
    assert answers == [200] * 48
    assert 1 <= len(opened) <= 3
