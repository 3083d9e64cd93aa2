"""Problems must not repeat: a complaint is seen through its root cause and preventive action to the customer's
confirmation; one that comes back is marked a repeat, raised a level and shown to the manager; and the account's
deals see its unsettled complaints in their guidance and at their first gate."""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.complaints import service
from app.settings import Settings
from tests.conftest import WATER_DEAL, Workplace, dump, move
from tests.method import prepare
from tests.test_blocking import _kept
from tests.test_processes import default_spec

COMPLAINTS = "/v1/complaints"
LATE = {"summary": "The filter units arrived two weeks late", "category": "delivery", "severity": "medium"}
FIXED = {"root_cause": "The carrier was booked only once the units were built",
         "corrective_action": "Expedited the last units and credited the delay",
         "preventive_action": "Book the carrier when the order is confirmed"}


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def _as(app: FastAPI, workplace: Workplace, handle: str) -> TestClient:
    return TestClient(app, headers=workplace.as_user(handle))


def _deal(client: TestClient, **fields: Any) -> dict[str, Any]:
    made = client.post("/v1/opportunities", json={**WATER_DEAL, **fields})
    assert made.status_code == 201, made.text
    return dict(made.json())


def _complain(client: TestClient, account_id: str, **fields: Any) -> dict[str, Any]:
    made = client.post(COMPLAINTS, json={"account_id": account_id, **LATE, **fields})
    assert made.status_code == 201, made.text
    return dict(made.json())


def _patch(client: TestClient, complaint: dict[str, Any], **fields: Any) -> dict[str, Any]:
    changed = client.patch(f"{COMPLAINTS}/{complaint['id']}", json=fields)
    assert changed.status_code == 200, changed.text
    return dict(changed.json())


def _verify(client: TestClient, complaint: dict[str, Any]) -> dict[str, Any]:
    _patch(client, complaint, status="investigating")
    _patch(client, complaint, status="resolved", **FIXED)
    return _patch(client, complaint, status="verified", verified_with="Dana Okafor", verified_at=_ago(0))


def _ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()["items"]]


def _advice(client: TestClient, oid: str) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in client.get(f"/v1/opportunities/{oid}/guidance").json()["recommendations"]}


def test_a_complaint_that_repeats_is_marked_raised_and_shown_to_the_manager(app: FastAPI, client: TestClient,
                                                                           workplace: Workplace) -> None:
    deal = _deal(client)
    account = deal["account"]["id"]
    made = client.post(COMPLAINTS, json={"account_id": account, "opportunity_id": deal["id"], **LATE,
                                         "received_at": _ago(30)})
    assert made.status_code == 201, made.text
    first = made.json()
    assert made.headers["location"] == f"{COMPLAINTS}/{first['id']}" and made.headers["etag"]
    assert (first["status"], first["accountable"], first["severity"], first["reported_severity"]) == (
        "open", "rep.alex", "medium", "medium")  # the deal's owner answers for it
    assert first["repeat_of_id"] is None and first["repeat_of"] is None

    assert _patch(client, first, status="investigating")["status"] == "investigating"
    resolved = _patch(client, first, status="resolved", **FIXED)
    assert (resolved["status"], resolved["preventive_action"]) == ("resolved", FIXED["preventive_action"])
    verified = _patch(client, first, status="verified", verified_with="Dana Okafor, Director of Public Works",
                      verified_at=_ago(0))
    assert (verified["status"], verified["verified_with"], verified["version"]) == (
        "verified", "Dana Okafor, Director of Public Works", 4)

    again = _complain(client, account, summary="Again the units came a week late")
    assert again["repeat_of_id"] == first["id"]
    assert (again["reported_severity"], again["severity"]) == ("medium", "high")  # raised one level
    assert again["repeat_of"] == {"id": first["id"], "summary": LATE["summary"], "category": "delivery",
                                  "severity": "medium", "status": "verified", "received_at": first["received_at"],
                                  "preventive_action": FIXED["preventive_action"]}  # the prevention that did not hold
    assert client.get(f"{COMPLAINTS}/{again['id']}").json()["repeat_of"]["preventive_action"] == \
        FIXED["preventive_action"]
    third = _complain(client, account, severity="critical")
    assert (third["repeat_of_id"], third["severity"]) == (again["id"], "critical")  # the latest; critical stays

    manager = _as(app, workplace, "rep.kim")
    assert _ids(manager.get(COMPLAINTS, params={"repeat": "true"})) == [again["id"], third["id"]]
    assert _ids(manager.get(COMPLAINTS, params={"repeat": "false"})) == [first["id"]]
    assert _ids(_as(app, workplace, "rep.zoe").get(COMPLAINTS, params={"repeat": "true"})) == []
    assert _ids(_as(app, workplace, "ops.lee").get(COMPLAINTS, params={"repeat": "true", "severity": "high"})) == [
        again["id"]]

    events = _as(app, workplace, "admin").get("/v1/events", params={"limit": 200}).json()["items"]
    changes = [(e["type"], e["data"]["complaint"]["status"]) for e in events if e["type"].startswith("complaint.")]
    assert changes == [("complaint.created", "open"), ("complaint.updated", "investigating"),
                       ("complaint.updated", "resolved"), ("complaint.updated", "verified"),
                       ("complaint.created", "open"), ("complaint.created", "open")]
    assert events[-1]["data"]["complaint"]["repeat_of"]["id"] == again["id"]


