"""Each open deal keeps the codes that block its next gate, and every kind of write keeps them current: they
always equal what a dry run of that gate says."""

import os
import subprocess
import sys
import uuid
from datetime import datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.identity.keys import split_key
from app.identity.service import recognise
from app.opportunities.lookup import lock_opportunity
from app.opportunities.models import Opportunity
from app.opportunities.service import apply_move
from app.phases.catalog import RECORD_KINDS
from app.phases.records import create_record
from app.processes.service import get_definition
from tests.conftest import QUANTIFIED_PROBLEM, WATER_DEAL, Workplace, move
from tests.method import EARLIER, STEPS, post, prepare
from tests.test_integrations import DEAL, MAPS
from tests.test_processes import default_spec, with_gate_rule


def _kept(app: FastAPI, oid: str) -> list[str] | None:
    with app.state.database.reader() as session:
        return session.scalar(select(Opportunity.blocking).where(Opportunity.id == uuid.UUID(oid)))


def _judged(client: TestClient, oid: str) -> list[str] | None:
    """What a dry run of the deal's next gate says blocks it (None for a closed deal, [] at the last step)."""
    deal = client.get(f"/v1/opportunities/{oid}").json()
    if deal["status"] != "open":
        return None
    if deal["step"] == STEPS[-1]:
        return []
    gate = client.get(f"/v1/opportunities/{oid}/gates/{STEPS[STEPS.index(deal['step']) + 1]}").json()
    return sorted({f["code"] for f in gate["unmet"] if f["severity"] == "block"})


def _agrees(app: FastAPI, client: TestClient, oid: str) -> list[str] | None:
    kept = _kept(app, oid)
    assert kept == _judged(client, oid)
    return kept


def test_every_write_keeps_the_blocking_codes_equal_to_a_dry_run(app: FastAPI, client: TestClient,
                                                                 workplace: Workplace) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    first = _agrees(app, client, oid)
    assert first  # a new deal is held at the gate into opening
    ids = prepare(client, oid, "opening")  # record creates
    assert _agrees(app, client, oid) == []
    buyer = f"/v1/opportunities/{oid}/stakeholders/{ids['buyer']}"
    etag = client.get(buyer).headers["etag"]
    assert client.delete(buyer, headers={"If-Match": etag}).status_code == 204  # a delete
    assert _agrees(app, client, oid)
    prepare(client, oid, "questioning")
    assert _agrees(app, client, oid) == []
    assert move(client, oid, "opening").status_code == 200  # a move judges the gate after it
    assert _agrees(app, client, oid) == []
    assert move(client, oid, "questioning").status_code == 200
    assert _agrees(app, client, oid)  # the gate into solution design wants the diagnosis
    problem = post(client, oid, "problems", {**QUANTIFIED_PROBLEM})  # not confirmed yet
    kept = _agrees(app, client, oid)
    at = f"/v1/opportunities/{oid}/problems/{problem['id']}"
    patched = client.patch(at, json={"description": "Filters fail twice a month"},  # a record update
                           headers={"If-Match": client.get(at).headers["etag"]})
    assert patched.status_code == 200, patched.text
    assert _agrees(app, client, oid) == kept
    lost = client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "lost", "reason": "budget cut"})
    assert lost.status_code == 200, lost.text
    assert _agrees(app, client, oid) is None  # a closed deal is held by nothing
    manager = TestClient(app, headers=workplace.as_user("rep.kim"))
    reopened = manager.post(f"/v1/opportunities/{oid}/transitions", json={"to": "questioning", "reason": "back"})
    assert reopened.status_code == 200, reopened.text
    assert _agrees(app, client, oid) == kept


