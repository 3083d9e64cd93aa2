"""Idempotent retries: the same write sent again with its Idempotency-Key has one effect and the first answer."""

import threading
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.events.worker import Worker
from app.integrations.idempotency import IdempotentRequest
from app.opportunities.models import Opportunity
from app.settings import Settings
from tests.conftest import QUANTIFIED_PROBLEM, WATER_DEAL, Workplace, count_rows, move


def deals(app: FastAPI) -> int:
    """How many opportunities are stored."""
    with app.state.database.reader() as session:
        return int(session.scalar(select(func.count()).select_from(Opportunity)) or 0)


def test_a_retry_gets_the_first_answer_as_it_was_and_changes_nothing(app: FastAPI, client: TestClient) -> None:
    first = client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "create-1"})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    before = count_rows(app)
    again = client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "create-1"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"] and again.headers["location"] == first.headers["location"]
    assert count_rows(app) == before  # no second deal, no second event
    assert client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "create-2"}).status_code == 201
    assert deals(app) == 2


def test_the_same_key_with_another_request_is_refused(client: TestClient, opportunity: dict) -> None:
    oid = opportunity["id"]
    assert client.patch(f"/v1/opportunities/{oid}", json={"name": "A"}, headers={"Idempotency-Key": "k"}).status_code == 200
    other = client.patch(f"/v1/opportunities/{oid}", json={"name": "B"}, headers={"Idempotency-Key": "k"})
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    assert client.get(f"/v1/opportunities/{oid}").json()["name"] == "A"


def test_keys_are_per_workspace_and_refusals_are_replayed_too(app: FastAPI, client: TestClient,
                                                              workplace: Workplace) -> None:
    from tests.conftest import make_workplace
    elsewhere = TestClient(app, headers=make_workplace(app, "Another company").as_user("rep.alex"))
    assert client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "same"}).status_code == 201
    assert elsewhere.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "same"}).status_code == 201
    assert deals(app) == 2
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    refused = move(client, oid, "presentation", **{"Idempotency-Key": "jump"})
    assert refused.status_code == 409
    replayed = move(client, oid, "presentation", **{"Idempotency-Key": "jump"})
    assert replayed.status_code == 409 and replayed.headers["idempotent-replayed"] == "true"


def test_bad_keys_and_missing_api_keys_get_their_usual_answers(app: FastAPI, client: TestClient) -> None:
    bad = client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "x" * 256})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    anonymous = TestClient(app).post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "a"})
    assert anonymous.status_code == 401
    assert deals(app) == 0


def test_twenty_concurrent_identical_requests_have_one_effect(app: FastAPI, client: TestClient,
                                                              opportunity: dict) -> None:
    oid = opportunity["id"]
    answers: list[int] = []
    bodies: set[bytes] = set()
    start = threading.Barrier(20)

    def send() -> None:
        start.wait()
        answer = client.post(f"/v1/opportunities/{oid}/problems", json=QUANTIFIED_PROBLEM,
                             headers={"Idempotency-Key": "problem-once"})
        answers.append(answer.status_code)
        if answer.status_code == 201:
            bodies.add(answer.content)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {201, 409} and 201 in answers
    assert len(bodies) == 1  # the first answer, and replays of it
    assert len(client.get(f"/v1/opportunities/{oid}/problems").json()["items"]) == 1
    assert client.get(f"/v1/opportunities/{oid}").json()["version"] == 2


def test_a_request_that_died_before_committing_frees_its_key_and_old_keys_are_pruned(
        app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    assert client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "crashed"}).status_code == 201
    with app.state.database.transaction() as session:  # as if the server died while running it, before its commit
        session.execute(update(IdempotentRequest).values(state="running", status_code=None, body=None,
                                                         started_at=datetime.now(UTC) - timedelta(minutes=5)))
    retried = client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "crashed"})
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    with app.state.database.transaction() as session:  # and as if it had committed, but not kept its answer
        session.execute(update(IdempotentRequest).values(state="applied", status_code=None, body=None))
    lost = client.post("/v1/opportunities", json=WATER_DEAL, headers={"Idempotency-Key": "crashed"})
    assert lost.status_code == 409 and deals(app) == 2
    worker = Worker(app.state.database, Settings(database_url=app.state.database.url, server_worker=False),
                    clock=lambda: datetime.now(UTC) + timedelta(hours=25))
    worker.prune(datetime.now(UTC) + timedelta(hours=25))
    worker.close()
    with app.state.database.reader() as session:
        assert session.scalar(select(func.count()).select_from(IdempotentRequest)) == 0