def test_a_repeat_is_the_same_category_on_the_same_account_within_the_window(
        app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    water = _deal(client)["account"]["id"]
    lakeside = client.post("/v1/accounts", json={"name": "Lakeside Utilities"}).json()["id"]
    old = _complain(client, water, received_at=_ago(400))
    assert _complain(client, water)["repeat_of_id"] is None  # 400 days back is outside the 365-day window
    assert _complain(client, lakeside)["repeat_of_id"] is None  # another account's
    billing = _complain(client, water, category="billing", summary="Invoiced twice")
    assert billing["repeat_of_id"] is None and billing["severity"] == "medium"
    backdated = _complain(client, water, received_at=_ago(500))
    assert backdated["repeat_of_id"] is None  # nothing of its category came before it

    wider = Settings(complaint_repeat_window_days=450)
    monkeypatch.setattr(service, "get_settings", lambda: wider)
    hillside = client.post("/v1/accounts", json={"name": "Hillside Power"}).json()["id"]
    first = _complain(client, hillside, received_at=_ago(400))
    assert _complain(client, hillside)["repeat_of_id"] == first["id"]
    # A complaint recorded later with an earlier date does not make one recorded before it a repeat.
    assert client.get(f"{COMPLAINTS}/{old['id']}").json()["repeat_of_id"] is None


def test_every_refused_move_and_missing_field_is_a_problem_and_changes_nothing(app: FastAPI, client: TestClient,
                                                                             workplace: Workplace) -> None:
    deal = _deal(client)
    complaint = _complain(client, deal["account"]["id"])
    url = f"{COMPLAINTS}/{complaint['id']}"

    def refused(body: dict[str, Any], status: int, kind: str, who: TestClient = client,
                **headers: str) -> dict[str, Any]:
        before = dump(app)
        answer = who.patch(url, json=body, headers=headers)
        assert (answer.status_code, answer.headers["content-type"]) == (status, "application/problem+json"), \
            answer.text
        assert answer.json()["type"] == f"https://dealgate.dev/problems/{kind}"
        assert dump(app) == before
        return dict(answer.json())

    skipped = refused({"status": "resolved", **FIXED}, 409, "move-not-allowed")
    assert (skipped["current"], skipped["allowed"]) == ("open", ["investigating"])
    assert refused({"status": "verified"}, 409, "move-not-allowed")["allowed"] == ["investigating"]
    refused({"status": "closed"}, 422, "validation-error")
    refused({"summary": None}, 422, "validation-error")
    refused({"category": "billing"}, 422, "validation-error")  # it decided whether the complaint repeats
    refused({"verified_with": "Dana Okafor"}, 422, "validation-error")
    refused({"accountable": "ops.lee"}, 422, "validation-error")
    refused({"accountable": "rep.zoe"}, 403, "forbidden")  # another team's rep
    stale = '"9.' + complaint["id"].replace("-", "") + '"'
    refused({"summary": "Late"}, 412, "precondition-failed", **{"If-Match": stale})
    _patch(client, complaint, status="investigating")

    missing = refused({"status": "resolved", "root_cause": FIXED["root_cause"]}, 422, "validation-error")
    assert [e["pointer"] for e in missing["errors"]] == ["/corrective_action", "/preventive_action"]
    _patch(client, complaint, status="resolved", **FIXED)
    assert refused({"preventive_action": None}, 422, "validation-error")["errors"][0]["pointer"] == "/preventive_action"
    unchecked = refused({"status": "verified"}, 422, "validation-error")
    assert [e["pointer"] for e in unchecked["errors"]] == ["/verified_with", "/verified_at"]
    refused({"status": "verified", "verified_with": "Dana", "verified_at": _ago(-1)}, 422, "validation-error")
    refused({"status": "verified", "verified_with": "Dana", "verified_at": _ago(10)}, 422, "validation-error")
    refused({"status": "open"}, 409, "move-not-allowed")

    failed = _patch(client, complaint, status="investigating")  # the customer's check failed: back to work
    assert (failed["status"], failed["root_cause"]) == ("investigating", FIXED["root_cause"])
    _patch(client, complaint, status="resolved")  # what was recorded still holds
    to_the_minute = datetime.fromisoformat(complaint["received_at"]).replace(second=0, microsecond=0)
    _patch(client, complaint, status="verified", verified_with="Dana", verified_at=to_the_minute.isoformat())
    closed = refused({"summary": "Late again"}, 409, "complaint-verified")
    assert "new complaint" in closed["detail"]
    refused({"status": "investigating"}, 409, "complaint-verified")

    before = dump(app)
    for body, status in [({**LATE}, 422), ({"account_id": deal["account"]["id"], **LATE, "severity": "urgent"}, 422),
                         ({"account_id": deal["account"]["id"], **LATE, "category": "Delivery"}, 422),
                         ({"account_id": deal["account"]["id"], **LATE, "summary": "x" * 2001}, 422),
                         ({"account_id": deal["account"]["id"], **LATE, "received_at": _ago(-1)}, 422),
                         ({"account_id": deal["account"]["id"], **LATE, "status": "resolved"}, 422),
                         ({"account_id": complaint["id"], **LATE}, 404)]:
        answer = client.post(COMPLAINTS, json=body)
        assert (answer.status_code, answer.headers["content-type"]) == (status, "application/problem+json"), body
    assert client.get(COMPLAINTS, params={"limit": 201}).status_code == 422
    assert dump(app) == before


def test_the_accountable_defaults_to_the_deal_then_the_account_and_must_be_a_seller_in_reach(
        app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    admin = _as(app, workplace, "admin")
    sams = _deal(admin, owner="rep.sam")
    account = sams["account"]["id"]
    assert _complain(admin, account, opportunity_id=sams["id"])["accountable"] == "rep.sam"  # the deal's owner
    assert _complain(admin, account)["accountable"] == "admin"  # the account has no owner: the caller
    admin.patch(f"/v1/accounts/{account}", json={"owner": "rep.kim"})
    assert _complain(admin, account)["accountable"] == "rep.kim"  # the account's owner
    assert _complain(client, account, accountable="rep.alex")["accountable"] == "rep.alex"

    zoes = _deal(admin, owner="rep.zoe", account={"name": "Northwind Energy"})
    before = dump(app)
    assert client.post(COMPLAINTS, json={"account_id": account, **LATE}).status_code == 403  # rep.kim's, a manager
    assert client.post(COMPLAINTS, json={"account_id": account, "opportunity_id": zoes["id"], **LATE,
                                         "accountable": "rep.alex"}).status_code == 403  # a deal alex cannot read
    other = admin.post(COMPLAINTS, json={"account_id": account, "opportunity_id": zoes["id"], **LATE})
    assert other.status_code == 422 and other.json()["errors"][0]["pointer"] == "/opportunity_id"
    nobody = admin.post(COMPLAINTS, json={"account_id": account, **LATE, "accountable": "crm.sync"})
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["pointer"] == "/accountable"
    assert _as(app, workplace, "ops.lee").post(COMPLAINTS, json={"account_id": account, **LATE}).status_code == 403
    assert dump(app) == before


def test_reps_reach_their_own_complaints_managers_their_teams_and_ops_read_all(app: FastAPI, client: TestClient,
                                                                             workplace: Workplace) -> None:
    admin = _as(app, workplace, "admin")
    account = _deal(client)["account"]["id"]
    mine = _complain(client, account)
    sams = _complain(admin, account, accountable="rep.sam")
    zoes = _complain(admin, account, accountable="rep.zoe")
    everyone = [mine["id"], sams["id"], zoes["id"]]
    manager, ops = _as(app, workplace, "rep.kim"), _as(app, workplace, "ops.lee")
    assert _ids(client.get(COMPLAINTS)) == [mine["id"]]
    assert _ids(client.get(COMPLAINTS, params={"accountable": "me"})) == [mine["id"]]
    assert _ids(manager.get(COMPLAINTS)) == [mine["id"], sams["id"]]
    assert _ids(ops.get(COMPLAINTS, params={"account_id": account})) == everyone
    assert _ids(_as(app, workplace, "crm.sync").get(COMPLAINTS, params={"accountable": "rep.zoe"})) == [zoes["id"]]

    before = dump(app)
    for url in (f"{COMPLAINTS}/{zoes['id']}", f"{COMPLAINTS}/{sams['id']}"):
        assert client.get(url).status_code == 404  # out of reach, it is not even said to exist
        assert client.patch(url, json={"status": "investigating"}).status_code == 404
    assert manager.patch(f"{COMPLAINTS}/{zoes['id']}", json={"severity": "low"}).status_code == 404
    assert ops.patch(f"{COMPLAINTS}/{mine['id']}", json={"severity": "low"}).status_code == 403  # ops read only
    assert dump(app) == before
    assert ops.get(f"{COMPLAINTS}/{zoes['id']}").status_code == 200
    handed = _patch(manager, sams, accountable="rep.alex", severity="high")
    assert (handed["accountable"], handed["severity"], handed["reported_severity"]) == ("rep.alex", "high", "medium")
    assert _ids(client.get(COMPLAINTS, params={"severity": "high"})) == [sams["id"]]

    page = client.get(COMPLAINTS, params={"limit": 1})
    assert _ids(page) == [mine["id"]]
    assert _ids(client.get(COMPLAINTS, params={"limit": 1, "cursor": page.json()["next_cursor"]})) == [sams["id"]]


def test_open_complaints_show_in_the_accounts_deals_guidance_until_verified(app: FastAPI, client: TestClient) -> None:
    deal = _deal(client)
    sibling = _deal(client, name="Second plant")
    assert "guidance.open_complaints" not in _advice(client, deal["id"])
    complaint = _complain(client, deal["account"]["id"], opportunity_id=sibling["id"], severity="low")

    for oid in (deal["id"], sibling["id"]):  # every deal of the account, not only the one complained of
        advice = _advice(client, oid)["guidance.open_complaints"]
        assert advice["severity"] == "warn" and advice["fix"] == f"{COMPLAINTS}?account_id={deal['account']['id']}"
        assert advice["details"]["count"] == 1
        [named] = advice["details"]["complaints"]
        assert (named["id"], named["summary"], named["severity"], named["status"]) == (
            complaint["id"], LATE["summary"], "low", "open")
    gate = client.get(f"/v1/opportunities/{deal['id']}/guidance").json()["next_gate"]
    assert "discover.no_open_severe_complaint" not in {u["code"] for u in gate["unmet"]}  # low is not severe

    _patch(client, complaint, status="investigating")
    assert _advice(client, deal["id"])["guidance.open_complaints"]["details"]["complaints"][0]["status"] == \
        "investigating"  # read afresh, not kept from before
    _patch(client, complaint, status="resolved", **FIXED)
    assert "guidance.open_complaints" in _advice(client, deal["id"])  # resolved, but the customer has not confirmed
    _patch(client, complaint, status="verified", verified_with="Dana Okafor", verified_at=_ago(0))
    assert "guidance.open_complaints" not in _advice(client, deal["id"])
    assert "guidance.open_complaints" not in _advice(client, sibling["id"])


def test_a_new_deal_for_an_account_with_a_severe_open_complaint_is_warned_at_its_first_gate_and_still_moves(
        app: FastAPI, client: TestClient) -> None:
    account = _deal(client)["account"]["id"]
    severe = _complain(client, account, severity="high")
    _complain(client, account, category="billing", severity="low")
    oid = client.post("/v1/opportunities", json={"name": "New filters", "account_id": account}).json()["id"]
    gate = client.get(f"/v1/opportunities/{oid}/gates/opening").json()
    [warning] = [u for u in gate["unmet"] if u["code"] == "discover.no_open_severe_complaint"]
    assert warning["severity"] == "warn"
    assert warning["details"]["count"] == 1 and warning["details"]["complaints"][0]["id"] == severe["id"]

    prepare(client, oid, "opening")
    assert _kept(app, oid) == []  # a warning is not among what holds the deal
    moved = move(client, oid, "opening")
    assert moved.status_code == 200 and moved.json()["step"] == "opening", moved.text  # a warning never blocks
    [judged] = client.get(f"/v1/opportunities/{oid}/history").json()["items"][-1]["gates"]
    assert judged["passed"] and [u["code"] for u in judged["unmet"]] == ["discover.no_open_severe_complaint"]

    lowered = _complain(client, account, severity="high", category="quality")
    later = client.post("/v1/opportunities", json={"name": "Spare parts", "account_id": account}).json()["id"]
    named = client.get(f"/v1/opportunities/{later}/gates/opening").json()["unmet"]
    assert [c["id"] for u in named if u["code"] == "discover.no_open_severe_complaint"
            for c in u["details"]["complaints"]] == [lowered["id"], severe["id"]]  # the most recent first
    _patch(client, lowered, severity="medium")
    _verify(client, severe)
    assert "discover.no_open_severe_complaint" not in {
        u["code"] for u in client.get(f"/v1/opportunities/{later}/gates/opening").json()["unmet"]}


def test_ops_can_make_a_severe_complaint_block_the_opening_and_the_deal_keeps_it_current(
        app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    ops = _as(app, workplace, "ops.lee")
    spec = copy.deepcopy(default_spec())
    [requirement] = [r for r in spec["gates"]["opening"] if r["code"] == "discover.no_open_severe_complaint"]
    requirement["severity"] = "block"
    created = ops.post("/v1/processes/complex-sale/versions", json=spec)
    assert created.status_code == 201, created.text
    assert ops.post(f"/v1/processes/complex-sale/versions/{created.json()['version']}/publish").status_code == 200

    deal = _deal(client)
    prepare(client, deal["id"], "opening")
    assert _kept(app, deal["id"]) == []
    complaint = _complain(client, deal["account"]["id"], severity="critical")
    assert _kept(app, deal["id"]) == ["discover.no_open_severe_complaint"]  # judged again by the complaint's write
    refused = move(client, deal["id"], "opening")
    assert refused.status_code == 409 and [u["code"] for u in refused.json()["unmet"]] == [
        "discover.no_open_severe_complaint"]
    _patch(client, complaint, severity="medium")
    assert _kept(app, deal["id"]) == []
    assert move(client, deal["id"], "opening").status_code == 200


def test_a_complaint_received_before_1970_is_refused_not_a_crash(app: FastAPI, client: TestClient) -> None:
    account = client.post("/v1/accounts", json={"name": "Acme"}).json()["id"]
    before = dump(app)
    refused = client.post(COMPLAINTS, json={"account_id": account, **LATE, "received_at": "0001-01-02T00:00:00Z"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/received_at"
    assert dump(app) == before