def test_an_integration_upsert_and_a_rollout_keep_them_too(app: FastAPI, workplace: Workplace,
                                                            client: TestClient) -> None:
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    assert ops.put("/v1/integrations/salesforce", json=MAPS).status_code == 201
    crm = TestClient(app, headers=workplace.as_user("crm.sync"))
    deal = {**DEAL, "account": {**DEAL["account"], "industry": "water_utilities"}}
    made = crm.put("/v1/opportunities/external/salesforce/006A", json=deal)
    assert made.status_code == 201, made.text
    oid = made.json()["id"]
    assert _agrees(app, client, oid)
    prepare(client, oid, "opening")
    assert _agrees(app, client, oid) == []
    # A new version whose gate into opening wants two people: the deal, carried onto it, is held again.
    spec = with_gate_rule(default_spec(), "opening", {"code": "ops.two_people", "rule": "stakeholders.size() >= 2",
                                                      "message": "Name two people."})
    draft = ops.post("/v1/processes/complex-sale/versions", json=spec)
    assert draft.status_code == 201, draft.text
    number = draft.json()["version"]
    assert ops.post(f"/v1/processes/complex-sale/versions/{number}/publish").status_code == 200
    assert ops.post(f"/v1/processes/complex-sale/versions/{number}/migrate", json={"ids": [oid]}).json()["migrated"] == 1
    assert _agrees(app, client, oid) == ["ops.two_people"]
    updated = crm.put("/v1/opportunities/external/salesforce/006A", json={**deal, "name": "Filters, all plants"})
    assert updated.status_code == 200, updated.text
    assert _agrees(app, client, oid) == ["ops.two_people"]


def test_deals_unchanged_since_before_the_upgrade_are_judged_by_one_command(app: FastAPI, client: TestClient) -> None:
    ids = [client.post("/v1/opportunities", json=WATER_DEAL).json()["id"] for _ in range(3)]
    prepare(client, ids[0], "opening")
    etags = [client.get(f"/v1/opportunities/{oid}").headers["etag"] for oid in ids]
    with app.state.database.writer() as session:  # as revision 0013 leaves the deals it finds
        session.execute(update(Opportunity).where(Opportunity.id.in_([uuid.UUID(i) for i in ids[:2]]))
                        .values(blocking=None))
        session.commit()
    assert [_kept(app, oid) for oid in ids[:2]] == [None, None]
    run = subprocess.run([sys.executable, "-m", "app.cli", "judge-gates"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "DEALGATE_DATABASE_URL": app.state.settings.database_url})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2 open deals judged."
    assert [_agrees(app, client, oid) for oid in ids] == [[], _judged(client, ids[1]), _judged(client, ids[2])]
    assert [client.get(f"/v1/opportunities/{oid}").headers["etag"] for oid in ids] == etags  # no new version


def test_a_change_to_an_account_judges_its_open_deals_again(app: FastAPI, client: TestClient) -> None:
    deal = client.post("/v1/opportunities", json={**WATER_DEAL, "account": {"name": "Lakeside Board"}}).json()
    assert "discover.industry_known" in _agrees(app, client, deal["id"])
    account = f"/v1/accounts/{deal['account']['id']}"
    changed = client.patch(account, json={"industry": "public_sector"},
                           headers={"If-Match": client.get(account).headers["etag"]})
    assert changed.status_code == 200, changed.text
    assert "discover.industry_known" not in _agrees(app, client, deal["id"])


def test_a_move_keeps_its_codes_and_a_later_change_in_its_transaction_is_judged_again(
        app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    """A move writes the codes of the moved deal with it; a change after the move, in the same transaction (no
    route makes one yet: a move is the last change of each), has them judged again before it commits."""
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    ids = prepare(client, oid, "opening")
    database = app.state.database
    with database.writer() as session:
        prefix, _ = split_key(workplace.keys["rep.alex"])
        caller = recognise(session, prefix).caller
        deal = lock_opportunity(session, caller, uuid.UUID(oid))
        definition = get_definition(session, caller.workspace_id, deal.process_key, deal.process_version)
        apply_move(session, caller, deal, definition, to="opening", reason=None, reason_code=None)
        assert deal.blocking == ["opening.first_meeting_logged"]  # written with the move
        create_record(session, caller, RECORD_KINDS["activities"], deal.id, {
            "kind": "meeting", "occurred_at": datetime.fromisoformat(EARLIER), "purpose_agreed": "Diagnosis",
            "attendee_ids": [uuid.UUID(ids["buyer"])], "minutes_agreed": 60})
        session.commit()
    assert _agrees(app, client, oid) == []  # the meeting meets the gate into questioning
