"""The API's small truths: advice never claims to block, the last contact counts every contact, a closed
deal shows why, a repeated move answers where the deal stands, and the root says where to begin."""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.processes.service import default_process
from tests.conftest import ECONOMIC_BUYER, WATER_DEAL, Workplace, move
from tests.method import post, put


def _at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def _same_time(a: str | None, b: str) -> bool:
    return a is not None and datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b)


def test_recommendations_are_advice_warn_or_info_and_never_block(app: FastAPI, client: TestClient,
                                                                  workplace: Workplace,
                                                                  opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    put(client, oid, "qualification", {"urgency": "no", "resources": "unknown"})
    advice = {r["code"]: r["severity"] for r in client.get(f"/v1/opportunities/{oid}/guidance").json()[
        "recommendations"]}
    assert advice == {"guidance.disqualify_no_urgency": "warn"}
    spec = copy.deepcopy(default_process()[1])
    spec["recommendations"][0]["severity"] = "block"
    refused = TestClient(app, headers=workplace.as_user("ops.lee")).post("/v1/processes/complex-sale/versions",
                                                                         json=spec)
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/recommendations/0/severity"


def test_the_last_contact_counts_every_record_of_contact_and_only_what_took_place(
        client: TestClient, opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    buyer = post(client, oid, "stakeholders", ECONOMIC_BUYER)["id"]
    meeting = post(client, oid, "activities", {"kind": "meeting", "occurred_at": _at(48), "attendee_ids": [buyer]})
    assert _same_time(client.get(f"/v1/opportunities/{oid}").json()["last_activity_at"], meeting["occurred_at"])
    held = post(client, oid, "presentations", {"held_at": _at(5), "audience_ids": [buyer]})
    post(client, oid, "presentations", {"held_at": _at(-24), "audience_ids": [buyer]})  # planned: not yet contact
    assert _same_time(client.get(f"/v1/opportunities/{oid}").json()["last_activity_at"], held["held_at"])
    signal = post(client, oid, "buying-signals", {"description": "Asked about delivery", "observed_at": _at(2)})
    deal = client.get(f"/v1/opportunities/{oid}").json()
    guidance = client.get(f"/v1/opportunities/{oid}/guidance").json()
    assert _same_time(deal["last_activity_at"], signal["observed_at"])
    assert guidance["last_activity_at"] == deal["last_activity_at"]
    client.delete(f"/v1/opportunities/{oid}/buying-signals/{signal['id']}")
    assert _same_time(client.get(f"/v1/opportunities/{oid}").json()["last_activity_at"], held["held_at"])


def test_a_closed_deal_shows_its_outcome_and_reason(client: TestClient, workplace: Workplace) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    rival = post(client, oid, "competitors", {"name": "Aqua Systems"})
    lost = client.post(f"/v1/opportunities/{oid}/transitions",
                       json={"to": "lost", "reason": "Their price was 20% lower", "lost_to_id": rival["id"]})
    assert lost.status_code == 200
    shown = client.get(f"/v1/opportunities/{oid}").json()
    assert (shown["status"], shown["outcome_reason_code"], shown["outcome_reason"], shown["lost_to_id"]) == (
        "lost", None, "Their price was 20% lower", rival["id"])
    reopened = client.post(f"/v1/opportunities/{oid}/transitions", headers=workplace.as_user("rep.kim"),
                           json={"to": "planning", "reason": "They came back"})
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["outcome_reason"], reopened.json()["lost_to_id"]) == (None, None)
    out = client.post(f"/v1/opportunities/{oid}/transitions",
                      json={"to": "disqualified", "reason_code": "other", "reason": "Merged with another council"})
    assert (out.json()["outcome_reason_code"], out.json()["outcome_reason"]) == ("other", "Merged with another council")


def test_a_move_repeated_after_it_happened_answers_where_the_deal_stands(client: TestClient,
                                                                          workplace: Workplace) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    body = {"to": "opening", "override": "The customer called us in"}
    manager = workplace.as_user("rep.kim")
    assert client.post(f"/v1/opportunities/{oid}/transitions", json=body, headers=manager).status_code == 200
    for again in (body, {"to": "opening"}):
        repeated = client.post(f"/v1/opportunities/{oid}/transitions", json=again, headers=manager)
        assert repeated.status_code == 409, repeated.text
        assert repeated.json()["current"] == "opening" and "already stands at opening" in repeated.json()["detail"]
    assert move(client, oid, "planning").status_code == 422  # a back move still needs its reason


def test_the_root_says_where_to_begin(app: FastAPI) -> None:
    answer = TestClient(app).get("/")
    assert answer.status_code == 200
    assert answer.json()["docs"] == "/docs" and answer.json()["openapi"] == "/openapi.json"
