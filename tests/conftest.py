"""Fixtures: every test runs against SQLite and PostgreSQL, migrated by Alembic, over HTTP."""

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.db import Base, Database
from app.identity.models import Team
from app.identity.service import add_user, bootstrap, issue_key
from app.main import create_app
from app.settings import Settings
from tests import statements  # noqa: F401  (records the app's statements from the first one on)

pytest_plugins = ["tests.browser"]  # the fixtures of the tests that drive Chromium
ROOT = Path(__file__).resolve().parent.parent
# auto: test PostgreSQL when it answers; require: fail when it does not; off: SQLite only.
POSTGRES_MODE = os.environ.get("DEALGATE_TEST_POSTGRES", "auto")
POSTGRES_URL = os.environ.get("DEALGATE_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `last` run after the others: they check what the others did."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def alembic_config(url: str) -> Config:
    """An Alembic configuration aimed at one database."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(_libpq(POSTGRES_URL), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip()


@contextmanager
def fresh_database(backend: str, tmp_dir: Path, template: str | None = None) -> Iterator[str]:
    """An empty database of the backend (or a copy of a template database), dropped afterwards; yields its URL."""
    if backend == "sqlite":
        path = tmp_dir / f"dealgate-{uuid.uuid4().hex}.db"
        if template is not None:
            with sqlite3.connect(make_url(template).database or "") as source, sqlite3.connect(path) as copy:
                source.backup(copy)
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm", ".writer-lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"dealgate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
        copied = f' TEMPLATE "{make_url(template).database}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{copied}')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_TEMPLATES: dict[str, str] = {}  # backend -> a database migrated to head once, copied for each that needs one


def _template(backend: str) -> str:
    if backend not in _TEMPLATES:
        if backend == "sqlite":
            url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='dealgate-template-')) / 'template.db'}"
        else:
            name = f"dealgate_template_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        command.upgrade(alembic_config(url), "head")
        _TEMPLATES[backend] = url
    return _TEMPLATES[backend]


def pytest_sessionfinish() -> None:
    """Drop the template databases."""
    for backend, url in _TEMPLATES.items():
        if backend == "sqlite":
            shutil.rmtree(Path(make_url(url).database or "").parent, ignore_errors=True)
        else:
            with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@contextmanager
def migrated_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A new database of the backend at the newest migration, dropped afterwards: a copy of one that Alembic
    migrated (test_migrations runs the migrations themselves on fresh databases)."""
    template = _template(backend)
    with fresh_database(backend, tmp_dir, template=template) as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    if request.param == "postgresql":
        if POSTGRES_MODE == "off":
            pytest.skip("PostgreSQL tests are off (DEALGATE_TEST_POSTGRES=off)")
        problem = _postgres_reachable()
        if problem is not None:
            if POSTGRES_MODE == "require":
                pytest.fail(f"PostgreSQL is required but unreachable at {POSTGRES_URL}: {problem}")
            pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: {problem}")
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the backend, migrated to head by Alembic, for the whole session."""
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as url:
        command.upgrade(alembic_config(url), "head")
        yield url


@pytest.fixture(scope="session")
def session_app(database_url: str) -> Iterator[FastAPI]:
    """One app per backend; tests share it and start from empty tables."""
    app = create_app(Settings(database_url=database_url, server_worker=False))
    yield app
    app.state.database.dispose()


@pytest.fixture
def app(session_app: FastAPI) -> Iterator[FastAPI]:
    """The app, with every table emptied after the test."""
    yield session_app
    database = session_app.state.database
    tables = [t.name for t in Base.metadata.sorted_tables]
    with database.engine.begin() as connection:
        if database.is_sqlite:
            for name in reversed(tables):
                connection.execute(text(f"DELETE FROM {name}"))
        else:
            connection.execute(text(f"TRUNCATE {', '.join(tables)}"))


# The people of the test workspace: handle -> (role, team).
PEOPLE = {"rep.alex": ("rep", "Water"), "rep.sam": ("rep", "Water"), "rep.kim": ("manager", "Water"),
          "rep.zoe": ("rep", "Energy"), "ops.lee": ("ops", None), "crm.sync": ("integration", None),
          "admin": ("admin", None)}


@dataclass(frozen=True)
class Workplace:
    """A workspace with its people and their API keys."""

    workspace_id: uuid.UUID
    keys: dict[str, str]

    def as_user(self, handle: str) -> dict[str, str]:
        """The headers that make a request act as that person."""
        return {"Authorization": f"Bearer {self.keys[handle]}"}


def make_workplace(app: FastAPI, name: str = "Riverton Sales") -> Workplace:
    """A workspace with two sales teams, everyone in PEOPLE, and a key each."""
    return seed_workplace(app.state.database, name)


def seed_workplace(database: Database, name: str = "Riverton Sales") -> Workplace:
    """The workspace of make_workplace, written straight to a database (one a server in another process serves)."""
    with database.writer() as session:
        workspace, admin_key = bootstrap(session, workspace_name=name, handle="admin")
        teams = {name: Team(workspace_id=workspace.id, id=uuid.uuid4(), name=name) for name in ("Water", "Energy")}
        session.add_all(teams.values())
        session.flush()
        keys = {"admin": admin_key}
        for handle, (role, team) in PEOPLE.items():
            if handle != "admin":
                user = add_user(session, workspace.id, handle=handle, name=handle, role=role,
                                team_id=teams[team].id if team else None)
                keys[handle] = issue_key(session, user)[1]
        session.commit()
    return Workplace(workspace.id, keys)


@pytest.fixture
def workplace(app: FastAPI) -> Workplace:
    """The test workspace, fresh for each test."""
    return make_workplace(app)


@pytest.fixture
def client(app: FastAPI, workplace: Workplace) -> Iterator[TestClient]:
    """An HTTP client calling the app in-process as rep.alex, as a front end would."""
    with TestClient(app, headers=workplace.as_user("rep.alex")) as test_client:
        yield test_client


def count_rows(app: FastAPI) -> dict[str, int]:
    """How many rows each table holds."""
    with app.state.database.engine.connect() as connection:
        return {t.name: connection.execute(text(f"SELECT count(*) FROM {t.name}")).scalar_one()
                for t in Base.metadata.sorted_tables}


def dump(app: FastAPI) -> dict[str, str]:
    """A digest of every row of every table, to show that a refused request changed nothing (but the
    time a key was last used, which every authenticated request may stamp)."""
    digests = {}
    with app.state.database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name != "last_used_at"]
            rows = connection.execute(select(*columns).order_by(*table.primary_key.columns)).all()
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


WATER_DEAL: dict[str, Any] = {
    "name": "Municipal water treatment upgrade",
    "account": {"name": "Riverton City Council", "industry": "public_sector"},
    "value": {"amount": 125000000, "currency": "EUR"},
}
QUANTIFIED_PROBLEM: dict[str, Any] = {
    "description": "Unplanned filter outages force bottled-water deliveries",
    "cost": {"amount": 42000000, "currency": "EUR", "period": "year",
             "basis": "Twelve outages a year at 35,000 EUR of bottled water each"},
    "confirmed_by_customer": True,
}
ECONOMIC_BUYER: dict[str, Any] = {"name": "Dana Okafor", "title": "Director of Public Works",
                                  "role": "economic_buyer", "needs": "No more emergency call-outs"}


@pytest.fixture
def opportunity(client: TestClient) -> dict[str, Any]:
    """A fresh opportunity at planning."""
    response = client.post("/v1/opportunities", json=WATER_DEAL)
    assert response.status_code == 201, response.text
    return response.json()


def move(client: TestClient, opportunity_id: str, to: str, reason: str | None = None,
         **headers: str) -> Any:
    """POST a transition; returns the response."""
    body = {"to": to} if reason is None else {"to": to, "reason": reason}
    return client.post(f"/v1/opportunities/{opportunity_id}/transitions", json=body,
                       headers=headers)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    """uvicorn serving the app on the database, once it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env={**os.environ, "DEALGATE_DATABASE_URL": url})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2)
            return process
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not start (exit code {process.poll()})")


