"""API keys: every route needs one, only hashes are stored, and workspaces never see each other."""

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from app.identity.keys import split_key
from app.identity.models import ApiKey
from app.main import create_app
from app.settings import Settings
from tests.conftest import ROOT, WATER_DEAL, Workplace, make_workplace


def _assert_unauthorized(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"].endswith("unauthorized")


def test_every_route_refuses_a_missing_malformed_or_wrong_key(app: FastAPI, workplace: Workplace) -> None:
    key = workplace.keys["rep.alex"]
    prefix_right_secret_wrong = key[:-6] + ("AAAAAA" if not key.endswith("AAAAAA") else "BBBBBB")
    operations = [(method, path) for path, item in app.openapi()["paths"].items() for method in item]
    assert len(operations) > 60  # every operation of the API, as documented
    with TestClient(app) as anonymous:
        for method, path in operations:
            url = path.replace("{opportunity_id}", "01930000-0000-7000-8000-000000000000") \
                      .replace("{record_id}", "01930000-0000-7000-8000-000000000001").replace("{step}", "opening")
            for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nonsense"},
                            {"Authorization": f"Bearer {prefix_right_secret_wrong}"},
                            {"Authorization": "Bearer dg_aaaaaaaaaaaa_" + "x" * 43}):
                _assert_unauthorized(anonymous.request(method.upper(), url, headers=headers, json={}))


