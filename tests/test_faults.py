"""A dropped database connection: the request answers 503 and changes nothing; the next one works."""

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.conftest import WATER_DEAL, count_rows


def test_a_dropped_postgresql_connection_answers_503_then_recovers(backend: str, app: FastAPI,
                                                                   client: TestClient) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no connection to drop")
    assert client.get("/v1/opportunities").status_code == 200  # a pooled connection now exists
    before = count_rows(app)
    url = app.state.database.url
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    dropped = client.post("/v1/opportunities", json=WATER_DEAL)
    assert dropped.status_code == 503, dropped.text
    assert dropped.headers["content-type"] == "application/problem+json"
    assert dropped.json()["type"].endswith("database-unavailable")
    assert count_rows(app) == before
    assert client.post("/v1/opportunities", json=WATER_DEAL).status_code == 201