def serve_process(url: str, port: int, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """`dealgate serve` on the database, its log lines written to `log`, once it answers."""
    with open(log, "ab") as written:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args], cwd=ROOT,
                                   stderr=written, env={**os.environ, "DEALGATE_DATABASE_URL": url, **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"dealgate serve did not start: {log.read_text()[-2000:]}")


def bootstrap_key(url: str) -> str:
    """The key of the administrator of a new workspace (as `dealgate admin bootstrap` makes it; test_identity runs
    the command itself)."""
    database = Database(url)
    try:
        with database.transaction() as session:
            _, key = bootstrap(session, workspace_name="My company", handle="admin")
    finally:
        database.dispose()
    return key


def start_worker(url: str, log: Path | None = None, **env: str) -> subprocess.Popen[bytes]:
    """`dealgate worker` on the database, its log lines written to `log` (a pipe would fill and stall it)."""
    with open(log or os.devnull, "ab") as written:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, stderr=written,
                                env={**os.environ, "DEALGATE_DATABASE_URL": url,
                                     "DEALGATE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true", **env})


@contextmanager
def served_database(backend: str, tmp_path: Path) -> Iterator[tuple[str, str, int, subprocess.Popen[bytes]]]:
    """A fresh, migrated, bootstrapped database and a server on it: its URL, the admin key, the port, the process."""
    with migrated_database(backend, tmp_path) as url:
        key = bootstrap_key(url)
        port = _free_port()
        process = start_server(url, port)
        try:
            yield url, key, port, process
        finally:
            stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a server as a supervisor would: SIGTERM, and SIGKILL if it is still running 10 seconds later."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A uvicorn server on a fresh, migrated, bootstrapped database; yields its URL and the key."""
    with served_database(backend, tmp_path) as (_, key, port, _process):
        yield f"http://127.0.0.1:{port}", key
