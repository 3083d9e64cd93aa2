"""Respect the no, at the method's pace: prompts to check in rather than faults, each a setting a process can
switch off; a presentation to influencers noted without blame once held; a price the problems do not pay back
answered with re-scoping or disqualifying."""

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.opportunities.models import Opportunity
from app.processes.service import default_process
from tests.conftest import WATER_DEAL, Workplace
from tests.method import post, put

LONG_AGO = (datetime.now(UTC) - timedelta(days=30)).isoformat()


def _advice(client: TestClient, oid: str) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in client.get(f"/v1/opportunities/{oid}/guidance").json()["recommendations"]}


def _at_questioning_for(app: FastAPI, client: TestClient, workplace: Workplace, days: int) -> str:
    """A new deal placed at questioning (by an override), entered `days` ago."""
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    moved = client.post(f"/v1/opportunities/{oid}/transitions", headers=workplace.as_user("admin"),
                        json={"to": "questioning", "override": "Placed here to read its guidance"})
    assert moved.status_code == 200, moved.text
    with app.state.database.writer() as session:
        session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(oid)).values(
            step_entered_at=datetime.now(UTC) - timedelta(days=days)))
        session.commit()
    return oid


def test_a_qualification_left_open_in_questioning_prompts_finishing_it(app: FastAPI, client: TestClient,
                                                                       workplace: Workplace) -> None:
    fresh, late = (_at_questioning_for(app, client, workplace, days) for days in (3, 20))
    assert "guidance.qualify_quickly" not in _advice(client, fresh)
    prompt = _advice(client, late)["guidance.qualify_quickly"]
    assert prompt["details"] == {"unknown": ["urgency", "resources"], "days_in_step": 20, "threshold_days": 14}
    put(client, late, "qualification", {"urgency": "no", "resources": "unknown"})
    assert _advice(client, late)["guidance.qualify_quickly"]["details"]["unknown"] == ["resources"]
    put(client, late, "qualification", {"urgency": "no", "resources": "yes"})  # a no is an answer too
    assert "guidance.qualify_quickly" not in _advice(client, late)


def test_the_pace_prompts_are_settings_a_process_switches_off(app: FastAPI, client: TestClient,
                                                              workplace: Workplace) -> None:
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    spec = copy.deepcopy(default_process()[1])
    spec["settings"] |= {"stale_activity_days": None, "objection_open_days": None, "qualify_within_days": None}
    created = ops.post("/v1/processes/complex-sale/versions", json=spec)
    assert created.status_code == 201, created.text
    assert ops.post(f"/v1/processes/complex-sale/versions/{created.json()['version']}/publish").status_code == 200
    quiet = _at_questioning_for(app, client, workplace, 40)  # on the new version, which switches them off
    post(client, quiet, "objections", {"statement": "Not now", "category": "timing", "raised_at": LONG_AGO})
    assert not {"guidance.qualify_quickly", "guidance.objection_open_too_long",
                "guidance.no_recent_activity"} & set(_advice(client, quiet))
    settings = ops.get(f"/v1/processes/complex-sale/versions/{created.json()['version']}").json()["spec"]["settings"]
    assert settings["objection_open_days"] is None


def test_the_pace_prompts_ask_to_check_in(app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    oid = _at_questioning_for(app, client, workplace, 40)
    post(client, oid, "objections", {"statement": "Not now", "category": "timing", "raised_at": LONG_AGO})
    advice = _advice(client, oid)
    for code in ("guidance.objection_open_too_long", "guidance.no_recent_activity"):
        assert "check in" in advice[code]["message"], advice[code]


def test_a_presentation_to_influencers_is_noted_once_held_and_without_blame(client: TestClient,
                                                                           opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    engineer = post(client, oid, "stakeholders", {"name": "Lee", "role": "influencer"})
    planned = post(client, oid, "presentations", {"audience_ids": [engineer["id"]]})
    assert "guidance.audience_without_decision_maker" not in _advice(client, oid)
    client.patch(f"/v1/opportunities/{oid}/presentations/{planned['id']}", json={"held_at": LONG_AGO})
    noted = _advice(client, oid)["guidance.audience_without_decision_maker"]
    assert noted["details"] == {"presentations": [planned["id"]]}
    assert "sometimes the way in" in noted["message"]


def test_a_price_the_problems_do_not_pay_back_is_answered_by_rescoping_or_the_no(client: TestClient,
                                                                                opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    small = post(client, oid, "problems", {"description": "Slow reports",
                                           "cost": {"amount": 100_000, "currency": "EUR", "period": "year"}})
    post(client, oid, "scope-items", {"name": "Platform", "price": {"amount": 90_000_000, "currency": "EUR"},
                                      "problem_ids": [small["id"]]})
    message = _advice(client, oid)["guidance.scope_not_paid_back"]["message"]
    assert "not_a_fit" in message and "Re-scope" in message
    assert not {"sharpen", "quantify", "figure"} & set(message.lower().replace(".", " ").split())
