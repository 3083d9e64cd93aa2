"""Liveness and readiness answer without a key and say only whether the service can serve."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.identity.service import bootstrap
from app.main import create_app
from app.settings import Settings
from tests.conftest import WATER_DEAL, migrated_database


def test_ready_means_database_schema_and_outbox_in_order(backend: str, tmp_path: Path) -> None:
    with migrated_database(backend, tmp_path) as url:
        app = create_app(Settings(database_url=url, server_worker=False))
        engine = create_engine(url)
        try:
            anyone = TestClient(app)
            assert anyone.get("/healthz").json() == {"status": "alive"}
            assert anyone.get("/readyz").json() == {"status": "ready"}

            with app.state.database.transaction() as session:
                _, key = bootstrap(session, workspace_name="Riverton", handle="admin")
            admin = TestClient(app, headers={"Authorization": f"Bearer {key}"})
            assert admin.post("/v1/opportunities", json=WATER_DEAL).status_code == 201
            assert anyone.get("/readyz").status_code == 200  # its event is fresh: no worker has had the time
            with engine.begin() as connection:  # no worker relayed it, and it is two minutes old
                connection.execute(text("UPDATE event SET at = :at"), {"at": _ago(backend, 120)})
            late = anyone.get("/readyz")
            assert late.status_code == 503 and late.json()["failing"] == ["outbox"]
            assert late.headers["content-type"].startswith("application/problem+json")
            with engine.begin() as connection:
                connection.execute(text("UPDATE event SET dispatched_at = at"))
                connection.execute(text("UPDATE alembic_version SET version_num = '0010'"))
            behind = anyone.get("/readyz")
            assert behind.status_code == 503 and behind.json()["failing"] == ["schema"]
            assert set(behind.json()) == {"type", "title", "status", "detail", "instance", "failing"}
            with engine.begin() as connection:  # the next release migrated it: this one still serves
                connection.execute(text("UPDATE alembic_version SET version_num = '0099_next_release'"))
            assert anyone.get("/readyz").status_code == 200
            app.state.database.dispose()
        finally:
            engine.dispose()


def _ago(backend: str, seconds: int) -> object:
    at = datetime.now(UTC) - timedelta(seconds=seconds)
    return at.replace(tzinfo=None).isoformat(sep=" ") if backend == "sqlite" else at
