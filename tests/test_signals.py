"""What an operator watches: Prometheus metrics at /metrics, one JSON log line a request and a delivery, and a
shutdown on SIGTERM that lets requests in flight finish."""

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app.main import create_app
from app.outbox import Event
from app.settings import Settings
from tests.conftest import (WATER_DEAL, Workplace, _free_port, bootstrap_key, migrated_database,
                            serve_process)
from tests.method import prepare

TOKEN = "metrics-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient | httpx2.Client, **headers: str) -> Samples:
    """Every sample /metrics serves, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent: a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def watched(app: FastAPI, workplace: Workplace) -> Iterator[TestClient]:
    """The app on the same database with a metrics token set, called as rep.alex."""
    settings = Settings(database_url=app.state.database.url, server_worker=False, metrics_token=TOKEN)
    other = create_app(settings)
    with TestClient(other, headers=workplace.as_user("rep.alex")) as client:
        yield client
    other.state.database.dispose()


def test_metrics_need_the_token_or_a_loopback_client(client: TestClient, watched: TestClient) -> None:
    refused = client.get("/metrics")  # no token set, and the test client is no loopback address
    assert refused.status_code == 403 and "DEALGATE_METRICS_TOKEN" in refused.json()["detail"]
    assert refused.headers["content-type"] == "application/problem+json"
    assert watched.get("/metrics").status_code == 401
    assert watched.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scrape(watched, Authorization=f"Bearer {TOKEN}")
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_moves_refusals_overrides_requests_and_the_outbox_are_counted(
        app: FastAPI, watched: TestClient, workplace: Workplace) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = scrape(watched, **auth)
    deal = watched.post("/v1/opportunities", json=WATER_DEAL).json()
    moves = f"/v1/opportunities/{deal['id']}/transitions"

    def blocking(to: str) -> list[str]:
        refused = watched.post(moves, json={"to": to})
        assert refused.status_code == 409
        return [f["code"] for f in refused.json()["unmet"] if f["severity"] == "block"]

    codes = blocking("questioning")
    prepare(watched, deal["id"], "opening")
    assert watched.post(moves, json={"to": "opening"}).status_code == 200
    passed = blocking("questioning")
    overridden = watched.post(moves, json={"to": "questioning", "override": "The customer asked to go on"},
                              headers=workplace.as_user("rep.kim"))
    assert overridden.status_code == 200, overridden.text
    after = scrape(watched, **auth)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("dealgate_moves_total", process="complex-sale", step="opening", kind="forward") == 1
    assert grew("dealgate_moves_total", process="complex-sale", step="questioning", kind="forward") == 1
    refusals = codes + passed
    assert codes and all(grew("dealgate_move_refusals_total", code=c) == refusals.count(c) for c in refusals)
    assert passed and all(grew("dealgate_overrides_total", code=code) == 1 for code in passed)
    route = "/v1/opportunities/{opportunity_id}/transitions"
    assert grew("dealgate_http_requests_total", route=route, method="POST", status="409") == 2
    assert grew("dealgate_http_requests_total", route=route, method="POST", status="200") == 2
    assert grew("dealgate_http_request_duration_seconds_count", route=route, method="POST") == 4
    with app.state.database.reader() as session:  # no worker runs beside the test app: every event waits
        waiting = session.scalar(select(func.count()).select_from(Event).where(Event.dispatched_at.is_(None)))
    assert value(after, "dealgate_outbox_events") == waiting > 0
    assert value(after, "dealgate_outbox_oldest_seconds") > 0
    assert value(after, "dealgate_cache_entries", cache="process_versions") >= 1  # one process: no pid label


def _logged(stderr: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    return parsed


def test_two_server_processes_log_json_lines_and_sum_their_metrics(tmp_path: Path) -> None:
    with migrated_database("sqlite", tmp_path) as url:
        key = bootstrap_key(url)
        port = _free_port()
        log = tmp_path / "serve.log"
        server = serve_process(url, port, log, "--workers", "2")
        sent = 0
        try:
            with httpx2.Client(base_url=f"http://127.0.0.1:{port}",
                               headers={"Authorization": f"Bearer {key}"}) as api:
                for _ in range(20):
                    assert api.post("/v1/opportunities", json=WATER_DEAL).status_code == 201
                    sent += 1
                assert api.get("/v1/opportunities", headers={"Authorization": "Bearer dg_x_wrong",
                                                             "X-Request-Id": "wrong-key-1"}).status_code == 401
                samples = scrape(api)  # from loopback: no token needed
                proxied = api.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
                assert proxied.status_code == 403  # unless it came through a proxy, which makes anyone look local
                assert api.get("/metrics", headers={"X-Real-IP": "203.0.113.9"}).status_code == 403
            created = value(samples, "dealgate_http_requests_total", route="/v1/opportunities", method="POST",
                            status="201")
            assert created == sent  # summed over both processes, whichever answered
            pids = {dict(labels)["pid"] for name, labels in samples if name == "dealgate_cache_entries"}
            assert pids, "each process reports its caches"
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        stderr = log.read_text()
        assert server.returncode in (0, -signal.SIGTERM), stderr[-2000:]
        logged = _logged(stderr)
        requests = [line for line in logged if line["logger"] == "dealgate.access"]
        created_lines = [r for r in requests if r["route"] == "/v1/opportunities" and r["method"] == "POST"]
        assert len(created_lines) == sent
        assert all(r["status"] == 201 and r["user"] == "admin" and r["workspace"] and len(r["request_id"]) == 32
                   and r["duration_ms"] > 0 and r["level"] == "INFO" and r["time"] for r in created_lines)
        refused = next(r for r in requests if r["request_id"] == "wrong-key-1")
        assert refused["status"] == 401 and refused["user"] is None
        assert key not in stderr and key.split("_")[-1] not in stderr  # never a key, nor its secret


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    with migrated_database("sqlite", tmp_path) as url:
        key = bootstrap_key(url)
        port = _free_port()
        server = serve_process(url, port, tmp_path / "serve.log", DEALGATE_SERVER_WORKER="false")
        body = json.dumps(WATER_DEAL).encode()
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(f"POST /v1/opportunities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                               + body[:10])
            time.sleep(0.5)  # the request is in flight: its body is still coming
            server.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert server.poll() is None, "the server waits for the request in flight"
            connection.sendall(body[10:])
            answer = connection.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 201"), answer[:300]
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn ends by the signal it stopped for
        with pytest.raises(httpx2.TransportError):
            httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # and then it is gone
