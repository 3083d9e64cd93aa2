"""A refused move is data: kept with the requirements that refused it although the move rolled back, and
announced as opportunity.move_refused, so that what holds deals can be counted."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.opportunities.models import MoveRefusal
from tests.conftest import WATER_DEAL, Workplace, count_rows
from tests.method import prepare


@pytest.fixture
def crm(app: FastAPI, workplace: Workplace) -> TestClient:
    """An integration client, reading the event feed."""
    return TestClient(app, headers=workplace.as_user("crm.sync"))


def _refusals(app: FastAPI) -> list[MoveRefusal]:
    with app.state.database.reader() as session:
        return list(session.scalars(select(MoveRefusal).order_by(MoveRefusal.at)))


def _refused_events(crm: TestClient) -> list[dict[str, Any]]:
    return crm.get("/v1/events", params={"type": "opportunity.move_refused"}).json()["items"]


def test_a_refused_move_is_kept_with_its_codes_and_announced(app: FastAPI, client: TestClient,
                                                               crm: TestClient) -> None:
    deal = client.post("/v1/opportunities", json=WATER_DEAL).json()
    before = client.get(f"/v1/opportunities/{deal['id']}")
    rows_before = count_rows(app)
    refused = client.post(f"/v1/opportunities/{deal['id']}/transitions", json={"to": "next"})
    assert refused.status_code == 409
    codes = [f["code"] for f in refused.json()["unmet"] if f["severity"] == "block"]
    after = client.get(f"/v1/opportunities/{deal['id']}")
    assert after.headers["etag"] == before.headers["etag"]  # the deal did not change
    grown = {table: n - rows_before[table] for table, n in count_rows(app).items() if n != rows_before[table]}
    assert grown == {"move_refusal": 1, "event": 1}  # nothing else was written
    (row,) = _refusals(app)
    assert (row.opportunity_id.hex, row.from_step, row.to_step, row.gate_step, row.codes, row.actor) == \
        (deal["id"].replace("-", ""), "planning", "opening", "opening", codes, "rep.alex")
    assert (row.process_key, row.process_version) == (deal["process"]["key"], deal["process"]["version"])
    (event,) = _refused_events(crm)
    assert event["data"]["codes"] == codes and event["data"]["to_step"] == "opening"
    assert event["data"]["opportunity_version"] == deal["version"] and event["data"]["actor"] == "rep.alex"


def test_each_refusal_is_kept_once_and_other_answers_keep_none(app: FastAPI, client: TestClient,
                                                                crm: TestClient, workplace: Workplace) -> None:
    deal = client.post("/v1/opportunities", json=WATER_DEAL).json()
    moves = f"/v1/opportunities/{deal['id']}/transitions"
    once = {"Idempotency-Key": "refused-once"}
    assert client.post(moves, json={"to": "questioning"}, headers=once).status_code == 409
    replayed = client.post(moves, json={"to": "questioning"}, headers=once)
    assert replayed.status_code == 409 and replayed.headers["idempotent-replayed"] == "true"
    assert len(_refusals(app)) == 1  # a retry is the same request: one refusal
    assert client.post(moves, json={"to": "questioning"}).status_code == 409
    (first, second) = _refusals(app)
    assert first.to_step == second.to_step == "questioning" and first.gate_step == "opening"
    # Refused for another reason than a gate: nothing is kept.
    other_rep = TestClient(app, headers=workplace.as_user("rep.zoe"))
    assert other_rep.post(moves, json={"to": "opening"}).status_code == 403  # not theirs to move
    assert client.post(moves, json={"to": "no_such_step"}).status_code == 422
    assert client.post(moves, json={"to": "planning", "reason": "stay"}).status_code == 409  # already there
    prepare(client, deal["id"], "opening")
    assert client.post(moves, json={"to": "opening"}).status_code == 200
    assert len(_refusals(app)) == 2 and len(_refused_events(crm)) == 2
