"""Bad input gets the right problem+json answer and changes nothing."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import WATER_DEAL, dump


def _assert_problem(response: Any, status: int, type_suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith(type_suffix) and body["status"] == status
    assert body["title"] and body["detail"] and body["instance"]
    return body


BAD_OPPORTUNITIES = [
    ({**WATER_DEAL, "value": {"amount": -5, "currency": "EUR"}}, "/value/amount"),
    ({**WATER_DEAL, "value": {"amount": 10.5, "currency": "EUR"}}, "/value/amount"),
    ({**WATER_DEAL, "value": {"amount": 10.0, "currency": "EUR"}}, "/value/amount"),
    ({**WATER_DEAL, "value": {"amount": "100", "currency": "EUR"}}, "/value/amount"),
    ({**WATER_DEAL, "value": {"amount": 10**30, "currency": "EUR"}}, "/value/amount"),
    ({**WATER_DEAL, "value": {"amount": 100, "currency": "EURO"}}, "/value/currency"),
    ({**WATER_DEAL, "value": {"amount": 100, "currency": "eur"}}, "/value/currency"),
    ({**WATER_DEAL, "value": {"amount": 100, "currency": "ZZZ"}}, "/value/currency"),
    ({**WATER_DEAL, "name": ""}, "/name"),
    ({**WATER_DEAL, "name": "x" * 201}, "/name"),
    ({**WATER_DEAL, "name": "bad\x00name"}, "/name"),
    ({**WATER_DEAL, "name": 42}, "/name"),
    ({**WATER_DEAL, "account": {"name": "Riverton", "industry": "Public Sector!"}}, "/account/industry"),
    ({**WATER_DEAL, "process": "no-such-process"}, None),
    ({**WATER_DEAL, "expected_close_date": 0}, "/expected_close_date"),  # not a Unix time
    ({**WATER_DEAL, "expected_close_date": "1700000000"}, "/expected_close_date"),
    ({**WATER_DEAL, "stage": "presentation"}, "/stage"),
    ({"name": "No account"}, "/account"),
    ({**WATER_DEAL, "account_id": "01930000-0000-7000-8000-0000000000ff"}, "/account"),  # both
    ([1, 2, 3], ""),  # RFC 6901: the whole document
]


@pytest.mark.parametrize(("body", "pointer"), BAD_OPPORTUNITIES)
def test_invalid_opportunities_are_refused(app: FastAPI, client: TestClient, body: Any,
                                           pointer: str | None) -> None:
    before = dump(app)
    problem = _assert_problem(client.post("/v1/opportunities", json=body), 422, "validation-error")
    if pointer is not None:
        assert pointer in [e["pointer"] for e in problem["errors"]]
    assert dump(app) == before


BAD_PROBLEMS = [
    {"description": "x", "cost": {"amount": -1, "currency": "EUR", "period": "year"}},
    {"description": "x", "cost": {"amount": 1.5, "currency": "EUR", "period": "year"}},
    {"description": "x", "cost": {"amount": 100, "currency": "EUR", "period": "week"}},
    {"description": "x", "cost": {"amount": 100, "currency": "EUR"}},
    {"description": "x", "confirmed_by_customer": "yes"},
    {"description": "x", "unknown": True},
    {"cost": {"amount": 100, "currency": "EUR", "period": "year"}},
]


@pytest.mark.parametrize("body", BAD_PROBLEMS)
def test_invalid_problems_are_refused(app: FastAPI, client: TestClient, opportunity: dict[str, Any],
                                      body: Any) -> None:
    before = dump(app)
    response = client.post(f"/v1/opportunities/{opportunity['id']}/problems", json=body)
    _assert_problem(response, 422, "validation-error")
    assert dump(app) == before


def test_unknown_role_and_step_are_refused(app: FastAPI, client: TestClient,
                                          opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    before = dump(app)
    _assert_problem(client.post(f"/v1/opportunities/{oid}/stakeholders",
                                json={"name": "Pat", "role": "king"}), 422, "validation-error")
    problem = _assert_problem(client.post(f"/v1/opportunities/{oid}/transitions",
                                          json={"to": "celebration"}), 422, "validation-error")
    assert "presentation" in problem["allowed"]
    _assert_problem(client.post(f"/v1/opportunities/{oid}/transitions", json={"to": 3}),
                    422, "validation-error")
    _assert_problem(client.get(f"/v1/opportunities/{oid}/gates/celebration"), 404, "not-found")
    assert dump(app) == before


def test_malformed_json_wrong_content_type_and_oversized_bodies(
        app: FastAPI, client: TestClient, opportunity: dict[str, Any]) -> None:
    before = dump(app)
    url = f"/v1/opportunities/{opportunity['id']}/problems"
    _assert_problem(client.post(url, content=b'{"description": ', headers={"Content-Type": "application/json"}),
                    400, "malformed-json")
    _assert_problem(client.post(url, content=b"description=x",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}),
                    415, "unsupported-media-type")
    _assert_problem(client.post(url, content=b'{"description": "x"}', headers={"Content-Type": "text/plain"}),
                    415, "unsupported-media-type")
    huge = b'{"description": "' + b"x" * 2_000_000 + b'"}'
    _assert_problem(client.post(url, content=huge, headers={"Content-Type": "application/json"}),
                    413, "payload-too-large")
    _assert_problem(client.post(url, json={"description": "x" * 10_001}), 422, "validation-error")
    assert dump(app) == before


def test_unknown_ids_and_routes_are_404_problems(client: TestClient) -> None:
    unknown = "01930000-0000-7000-8000-000000000000"
    _assert_problem(client.get(f"/v1/opportunities/{unknown}"), 404, "not-found")
    _assert_problem(client.post(f"/v1/opportunities/{unknown}/transitions", json={"to": "opening"}),
                    404, "not-found")
    _assert_problem(client.get(f"/v1/opportunities/{unknown}/history"), 404, "not-found")
    _assert_problem(client.get("/v1/opportunities/not-a-uuid"), 422, "validation-error")
    _assert_problem(client.get("/v1/nothing-here"), 404, "not-found")
    refused = client.delete("/v1/opportunities")
    _assert_problem(refused, 405, "method-not-allowed")
    assert refused.headers["Allow"] == "GET, POST"  # every method of the path, not only the first route's


def test_partial_updates_keep_every_rule_of_the_full_record(app: FastAPI, client: TestClient,
                                                          opportunity: dict[str, Any]) -> None:
    base = f"/v1/opportunities/{opportunity['id']}"
    stakeholder = client.post(f"{base}/stakeholders", json={"name": "Pat", "role": "user"}).json()
    activity = client.post(f"{base}/activities", json={"kind": "call", "occurred_at": "2026-01-05T09:00:00Z"}).json()
    client.put(f"{base}/account-profile", json={})
    before = dump(app)
    for url, body in [(f"{base}/stakeholders/{stakeholder['id']}", {"name": ""}),
                      (f"{base}/stakeholders/{stakeholder['id']}", {"name": "x" * 300}),
                      (f"{base}/stakeholders/{stakeholder['id']}", {"name": "a\u0000b"}),
                      (f"{base}/activities/{activity['id']}", {"minutes_agreed": 10**30}),
                      (f"{base}/activities/{activity['id']}", {"occurred_at": "2026-01-05T09:00:00"}),
                      (f"{base}/account-profile", {"fiscal_year_end": "99-99"})]:
        _assert_problem(client.patch(url, json=body), 422, "validation-error")
    assert dump(app) == before
    assert client.get(f"{base}/stakeholders/{stakeholder['id']}").json()["name"] == "Pat"


def test_nulling_a_defaulted_field_restores_its_default(client: TestClient, opportunity: dict[str, Any]) -> None:
    base = f"/v1/opportunities/{opportunity['id']}"
    task = client.post(f"{base}/tasks", json={"title": "Call", "owner": "ops.lee", "due_date": "2027-01-01"}).json()
    objection = client.post(f"{base}/objections", json={"statement": "Later", "category": "timing"}).json()
    assert client.patch(f"{base}/tasks/{task['id']}", json={"owner": None}).json()["owner"] == "rep.alex"
    reset = client.patch(f"{base}/objections/{objection['id']}", json={"raised_at": None})
    assert reset.status_code == 200 and reset.json()["raised_at"] == objection["raised_at"]


def test_a_change_that_changes_nothing_keeps_the_version(client: TestClient, opportunity: dict[str, Any]) -> None:
    url = f"/v1/opportunities/{opportunity['id']}"
    tag = client.get(url).headers["etag"]
    for body in ({}, {"account_id": opportunity["account"]["id"]}, {"name": opportunity["name"]},
                 {"expected_close_date": None}):
        assert client.patch(url, json=body).headers["etag"] == tag
    problem = client.post(f"{url}/problems", json={"description": "Leaks"})
    same = client.patch(f"{url}/problems/{problem.json()['id']}", json={"description": "Leaks"})
    assert same.headers["etag"] == problem.headers["etag"]


def test_unreadable_bodies_are_malformed(client: TestClient, opportunity: dict[str, Any]) -> None:
    url = f"/v1/opportunities/{opportunity['id']}/problems"
    for body in (b'{"description": "\xff\xfe"}', b"[" * 100_000):
        _assert_problem(client.post(url, content=body, headers={"Content-Type": "application/json"}),
                        400, "malformed-json")


def test_numbers_are_not_read_as_dates_or_times(client: TestClient, opportunity: dict[str, Any]) -> None:
    assert client.get("/v1/tasks", params={"due_before": "0"}).status_code == 422
    assert client.get("/v1/tasks", params={"due_before": "2027-01-01"}).status_code == 200
    activity = client.post(f"/v1/opportunities/{opportunity['id']}/activities",
                           json={"kind": "call", "occurred_at": 1700000000})
    assert activity.status_code == 422 and activity.json()["errors"][0]["pointer"] == "/occurred_at"


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"next": value}
    return value


CORPUS = [  # (path under the deal, body, status, problem type)
    ("/stakeholders", {"name": "Pat", "role": "user", "extra": _nested(500)}, 422, "validation-error"),
    ("/stakeholders", {"name": _nested(500), "role": "user"}, 422, "validation-error"),
    ("/stakeholders", {"name": "Pat", "role": "user", "notes": {"a": {"b": {"c": [[[[["deep"]]]]]}}}}, 422,
     "validation-error"),
    ("/stakeholders", {"name": "Pat", "role": "user", "x": "unknown field"}, 422, "validation-error"),
    ("/stakeholders", {"name": "P" * 100_000, "role": "user"}, 422, "validation-error"),
    ("/stakeholders", {"name": "Pat\u0007", "role": "user"}, 422, "validation-error"),
    ("/stakeholders", {"name": "Pat\u2028Line", "role": "user"}, 201, None),  # unusual, not forbidden
    ("/stakeholders", {"name": "Zoë 👩‍💼 بيانات \u200b", "role": "user"}, 201, None),
    ("/stakeholders", {"name": "Pat", "role": "USER"}, 422, "validation-error"),
    ("/problems", {"description": "x", "cost": {"amount": 10**16, "currency": "EUR", "period": "year"}}, 422,
     "validation-error"),
    ("/problems", {"description": "x", "cost": {"amount": 1e3, "currency": "EUR", "period": "year"}}, 422,
     "validation-error"),
    ("/problems", {"description": "x", "cost": {"amount": 100, "currency": "XBT", "period": "year"}}, 422,
     "validation-error"),
    ("/transitions", {"to": "next", "reason_code": "bored"}, 422, "validation-error"),
    ("/transitions", {"to": "presentation" + "\u0000"}, 422, "validation-error"),
    ("/tasks", {"title": "Call", "due_date": "2027-02-30"}, 422, "validation-error"),
]


@pytest.mark.parametrize(("path", "body", "status", "type_"), CORPUS)
def test_the_bad_input_corpus(app: FastAPI, client: TestClient, opportunity: dict[str, Any], path: str, body: Any,
                              status: int, type_: str | None) -> None:
    before = dump(app)
    answer = client.post(f"/v1/opportunities/{opportunity['id']}{path}", json=body)
    assert answer.status_code == status, answer.text
    if type_ is not None:
        _assert_problem(answer, status, type_)
        assert dump(app) == before
    else:
        stored = client.get(f"/v1/opportunities/{opportunity['id']}{path}/{answer.json()['id']}")
        assert stored.json()["name"] == body["name"]  # stored as sent
