"""Closed deals and references stay whole: read-only records once a deal is closed, no dangling ids, task
owners who exist, and If-Match required where a workspace asks for it."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ECONOMIC_BUYER, WATER_DEAL, Workplace, dump, move
from tests.method import EARLIER, post, prepare

OPPORTUNITIES = "/v1/opportunities"


def won(client: TestClient) -> tuple[str, dict[str, str]]:
    """A deal walked through the method and won."""
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    ids = prepare(client, oid, "follow_up")
    assert move(client, oid, "follow_up").json()["status"] == "won"
    return oid, ids


def test_a_won_deals_records_are_read_only_but_its_follow_up_goes_on(app: FastAPI, client: TestClient) -> None:
    oid, ids = won(client)
    before = dump(app)
    for refused in (client.delete(f"{OPPORTUNITIES}/{oid}/acceptance"),
                    client.patch(f"{OPPORTUNITIES}/{oid}/problems/{ids['problem']}", json={"root_cause": "x"}),
                    client.post(f"{OPPORTUNITIES}/{oid}/stakeholders", json=ECONOMIC_BUYER),
                    client.put(f"{OPPORTUNITIES}/{oid}/qualification", json={"urgency": "no", "resources": "no"})):
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["type"].endswith("/deal-closed") and problem["deal_status"] == "won"
        assert f"{OPPORTUNITIES}/{oid}/transitions" in problem["detail"] and "back" in problem["detail"]
    assert dump(app) == before
    # What the method does after a win: log contact with the customer, work the follow-up tasks.
    post(client, oid, "activities", {"kind": "call", "occurred_at": EARLIER, "notes": "Delivery went well"})
    task = client.get(f"{OPPORTUNITIES}/{oid}/tasks").json()["items"][0]
    assert client.patch(f"{OPPORTUNITIES}/{oid}/tasks/{task['id']}", json={"completed": True}).status_code == 200
    # Moved back, the deal is open again and its records change.
    assert move(client, oid, "closing", reason="The customer changed the order").status_code == 200
    assert client.patch(f"{OPPORTUNITIES}/{oid}/problems/{ids['problem']}", json={"root_cause": "x"}).status_code == 200


def test_a_lost_deal_changes_nothing_until_a_manager_reopens_it(app: FastAPI, client: TestClient,
                                                                 workplace: Workplace) -> None:
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    assert move(client, oid, "lost", reason="Went with the incumbent").status_code == 200
    for path in ("stakeholders", "activities"):
        body = ECONOMIC_BUYER if path == "stakeholders" else {"kind": "call", "occurred_at": EARLIER}
        refused = client.post(f"{OPPORTUNITIES}/{oid}/{path}", json=body)
        assert refused.status_code == 409 and "a manager reopens it" in refused.json()["detail"]
    manager = TestClient(app, headers=workplace.as_user("rep.kim"))
    assert move(manager, oid, "planning", reason="They came back").status_code == 200
    post(client, oid, "stakeholders", ECONOMIC_BUYER)


def test_a_record_others_name_cannot_be_deleted_and_nothing_dangles(app: FastAPI, client: TestClient) -> None:
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    ids = prepare(client, oid, "negotiation")
    buyer = ids["buyer"]
    before = dump(app)
    refused = client.delete(f"{OPPORTUNITIES}/{oid}/stakeholders/{buyer}")
    assert refused.status_code == 409, refused.text
    named = {(r["kind"], r["field"]) for r in refused.json()["references"]}
    assert named == {("decision_process", "signer_id"), ("activity", "attendee_ids"),
                     ("problem", "confirmation.stakeholder_id"), ("presentation", "audience_ids"),
                     ("proposal_preview", "stakeholder_id")}
    problem = client.delete(f"{OPPORTUNITIES}/{oid}/problems/{ids['problem']}")
    assert problem.status_code == 409
    assert {r["kind"] for r in problem.json()["references"]} == {"proposition", "scope_item"}
    assert dump(app) == before
    # Once nothing names it, it goes.
    other = post(client, oid, "stakeholders", {"name": "Lee Park", "role": "technical"})["id"]
    assert client.delete(f"{OPPORTUNITIES}/{oid}/stakeholders/{other}").status_code == 204


@pytest.mark.parametrize(("owner", "status"), [("nobody-at-all", 422), ("rep.sam", 201), (None, 201)])
def test_a_task_owner_is_a_user_of_the_workspace(client: TestClient, owner: str | None, status: int) -> None:
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    body: dict[str, Any] = {"title": "Send the references", "kind": "other", "due_date": "2027-01-15"}
    if owner:
        body["owner"] = owner
    created = client.post(f"{OPPORTUNITIES}/{oid}/tasks", json=body)
    assert created.status_code == status, created.text
    if status == 422:
        assert created.json()["errors"][0]["pointer"] == "/owner"
        task = post(client, oid, "tasks", {k: v for k, v in body.items() if k != "owner"})
        assert client.patch(f"{OPPORTUNITIES}/{oid}/tasks/{task['id']}", json={"owner": owner}).status_code == 422
    else:
        assert created.json()["owner"] == (owner or "rep.alex")


def test_a_workspace_can_require_if_match_on_every_change_to_a_deal(app: FastAPI, client: TestClient,
                                                                   workplace: Workplace) -> None:
    oid = client.post(OPPORTUNITIES, json=WATER_DEAL).json()["id"]
    buyer = post(client, oid, "stakeholders", ECONOMIC_BUYER)
    admin = TestClient(app, headers=workplace.as_user("admin"))
    assert admin.get("/v1/admin/workspace").json()["require_if_match"] is False
    assert client.patch(f"{OPPORTUNITIES}/{oid}", json={"name": "Without If-Match"}).status_code == 200  # off

    turned = admin.patch("/v1/admin/workspace", json={"require_if_match": True})
    assert turned.status_code == 200 and turned.json()["require_if_match"] is True
    assert admin.patch("/v1/admin/workspace", json={"require_if_match": None}).status_code == 422
    before = dump(app)
    for refused in (client.patch(f"{OPPORTUNITIES}/{oid}", json={"name": "x"}),
                    client.post(f"{OPPORTUNITIES}/{oid}/transitions", json={"to": "lost", "reason": "x"}),
                    client.patch(f"{OPPORTUNITIES}/{oid}/stakeholders/{buyer['id']}", json={"title": "x"}),
                    client.delete(f"{OPPORTUNITIES}/{oid}/stakeholders/{buyer['id']}")):
        assert refused.status_code == 428, refused.text
        assert refused.json()["type"].endswith("/precondition-required") and refused.json()["current_etag"]
    assert dump(app) == before
    etag = client.get(f"{OPPORTUNITIES}/{oid}").headers["ETag"]
    assert client.patch(f"{OPPORTUNITIES}/{oid}", json={"name": "With If-Match"},
                        headers={"If-Match": etag}).status_code == 200
    post(client, oid, "stakeholders", {"name": "Lee Park", "role": "technical"})  # a new record overwrites nothing
    assert [e["action"] for e in admin.get("/v1/admin/audit").json()["items"]][-1] == "workspace.update"
