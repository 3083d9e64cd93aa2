"""Concurrent writes to one opportunity: exactly one move applies, nothing is doubled."""

import asyncio
from typing import Any

import httpx2
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Workplace
from tests.method import prepare

CONCURRENT = 50


async def _race(app: FastAPI, url: str, body: dict[str, Any], headers: dict[str, str]) -> list[httpx2.Response]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
        return await asyncio.gather(*(client.post(url, json=body, headers=headers)
                                      for _ in range(CONCURRENT)))


def test_fifty_concurrent_moves_apply_once(app: FastAPI, client: TestClient, workplace: Workplace,
                                           opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    prepare(client, oid, "presentation")
    responses = asyncio.run(_race(app, f"/v1/opportunities/{oid}/transitions",
                                  {"to": "presentation"}, workplace.as_user("rep.alex")))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409}
    assert all(r.json()["type"].endswith("move-not-allowed") for r in responses if r.status_code == 409)
    history = client.get(f"/v1/opportunities/{oid}/history").json()["items"]
    assert [h["kind"] for h in history] == ["create", "forward"]


def test_fifty_concurrent_moves_with_the_same_if_match_apply_once(
        app: FastAPI, client: TestClient, workplace: Workplace, opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]
    tag = client.get(f"/v1/opportunities/{oid}").headers["etag"]
    responses = asyncio.run(_race(app, f"/v1/opportunities/{oid}/transitions",
                                  {"to": "lost", "reason": "went with a rival"},
                                  {"If-Match": tag, **workplace.as_user("rep.alex")}))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}
    assert len(client.get(f"/v1/opportunities/{oid}/history").json()["items"]) == 2


def test_concurrent_record_writes_lose_nothing(app: FastAPI, client: TestClient, workplace: Workplace,
                                               opportunity: dict[str, Any]) -> None:
    oid = opportunity["id"]

    async def race() -> list[httpx2.Response]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test", timeout=60,
                                      headers=workplace.as_user("rep.alex")) as http:
            return await asyncio.gather(*(http.post(f"/v1/opportunities/{oid}/problems",
                                                    json={"description": f"Problem {n}"}) for n in range(20)))

    assert sorted(r.status_code for r in asyncio.run(race())) == [201] * 20
    assert len(client.get(f"/v1/opportunities/{oid}/problems").json()["items"]) == 20
    assert client.get(f"/v1/opportunities/{oid}").json()["version"] == 21  # one version per write
    gate = client.get(f"/v1/opportunities/{oid}/gates/presentation").json()
    [finding] = [u for u in gate["unmet"] if u["code"] == "diagnose.problem_cost_quantified"]
    assert finding["details"]["problems"] == 20  # the gate's snapshot holds every one of them
