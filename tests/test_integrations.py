"""A CRM writes by its own ids: accounts, deals and stakeholders upserted, stages followed only as far as the
gates allow, batches whose items each succeed or fail whole."""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ECONOMIC_BUYER, QUANTIFIED_PROBLEM, Workplace, count_rows, make_workplace

STAGES = {"Prospecting": "planning", "Qualification": "questioning", "Proposal/Price Quote": "presentation",
          "Closed Won": "follow_up", "Closed Lost": "lost"}
MAPS = {"owners": {"alex@riverton.example": "rep.alex"}, "default_owner": "rep.sam", "stages": STAGES}
DEAL: dict[str, Any] = {"name": "Filter replacement", "account": {"external_id": "001A", "name": "Riverton Water"},
                        "owner": "alex@riverton.example", "value": {"amount": 5000000, "currency": "EUR"}}


def _crm(app: FastAPI, workplace: Workplace) -> TestClient:
    """The integration's client, with the salesforce maps set by ops."""
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    assert ops.put("/v1/integrations/salesforce", json=MAPS).status_code == 201
    return TestClient(app, headers=workplace.as_user("crm.sync"))


def _feed(admin: TestClient, type_: str) -> list[dict[str, Any]]:
    """The committed events of a type, once the feed shows them: on PostgreSQL it holds back what committed
    after the oldest transaction still running anywhere in the cluster (another test run's, say)."""
    for _ in range(50):
        found = admin.get("/v1/events", params={"type": type_}).json()["items"]
        if found:
            return found
        time.sleep(0.1)
    return []