def test_keys_are_stored_as_hashes_and_marked_used(app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    key = workplace.keys["rep.alex"]
    with app.state.database.reader() as session:
        rows = session.scalars(select(ApiKey)).all()
    assert len(rows) == len(workplace.keys)
    stored = " ".join(f"{r.prefix} {r.secret_hash}" for r in rows)
    assert key not in stored and split_key(key)[1] not in stored  # the secret may hold "_" itself
    assert all(len(r.secret_hash) == 64 and r.last_used_at is None for r in rows)

    assert client.get("/v1/opportunities").status_code == 200
    with app.state.database.reader() as session:
        used = session.scalars(select(ApiKey).where(ApiKey.last_used_at.is_not(None))).all()
    assert [u.prefix for u in used] == [key.split("_")[1]]
    assert isinstance(used[0].last_used_at, datetime)


def test_a_revoked_key_is_refused(app: FastAPI, database_url: str, workplace: Workplace) -> None:
    with app.state.database.writer() as session:
        session.execute(update(ApiKey).values(revoked_at=datetime.now().astimezone()))
        session.commit()
    fresh = create_app(Settings(database_url=database_url))  # no key cached yet
    try:
        with TestClient(fresh) as client:
            _assert_unauthorized(client.get("/v1/opportunities", headers=workplace.as_user("rep.alex")))
    finally:
        fresh.state.database.dispose()


def test_another_workspace_sees_nothing_of_this_one(app: FastAPI, client: TestClient) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    other = make_workplace(app, "Another company")
    with TestClient(app, headers=other.as_user("admin")) as stranger:
        assert stranger.get("/v1/opportunities").json()["items"] == []
        for response in (stranger.get(f"/v1/opportunities/{oid}"),
                         stranger.get(f"/v1/opportunities/{oid}/history"),
                         stranger.post(f"/v1/opportunities/{oid}/problems", json={"description": "x"}),
                         stranger.post(f"/v1/opportunities/{oid}/transitions", json={"to": "lost", "reason": "x"})):
            assert response.status_code == 404, response.text
        assert stranger.get("/v1/tasks").json()["items"] == []
    assert client.get(f"/v1/opportunities/{oid}").json()["status"] == "open"


def test_a_recognised_key_costs_no_database_round_trip(app: FastAPI, client: TestClient) -> None:
    assert client.get("/v1/tasks").status_code == 200  # first use: the key is looked up and cached
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(app.state.database.engine, "before_cursor_execute", record)
    try:
        assert client.get("/v1/tasks").status_code == 200
    finally:
        event.remove(app.state.database.engine, "before_cursor_execute", record)
    assert statements and not any("api_key" in s or "app_user" in s for s in statements), statements


def test_a_wrong_secret_costs_no_write_and_no_cache_entry(app: FastAPI, workplace: Workplace) -> None:
    key = workplace.keys["rep.alex"]
    prefix = key.split("_")[1]
    wrong = key[:-6] + ("AAAAAA" if not key.endswith("AAAAAA") else "BBBBBB")
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(app.state.database.engine, "before_cursor_execute", record)
    try:
        with TestClient(app) as anonymous:
            _assert_unauthorized(anonymous.get("/v1/opportunities", headers={"Authorization": f"Bearer {wrong}"}))
    finally:
        event.remove(app.state.database.engine, "before_cursor_execute", record)
    assert not any(s.lstrip().upper().startswith(("UPDATE", "INSERT", "BEGIN IMMEDIATE")) for s in statements), statements
    with app.state.database.reader() as session:
        assert session.scalars(select(ApiKey.last_used_at).where(ApiKey.prefix == prefix)).one() is None
    assert app.state.keys.get(prefix) == (False, None)
    with TestClient(app, headers=workplace.as_user("rep.alex")) as right:  # the right secret still works
        assert right.get("/v1/opportunities").status_code == 200
    assert app.state.keys.get(prefix)[0]


def test_a_forbidden_answer_does_not_name_the_deals_owner(app: FastAPI, workplace: Workplace) -> None:
    with TestClient(app, headers=workplace.as_user("rep.zoe")) as zoe:
        oid = zoe.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    with TestClient(app, headers=workplace.as_user("rep.alex")) as alex:
        for refused in (alex.get(f"/v1/opportunities/{oid}"), alex.get(f"/v1/opportunities/{oid}/stakeholders"),
                        alex.post(f"/v1/opportunities/{oid}/transitions", json={"to": "lost", "reason": "x"})):
            assert refused.status_code == 403 and "rep.zoe" not in refused.text, refused.text


def test_bootstrap_writes_the_key_to_a_file_only_its_owner_reads(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "admin.key"
    key_file.write_text("stale")
    key_file.chmod(0o644)
    done = subprocess.run([sys.executable, "-m", "app.cli", "admin", "bootstrap", "--workspace", "Containers",
                           "--handle", "boot.admin", "--key-file", str(key_file)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "DEALGATE_DATABASE_URL": database_url}, timeout=60)
    assert done.returncode == 0, done.stderr
    key = key_file.read_text().strip()
    assert key.startswith("dg_") and key not in done.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        assert client.get("/v1/admin/users", headers={"Authorization": f"Bearer {key}"}).status_code == 200


@contextmanager
def _stamps_held(app: FastAPI, prefix: str) -> Iterator[None]:
    """Hold what a key's last-use stamp waits for: SQLite's write lock, or the key's row on PostgreSQL."""
    database = app.state.database
    if database.write_lock is not None:
        with database.write_lock:
            yield
        return
    with database.engine.connect() as connection:
        connection.execute(select(ApiKey.id).where(ApiKey.prefix == prefix).with_for_update())
        yield
        connection.rollback()


def test_requests_that_find_a_key_missing_at_once_share_one_lookup(app: FastAPI, workplace: Workplace) -> None:
    """Fifteen requests with a key no longer cached, arriving while the first one's lookup waits to stamp the key's
    last use, wait for that lookup instead of each making its own: the key is stamped once. A request with the
    right prefix and a wrong secret among them is still refused."""
    key = workplace.keys["rep.sam"]
    prefix = split_key(key)[0]
    wrong = key[:-6] + ("AAAAAA" if not key.endswith("AAAAAA") else "BBBBBB")
    app.state.keys.clear()
    stamps: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE API_KEY"):
            stamps.append(statement)

    event.listen(app.state.database.engine, "before_cursor_execute", record)
    try:
        with TestClient(app) as client, ThreadPoolExecutor(16) as pool:
            def ask(secret: str) -> int:
                return client.get("/v1/opportunities", headers={"Authorization": f"Bearer {secret}"}).status_code

            with _stamps_held(app, prefix):
                asked = [pool.submit(ask, key) for _ in range(15)]
                time.sleep(0.5)
                refused = pool.submit(ask, wrong)
                time.sleep(0.5)
            answers = [done.result(timeout=30) for done in asked]
            assert refused.result(timeout=30) == 401
    finally:
        event.remove(app.state.database.engine, "before_cursor_execute", record)
    assert answers == [200] * 15
    assert len(stamps) == 1, stamps
