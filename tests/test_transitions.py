"""Moves through the API: gates, back moves, outcomes, reopening, ETags and If-Match."""

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Workplace, move
from tests.method import prepare


def test_crossing_several_steps_stops_at_the_failing_gate_and_moves_nothing(
        client: TestClient, opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    prepare(client, oid, "questioning")
    before = client.get(f"/v1/opportunities/{oid}").json()
    refused = move(client, oid, "closing")
    assert refused.status_code == 409 and refused.json()["type"].endswith("gate-blocked")
    assert refused.json()["step"] == "solution_design"
    assert "solution_design" in refused.json()["detail"]
    assert client.get(f"/v1/opportunities/{oid}").json() == before
    assert len(client.get(f"/v1/opportunities/{oid}/history").json()["items"]) == 1


def test_next_walks_the_steps_through_their_phases(client: TestClient, opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    prepare(client, oid, "follow_up")
    walked = []
    while (moved := move(client, oid, "next")).status_code == 200:
        walked.append((moved.json()["step"], moved.json()["phase"]))
    assert moved.status_code == 409 and moved.json()["type"].endswith("move-not-allowed")
    assert walked == [("opening", "discover"), ("questioning", "diagnose"), ("solution_design", "design"),
                      ("presentation", "deploy"), ("negotiation", "deploy"), ("closing", "deploy"),
                      ("follow_up", "deploy")]


def test_back_moves_need_a_reason_and_moving_forward_again_rechecks_the_gate(
        client: TestClient, opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    prepare(client, oid, "presentation")
    assert move(client, oid, "presentation").status_code == 200

    refused = move(client, oid, "questioning")
    assert refused.status_code == 422 and refused.json()["type"].endswith("reason-required")
    assert move(client, oid, "questioning", "   ").status_code == 422
    back = move(client, oid, "questioning", "a new stakeholder joined the committee")
    assert back.status_code == 200 and back.json()["step"] == "questioning"

    [stakeholder] = client.get(f"/v1/opportunities/{oid}/stakeholders").json()["items"]
    [problem] = client.get(f"/v1/opportunities/{oid}/problems").json()["items"]
    assert client.patch(f"/v1/opportunities/{oid}/stakeholders/{stakeholder['id']}",
                        json={"role": "user"}).status_code == 200
    assert client.patch(f"/v1/opportunities/{oid}/problems/{problem['id']}",
                        json={"confirmation": None}).status_code == 200
    again = move(client, oid, "presentation")
    assert again.status_code == 409 and again.json()["step"] == "solution_design"
    # The only decision-maker turned out not to decide, and the customer withdrew the confirmation.
    # The proposition and the scope rest on that problem, which the customer no longer owns.
    assert [u["code"] for u in again.json()["unmet"]] == [
        "diagnose.problem_cost_confirmed", "diagnose.decision_maker_identified", "design.proposition_problems_owned",
        "design.scope_problems_owned"]


def test_reaching_follow_up_wins_and_a_won_deal_cannot_be_lost(
        client: TestClient, opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    prepare(client, oid, "follow_up")
    won = move(client, oid, "follow_up", "order signed")
    assert won.status_code == 200 and won.json()["status"] == "won"
    refused = move(client, oid, "lost", "changed their mind")
    assert refused.status_code == 409 and refused.json()["type"].endswith("move-not-allowed")
    back = move(client, oid, "closing", "the order was withdrawn for a new signature")
    assert back.json()["status"] == "open"


def test_lost_and_disqualified_need_a_reason_and_reopen_where_they_stood(
        client: TestClient, workplace: Workplace, opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    prepare(client, oid, "questioning")
    move(client, oid, "questioning")
    assert move(client, oid, "disqualified", "no compelling event").status_code == 422
    out = client.post(f"/v1/opportunities/{oid}/transitions",
                      json={"to": "disqualified", "reason_code": "no_urgency"})
    assert (out.json()["status"], out.json()["step"]) == ("disqualified", "questioning")

    refused = move(client, oid, "solution_design", "new budget")
    assert refused.status_code == 409 and refused.json()["allowed"] == ["questioning"]
    assert move(client, oid, "questioning").status_code == 422
    refused = move(client, oid, "questioning", "a new budget was approved")
    assert refused.status_code == 403  # a rep does not reopen; the manager does
    reopened = move(client, oid, "questioning", "a new budget was approved", **workplace.as_user("rep.kim"))
    assert (reopened.json()["status"], reopened.json()["step"]) == ("open", "questioning")

    kinds = [(h["kind"], h["to_status"]) for h in client.get(f"/v1/opportunities/{oid}/history").json()["items"]]
    assert kinds == [("create", "open"), ("forward", "open"), ("disqualified", "disqualified"),
                     ("reopen", "open")]


def test_an_impossible_move_is_its_own_problem_type(client: TestClient, opportunity: dict[str, Any]) -> None:
    refused = move(client, opportunity["id"], "planning")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("move-not-allowed")
    assert "planning" not in refused.json()["allowed"]


def test_every_write_raises_the_version_by_one_and_reads_do_not(client: TestClient,
                                                               opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    seen = {client.get(f"/v1/opportunities/{oid}").headers["etag"]}
    assert seen == {f'"1.{oid.replace("-", "")}"'}
    assert client.get(f"/v1/opportunities/{oid}").headers["etag"] in seen
    writes = [
        lambda: client.patch(f"/v1/opportunities/{oid}", json={"name": "Water plant, phase 2"}),
        lambda: client.post(f"/v1/opportunities/{oid}/problems", json={"description": "Slow audits"}),
        lambda: move(client, oid, "lost", "went with a rival"),
    ]
    for write in writes:
        assert write().status_code in (200, 201)
        tag = client.get(f"/v1/opportunities/{oid}").headers["etag"]
        assert tag == f'"{len(seen) + 1}.{oid.replace("-", "")}"'
        seen.add(tag)


def test_if_match_guards_patch_and_transitions(client: TestClient, workplace: Workplace,
                                               opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    stale = client.get(f"/v1/opportunities/{oid}").headers["etag"]
    assert client.patch(f"/v1/opportunities/{oid}", json={"name": "Renamed"},
                        headers={"If-Match": stale}).status_code == 200

    refused = client.patch(f"/v1/opportunities/{oid}", json={"name": "Overwrite"},
                           headers={"If-Match": stale})
    assert refused.status_code == 412 and refused.json()["type"].endswith("precondition-failed")
    refused = move(client, oid, "lost", "no budget", **{"If-Match": stale})
    assert refused.status_code == 412
    current = client.get(f"/v1/opportunities/{oid}")
    assert current.json()["name"] == "Renamed" and current.json()["status"] == "open"

    moved = move(client, oid, "lost", "no budget", **{"If-Match": current.headers["etag"]})
    assert moved.status_code == 200 and moved.headers["etag"] != current.headers["etag"]
    assert move(client, oid, "planning", "budget found",
                **{"If-Match": "*", **workplace.as_user("rep.kim")}).status_code == 200