def test_an_account_upsert_creates_then_updates(app: FastAPI, workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    made = crm.put("/v1/accounts/external/salesforce/001A", json={"name": "Riverton Water", "size": "large"})
    assert made.status_code == 201, made.text
    assert made.json()["external_ids"] == {"salesforce": "001A"} and made.headers["etag"]
    again = crm.put("/v1/accounts/external/salesforce/001A", json={"name": "Riverton Water Board"})
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    assert (again.json()["name"], again.json()["size"], again.json()["version"]) == ("Riverton Water Board",
                                                                                     "large", 2)
    same = crm.put("/v1/accounts/external/salesforce/001A", json={"name": "Riverton Water Board"})
    assert same.status_code == 200 and same.json()["version"] == 2  # nothing changed, no new version
    assert crm.get("/v1/accounts", params={"name": "Riverton Water Board"}).json()["items"][0]["id"] == \
        made.json()["id"]


def test_the_same_external_id_in_two_workspaces_is_two_records(app: FastAPI, workplace: Workplace) -> None:
    other = make_workplace(app, "Another Company")
    ids = {_crm(app, place).put("/v1/opportunities/external/salesforce/006X", json=DEAL).json()["id"]
           for place in (workplace, other)}
    assert len(ids) == 2
    assert count_rows(app)["opportunity_external_id"] == 2 and count_rows(app)["account"] == 2


def test_a_deal_upsert_maps_the_owner_and_carries_account_and_stakeholders(app: FastAPI,
                                                                           workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    body = {**DEAL, "stakeholders": [{**ECONOMIC_BUYER, "external_id": "003D"}]}
    made = crm.put("/v1/opportunities/external/salesforce/006A", json=body)
    assert made.status_code == 201, made.text
    deal = made.json()
    assert deal["owner"] == "rep.alex" and deal["external_ids"] == {"salesforce": "006A"}
    assert deal["account"]["name"] == "Riverton Water" and deal["stage_sync"] is None
    [stakeholder] = crm.get(f"/v1/opportunities/{deal['id']}/stakeholders").json()["items"]
    assert stakeholder["external_ids"] == {"salesforce": "003D"}

    changed = {**body, "owner": "someone.new@riverton.example", "value": {"amount": 6000000, "currency": "EUR"},
               "stakeholders": [{**ECONOMIC_BUYER, "title": "Chief Engineer", "external_id": "003D"}]}
    updated = crm.put("/v1/opportunities/external/salesforce/006A", json=changed)
    assert updated.status_code == 200, updated.text
    assert updated.json()["owner"] == "rep.sam"  # an unmapped user: the default owner
    assert updated.json()["value"]["amount"] == 6000000
    [stakeholder] = crm.get(f"/v1/opportunities/{deal['id']}/stakeholders").json()["items"]
    assert stakeholder["title"] == "Chief Engineer"
    assert count_rows(app)["opportunity"] == 1 and count_rows(app)["account"] == 1


def test_a_stage_past_an_unmet_gate_stops_at_the_gate_and_says_so(app: FastAPI, workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    held = crm.put("/v1/opportunities/external/salesforce/006B", json={**DEAL, "stage": "Proposal/Price Quote"})
    assert held.status_code == 201, held.text
    sync = held.json()["stage_sync"]
    assert (sync["wanted"], sync["reached"]) == ("presentation", False)
    assert held.json()["step"] == sync["step"] != "presentation"
    assert sync["unmet"] and all(f["severity"] in ("block", "warn") for f in sync["unmet"])
    deal_id = held.json()["id"]
    [event] = _feed(TestClient(app, headers=workplace.as_user("admin")), "opportunity.held_at_gate")
    assert event["data"]["wanted"] == "presentation" and event["data"]["step"] == sync["step"]

    refused = crm.put("/v1/opportunities/external/salesforce/006B",
                      json={**DEAL, "stage": "Proposal/Price Quote", "override": "Signed off in the CRM"})
    assert refused.status_code == 200 and refused.json()["stage_sync"]["reached"] is False  # integrations may not

    admin = TestClient(app, headers=workplace.as_user("admin"))
    passed = admin.put("/v1/opportunities/external/salesforce/006B",
                       json={**DEAL, "stage": "Proposal/Price Quote", "override": "Signed off in the CRM"})
    assert passed.status_code == 200, passed.text
    assert passed.json()["step"] == "presentation" and passed.json()["stage_sync"]["overridden"]
    history = admin.get(f"/v1/opportunities/{deal_id}/history").json()["items"]
    assert history[-1]["override_justification"] == "Signed off in the CRM"
    assert history[-1]["reason"] == "salesforce stage 'Proposal/Price Quote'"


def test_a_stage_the_records_allow_is_reached(app: FastAPI, workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    made = crm.put("/v1/opportunities/external/salesforce/006C", json=DEAL).json()
    crm.post(f"/v1/opportunities/{made['id']}/problems", json=QUANTIFIED_PROBLEM)
    lost = crm.put("/v1/opportunities/external/salesforce/006C", json={**DEAL, "stage": "Closed Lost"})
    assert lost.json()["status"] == "lost" and lost.json()["stage_sync"]["reached"] is True
    unknown = crm.put("/v1/opportunities/external/salesforce/006C", json={**DEAL, "stage": "Negotiation"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/stage"


def test_a_batch_stores_the_good_items_and_reports_the_bad(app: FastAPI, workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    items = [{**DEAL, "external_id": "006-1"},
             {**DEAL, "external_id": "006-2", "stage": "Unheard Of"},
             {**DEAL, "external_id": "006-3", "account_id": "0190c3d2-0000-7000-8000-000000000000", "account": None},
             {**DEAL, "external_id": "006-4", "stage": "Qualification"},
             {**DEAL, "external_id": "006-1"}]
    answer = crm.post("/v1/opportunities/external/salesforce", json={"items": items})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["status"] for r in body["results"]] == [201, 422, 404, 201, 422]
    assert (body["created"], body["updated"], body["refused"]) == (2, 0, 3)
    assert body["results"][1]["problem"]["errors"][0]["pointer"] == "/stage"
    assert body["results"][1]["problem"]["instance"].endswith("#/items/1")
    assert count_rows(app)["opportunity"] == 2
    again = crm.post("/v1/opportunities/external/salesforce", json={"items": items[:1]}).json()
    assert again["results"][0]["status"] == 200 and count_rows(app)["opportunity"] == 2


def test_a_batch_item_that_fails_late_leaves_nothing_behind(app: FastAPI, workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    before = count_rows(app)
    bad = {**DEAL, "external_id": "006-9", "account": {"external_id": "001Z", "name": "Brand New Account"},
           "stakeholders": [{**ECONOMIC_BUYER, "external_id": "003Z"}], "stage": "Nowhere"}
    answer = crm.post("/v1/opportunities/external/salesforce", json={"items": [bad]}).json()
    assert answer["results"][0]["status"] == 422
    after = count_rows(app)
    assert {t: n for t, n in after.items() if n != before[t] and t != "idempotent_request"} == {}


def test_without_maps_an_integration_names_an_owner_it_cannot_own(app: FastAPI, workplace: Workplace) -> None:
    crm = TestClient(app, headers=workplace.as_user("crm.sync"))
    refused = crm.put("/v1/opportunities/external/hubspot/9001", json={**DEAL, "owner": "someone@x.example"})
    assert refused.status_code == 422 and "PUT /v1/integrations/hubspot" in refused.json()["detail"]
    assert crm.put("/v1/opportunities/external/hubspot/9001", json={**DEAL, "owner": "rep.zoe"}).status_code == 201
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    bad_map = ops.put("/v1/integrations/hubspot", json={"owners": {"a@x": "crm.sync"}, "stages": {"S": "nowhere"}})
    assert bad_map.status_code == 422
    assert {e["pointer"] for e in bad_map.json()["errors"]} == {"/owners/a@x", "/stages/S"}


def test_a_stakeholder_upsert_by_its_crm_id(client: TestClient, opportunity: dict[str, Any]) -> None:
    path = f"/v1/opportunities/{opportunity['id']}/stakeholders/external/hubspot/c-77"
    made = client.put(path, json=ECONOMIC_BUYER)
    assert made.status_code == 201 and made.json()["external_ids"] == {"hubspot": "c-77"}
    replaced = client.put(path, json={**ECONOMIC_BUYER, "title": "CFO"}, headers={"If-Match": made.headers["etag"]})
    assert replaced.status_code == 200 and replaced.json()["title"] == "CFO"
    assert len(client.get(f"/v1/opportunities/{opportunity['id']}/stakeholders").json()["items"]) == 1


def _shape(client: TestClient, deal_id: str) -> dict[str, Any]:
    """A deal, its stakeholders, history and events, without what differs between two stores of the same data."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not k.endswith(("id", "_at", "timestamp", "revision", "fix"))
                    and k not in ("at", "opportunity", "account", "record", "task")} | (
                {"account": strip(value["account"])} if isinstance(value.get("account"), dict) else {})
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    admin_events = client.get("/v1/events", params={"opportunity_id": deal_id}).json()["items"]
    return strip({"deal": client.get(f"/v1/opportunities/{deal_id}").json(),
                  "stakeholders": client.get(f"/v1/opportunities/{deal_id}/stakeholders").json()["items"],
                  "history": client.get(f"/v1/opportunities/{deal_id}/history").json()["items"],
                  "events": [(e["type"], e["data"].get("opportunity_version")) for e in admin_events]})


def test_a_batch_of_new_deals_stores_what_one_upsert_stores(app: FastAPI, workplace: Workplace) -> None:
    other = make_workplace(app, "Another Company")
    body = {**DEAL, "stage": "Qualification", "stakeholders": [{**ECONOMIC_BUYER, "external_id": "003D"},
                                                               {"name": "Lee", "role": "user", "external_id": "003E"}]}
    one = _crm(app, workplace).put("/v1/opportunities/external/salesforce/006A", json=body)
    many = _crm(app, other).post("/v1/opportunities/external/salesforce",
                                 json={"items": [{**body, "external_id": "006A"},
                                                 {**body, "external_id": "006B", "name": "Second"}]})
    assert one.status_code == 201 and [r["status"] for r in many.json()["results"]] == [201, 201]
    def sync(answer: dict[str, Any]) -> dict[str, Any]:
        return answer["stage_sync"] | {"unmet": [{**f, "fix": None} for f in answer["stage_sync"]["unmet"]]}
    assert sync(one.json()) == sync(many.json()["results"][0]) and one.json()["stage_sync"]["unmet"]
    assert one.headers["etag"].split(".")[0] == many.json()["results"][0]["etag"].split(".")[0]
    alone = _shape(TestClient(app, headers=workplace.as_user("admin")), one.json()["id"])
    batched = _shape(TestClient(app, headers=other.as_user("admin")), many.json()["results"][0]["id"])
    assert alone == batched
    assert count_rows(app)["account"] == 2  # one each: the batch's two deals share theirs


def test_concurrent_batches_that_make_the_same_accounts_store_every_deal_once(app: FastAPI,
                                                                             workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    accounts = [{"external_id": f"001-{n}", "name": f"Account {n}"} for n in range(5)]

    def batch(first: int) -> list[dict[str, Any]]:
        return [{**DEAL, "external_id": f"006-{n}", "account": accounts[n % 5],
                 "stakeholders": [{**ECONOMIC_BUYER, "external_id": f"003-{n}"}]} for n in range(first, first + 50)]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda first: crm.post("/v1/opportunities/external/salesforce",
                                                       json={"items": batch(first)}), (0, 50, 100, 150)))
    assert all(a.status_code == 200 for a in answers), [a.text[:300] for a in answers]
    assert sorted({r["status"] for a in answers for r in a.json()["results"]}) == [201]
    rows = count_rows(app)
    assert (rows["opportunity"], rows["account"], rows["stakeholder"], rows["account_external_id"]) == (200, 5, 200, 5)


def test_an_accounts_crm_id_is_never_taken_by_another_crm_account_of_the_same_name(app: FastAPI,
                                                                                   workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    assert crm.put("/v1/accounts/external/salesforce/A1", json={"name": "Acme"}).status_code == 201
    other = crm.put("/v1/accounts/external/salesforce/A2", json={"name": "Acme"})
    assert other.status_code == 409 and "rename one of them" in other.json()["detail"]
    assert crm.get("/v1/accounts", params={"name": "Acme"}).json()["items"][0]["external_ids"] == {"salesforce": "A1"}


def test_a_closed_deal_pushed_again_unchanged_is_answered_not_refused(app: FastAPI, workplace: Workplace) -> None:
    crm = _crm(app, workplace)
    body = {**DEAL, "stage": "Closed Lost", "stakeholders": [{**ECONOMIC_BUYER, "external_id": "003D"}]}
    first = crm.put("/v1/opportunities/external/salesforce/L1", json=body)
    assert first.status_code == 201 and first.json()["status"] == "lost"
    again = crm.put("/v1/opportunities/external/salesforce/L1", json=body)
    assert again.status_code == 200 and again.json()["version"] == first.json()["version"]
    changed = crm.put("/v1/opportunities/external/salesforce/L1",
                      json={**body, "stakeholders": [{**ECONOMIC_BUYER, "title": "CFO", "external_id": "003D"}]})
    assert changed.status_code == 409 and changed.json()["type"].endswith("deal-closed")


def test_a_rep_learns_nothing_of_a_deal_it_may_not_write_by_its_crm_id(app: FastAPI, workplace: Workplace) -> None:
    made = _crm(app, workplace).put("/v1/opportunities/external/salesforce/006Z", json=DEAL).json()
    zoe = TestClient(app, headers=workplace.as_user("rep.zoe"))
    refused = zoe.put("/v1/opportunities/external/salesforce/006Z", json=DEAL)
    assert refused.status_code == 403 and made["id"] not in refused.text


def test_the_system_maps_page_by_name(app: FastAPI, workplace: Workplace) -> None:
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    for system in ("salesforce", "hubspot", "pipedrive"):
        assert ops.put(f"/v1/integrations/{system}", json=MAPS).status_code == 201
    first = ops.get("/v1/integrations", params={"limit": 2}).json()
    second = ops.get("/v1/integrations", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [m["system"] for m in first["items"] + second["items"]] == ["hubspot", "pipedrive", "salesforce"]
    assert second["next_cursor"] is None
    # Any text is a place in a list ordered by name: a cursor of the fuzzer's starts a page, it breaks nothing.
    assert ops.get("/v1/integrations", params={"cursor": ", "}).status_code == 200
