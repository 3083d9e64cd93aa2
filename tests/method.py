"""Record, through the API, what each default gate needs: a deal walked by the method."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import ECONOMIC_BUYER, QUANTIFIED_PROBLEM

STEPS = ("planning", "opening", "questioning", "solution_design", "presentation", "negotiation",
         "closing", "follow_up")
EARLIER = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def post(client: TestClient, oid: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a record under the opportunity; returns it."""
    response = client.post(f"/v1/opportunities/{oid}/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def put(client: TestClient, oid: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Record an opportunity's singleton record; returns it."""
    response = client.put(f"/v1/opportunities/{oid}/{path}", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def for_opening(client: TestClient, oid: str, ids: dict[str, str]) -> None:
    """Industry (already on the deal), a stakeholder, a meeting objective."""
    ids["buyer"] = post(client, oid, "stakeholders", ECONOMIC_BUYER)["id"]
    post(client, oid, "meeting-plans", {"objective": "Understand the outage history and its cost",
                                         "questions": ["How often do filters fail?"]})


def for_questioning(client: TestClient, oid: str, ids: dict[str, str]) -> None:
    """A first meeting logged."""
    post(client, oid, "activities", {"kind": "meeting", "occurred_at": EARLIER,
                                     "attendee_ids": [ids["buyer"]], "purpose_agreed": "Diagnosis",
                                     "minutes_agreed": 60})


def for_solution_design(client: TestClient, oid: str, ids: dict[str, str]) -> None:
    """A confirmed quantified problem, the decision process, urgency and resources yes."""
    ids["problem"] = post(client, oid, "problems", {**QUANTIFIED_PROBLEM,
                                                    "confirmation": {"stakeholder_id": ids["buyer"]}})["id"]
    put(client, oid, "decision-process", {"steps": ["Technical review", "Council vote"],
                                          "decision_date": "2027-03-01", "signer_id": ids["buyer"]})
    put(client, oid, "qualification", {"urgency": "yes", "compelling_event": "Regulator deadline",
                                       "resources": "yes",
                                       "budget_available": {"amount": 130000000, "currency": "EUR"}})


def for_presentation(client: TestClient, oid: str, ids: dict[str, str]) -> None:
    """A central proposition and a scope within budget, each tied to the problem, previewed with the buyer."""
    put(client, oid, "proposition", {"benefit": "No more bottled-water emergencies",
                                     "problem_ids": [ids["problem"]]})
    post(client, oid, "proposal-previews", {"stakeholder_id": ids["buyer"], "previewed_at": EARLIER,
                                            "feedback": "Lead with the regulator deadline"})
    ids["scope"] = post(client, oid, "scope-items", {
        "name": "Filter monitoring", "price": {"amount": 90000000, "currency": "EUR"},
        "problem_ids": [ids["problem"]]})["id"]


def for_negotiation(client: TestClient, oid: str, ids: dict[str, str]) -> None:
    """The presentation delivered to the economic buyer."""
    post(client, oid, "presentations", {"held_at": EARLIER, "audience_ids": [ids["buyer"]]})


def for_closing(client: TestClient, oid: str, ids: dict[str, str]) -> None:
    """No objection left open (nothing to record)."""


def for_follow_up(client: TestClient, oid: str, ids: dict[str, str]) -> None:
    """The customer's formal acceptance."""
    put(client, oid, "acceptance", {"accepted_by_id": ids["buyer"], "accepted_at": EARLIER,
                                    "order_value": {"amount": 90000000, "currency": "EUR"},
                                    "products": [{"product": "Filter monitoring", "quantity": 4}],
                                    "paperwork_reference": "PO-2026-118"})


PREPARE = {"opening": for_opening, "questioning": for_questioning,
           "solution_design": for_solution_design, "presentation": for_presentation,
           "negotiation": for_negotiation, "closing": for_closing, "follow_up": for_follow_up}


def prepare(client: TestClient, oid: str, step: str) -> dict[str, str]:
    """Record everything the gates up to and including `step` need; returns the record ids."""
    ids: dict[str, str] = {}
    for name in STEPS[1 : STEPS.index(step) + 1]:
        PREPARE[name](client, oid, ids)
    return ids
