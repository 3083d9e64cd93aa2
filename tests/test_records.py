"""Problems, stakeholders and the qualification: create, list, read, change, delete, under their opportunity."""

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.phases.catalog import RECORD_KINDS
from app.phases.records import RecordKind

from tests.conftest import ECONOMIC_BUYER, QUANTIFIED_PROBLEM, WATER_DEAL, Workplace


def test_problem_lifecycle(client: TestClient, workplace: Workplace, opportunity: dict[str, Any]) -> None:
    base = f"/v1/opportunities/{opportunity['id']}/problems"
    created = client.post(base, json={"description": "Audit findings pile up"})
    assert created.status_code == 201 and created.headers["etag"].startswith('"1.')
    problem = created.json()
    first_tag = created.headers["etag"]
    assert problem["cost"] is None and problem["confirmed_by_customer"] is False
    assert problem["created_by"] == "rep.alex"
    assert client.get(created.headers["location"]).json() == problem

    changed = client.patch(f"{base}/{problem['id']}", json={"cost": QUANTIFIED_PROBLEM["cost"]},
                           headers={"If-Match": first_tag, **workplace.as_user("rep.kim")})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cost"] == {**QUANTIFIED_PROBLEM["cost"], "assumptions": None}
    assert changed.json()["description"] == "Audit findings pile up"
    assert (changed.json()["version"], changed.json()["updated_by"]) == (2, "rep.kim")

    cleared = client.patch(f"{base}/{problem['id']}", json={"cost": None})
    assert cleared.json()["cost"] is None
    assert client.patch(f"{base}/{problem['id']}", json={"description": None}).status_code == 422
    assert client.delete(f"{base}/{problem['id']}", headers={"If-Match": first_tag}).status_code == 412
    assert client.delete(f"{base}/{problem['id']}").status_code == 204
    assert client.get(f"{base}/{problem['id']}").status_code == 404
    assert client.get(base).json() == {"items": [], "next_cursor": None}


def test_stakeholders_list_in_order_and_stay_under_their_opportunity(
        client: TestClient, opportunity: dict[str, Any]) -> None:
    base = f"/v1/opportunities/{opportunity['id']}/stakeholders"
    names = ["Dana Okafor", "Lee Park", "Ana Ruiz"]
    for name in names:
        assert client.post(base, json={**ECONOMIC_BUYER, "name": name}).status_code == 201
    listed = client.get(base).json()["items"]
    assert [s["name"] for s in listed] == names

    other = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    assert client.get(f"/v1/opportunities/{other}/stakeholders/{listed[0]['id']}").status_code == 404
    assert client.delete(f"/v1/opportunities/{other}/stakeholders/{listed[0]['id']}").status_code == 404
    assert len(client.get(base).json()["items"]) == 3


def test_records_of_an_unknown_opportunity_are_404(client: TestClient) -> None:
    unknown = "01930000-0000-7000-8000-000000000000"
    assert client.get(f"/v1/opportunities/{unknown}/problems").status_code == 404
    response = client.post(f"/v1/opportunities/{unknown}/stakeholders", json=ECONOMIC_BUYER)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_patch_opportunity_changes_its_fields_and_refuses_step_changes(
        client: TestClient, opportunity: dict[str, Any]) -> None:
    url = f"/v1/opportunities/{opportunity['id']}"
    changed = client.patch(url, json={"value": None, "expected_close_date": "2027-03-31"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["account"] == opportunity["account"]
    assert body["value"] is None and body["expected_close_date"] == "2027-03-31"
    refused = client.patch(url, json={"step": "presentation"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/step"
    assert client.patch(url, json={"name": None}).status_code == 422
    assert client.get(url).json()["step"] == "planning"


@pytest.mark.parametrize("kind", list(RECORD_KINDS.values()), ids=lambda k: k.collection)
def test_no_record_field_that_must_hold_a_value_can_be_nulled(client: TestClient, opportunity: dict[str, Any],
                                                             kind: RecordKind) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"][kind.create.__name__]
    for field in kind.update.not_nullable:
        assert "null" not in str(schema["properties"][field]), (kind.collection, field)
        target = f"/v1/opportunities/{opportunity['id']}/{kind.path}"
        if not kind.singleton:
            target += "/01930000-0000-7000-8000-000000000000"
        response = client.patch(target, json={field: None})
        assert response.status_code == 422, (kind.collection, field, response.text)


def test_a_qualification_notes_when_urgency_and_resources_came_to_be_answered(
        client: TestClient, opportunity: dict[str, Any]) -> None:
    url = f"/v1/opportunities/{opportunity['id']}/qualification"
    started = client.put(url, json={"urgency": "yes", "compelling_event": "Regulator deadline",
                                    "resources": "unknown"})
    assert started.status_code == 201, started.text
    assert started.json()["answered_at"] is None  # one question still open
    answered = client.patch(url, json={"resources": "no"}).json()
    assert answered["answered_at"] == answered["updated_at"]  # the moment of the write that answered the last one
    for edit in ({"resources_evidence": "The CFO froze every budget"}, {"urgency": "no"},
                 {"urgency": "no", "resources": "no", "urgency_evidence": "Deadline moved to 2029"}):
        edited = client.patch(url, json=edit).json()
        assert edited["version"] > answered["version"]
        assert datetime.fromisoformat(edited["updated_at"]) > datetime.fromisoformat(answered["updated_at"])
        assert edited["answered_at"] == answered["answered_at"], edit  # still answered: when stays
    replaced = client.put(url, json={"urgency": "yes", "compelling_event": "Regulator deadline", "resources": "yes"})
    assert replaced.status_code == 200 and replaced.json()["answered_at"] == answered["answered_at"]
    reopened = client.patch(url, json={"urgency": "unknown"}).json()
    assert reopened["answered_at"] is None  # a question open again
    again = client.patch(url, json={"urgency": "yes"}).json()
    assert again["answered_at"] == again["updated_at"]
    assert datetime.fromisoformat(again["answered_at"]) > datetime.fromisoformat(answered["answered_at"])
    assert client.get(url).json()["answered_at"] == again["answered_at"]
    refused = client.patch(url, json={"answered_at": "2026-01-01T00:00:00Z"})
    assert refused.status_code == 422 and client.get(url).json() == again  # the service sets it, never a client

    other = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    at_once = client.put(f"/v1/opportunities/{other}/qualification", json={"urgency": "no", "resources": "yes"})
    assert at_once.status_code == 201 and at_once.json()["answered_at"] == at_once.json()["created_at"]
