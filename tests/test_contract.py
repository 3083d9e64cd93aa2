"""The requests front ends and CRMs code against work exactly as written."""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ECONOMIC_BUYER, QUANTIFIED_PROBLEM, WATER_DEAL, Workplace, move
from tests.method import prepare

PRESENTATION_CODES = {"diagnose.problem_cost_quantified", "diagnose.decision_maker_identified"}


def test_create_answers_201_at_planning_with_an_etag(client: TestClient) -> None:
    response = client.post("/v1/opportunities", json=WATER_DEAL)
    assert response.status_code == 201
    body = response.json()
    assert (body["phase"], body["step"], body["status"]) == ("discover", "planning", "open")
    assert body["value"] == {"amount": 125000000, "currency": "EUR"}
    assert body["owner"] == "rep.alex"
    assert response.headers["etag"] == f'"1.{body["id"].replace("-", "")}"'
    assert response.headers["location"] == f"/v1/opportunities/{body['id']}"
    assert len(response.headers["x-request-id"]) == 32
    echoed = client.get(response.headers["location"], headers={"X-Request-ID": "front-end.42"})
    assert echoed.headers["x-request-id"] == "front-end.42"
    assert client.get(response.headers["location"]).json() == body


def test_presentation_is_refused_until_the_diagnosis_holds_cost_and_decision_maker(
        client: TestClient) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]

    gate = client.get(f"/v1/opportunities/{oid}/gates/presentation")
    assert gate.status_code == 200
    assert gate.json()["step"] == "presentation" and gate.json()["passed"] is False
    unmet = {u["code"]: u for u in gate.json()["unmet"]}
    assert PRESENTATION_CODES <= set(unmet)
    assert unmet["diagnose.problem_cost_quantified"]["fix"] == f"/v1/opportunities/{oid}/problems"
    assert unmet["diagnose.decision_maker_identified"]["fix"] == f"/v1/opportunities/{oid}/stakeholders"
    assert all(u["severity"] == "block" and u["step"] == "presentation" and u["message"]
               for code, u in unmet.items() if code in PRESENTATION_CODES)

    refused = move(client, oid, "presentation", "diagnosis reviewed with the customer")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("gate-blocked")
    assert problem["status"] == 409 and problem["instance"].endswith("/transitions")
    assert problem["step"] == "opening"  # the first gate crossed on the way stops the move
    assert PRESENTATION_CODES <= {u["code"] for u in problem["unmet"]}  # all that is missing is listed
    assert client.get(f"/v1/opportunities/{oid}").json()["step"] == "planning"

    assert client.post(f"/v1/opportunities/{oid}/problems", json=QUANTIFIED_PROBLEM).status_code == 201
    assert client.post(f"/v1/opportunities/{oid}/stakeholders", json=ECONOMIC_BUYER).status_code == 201
    gate = client.get(f"/v1/opportunities/{oid}/gates/presentation").json()
    assert not PRESENTATION_CODES & {u["code"] for u in gate["unmet"]}
    assert PRESENTATION_CODES <= set(gate["met"])


def test_with_the_whole_diagnosis_and_design_recorded_the_presentation_move_succeeds(
        client: TestClient) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, oid, "presentation")
    gate = client.get(f"/v1/opportunities/{oid}/gates/presentation").json()
    assert gate["passed"] is True and gate["unmet"] == []
    moved = move(client, oid, "presentation", "diagnosis reviewed with the customer")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["phase"], moved.json()["step"]) == ("deploy", "presentation")


def test_history_shows_who_moved_when_and_what_the_gate_saw(app: FastAPI, workplace: Workplace) -> None:
    client = TestClient(app, headers=workplace.as_user("rep.sam"))
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, oid, "presentation")
    moved = move(client, oid, "presentation", "diagnosis reviewed", **workplace.as_user("rep.kim"))  # the manager
    assert moved.status_code == 200

    history = client.get(f"/v1/opportunities/{oid}/history").json()["items"]
    assert [h["kind"] for h in history] == ["create", "forward"]
    created, forward = history
    assert created["actor"] == "rep.sam" and created["to_step"] == "planning"
    assert forward["actor"] == "rep.kim" and forward["reason"] == "diagnosis reviewed"
    assert (forward["from_step"], forward["from_phase"]) == ("planning", "discover")
    assert (forward["to_step"], forward["to_phase"], forward["to_status"]) == ("presentation", "deploy", "open")
    assert forward["at"] >= created["at"]
    assert [g["step"] for g in forward["gates"]] == ["opening", "questioning", "solution_design", "presentation"]
    assert all(g["passed"] and g["unmet"] == [] for g in forward["gates"])
    assert PRESENTATION_CODES <= set(forward["gates"][-1]["met"])
    assert forward["seq"] == moved.json()["version"]
