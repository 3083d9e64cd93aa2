"""Listing opportunities: filters and cursor pagination."""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import WATER_DEAL, Workplace, move
from tests.method import prepare


def test_cursor_pages_cover_every_opportunity_once_in_creation_order(client: TestClient) -> None:
    ids = [client.post("/v1/opportunities", json={**WATER_DEAL, "name": f"Deal {i}"}).json()["id"]
           for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/opportunities", params=params).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_filters_by_phase_step_status_and_owner(app: FastAPI, workplace: Workplace) -> None:
    client = TestClient(app, headers=workplace.as_user("rep.kim"))  # the team's manager
    a = client.post("/v1/opportunities", json={**WATER_DEAL, "owner": "rep.sam"}).json()["id"]
    b = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    c = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, b, "presentation")
    move(client, b, "presentation")
    move(client, c, "lost", "no budget this year")

    def ids(**params: str) -> list[str]:
        return [o["id"] for o in client.get("/v1/opportunities", params=params).json()["items"]]

    assert ids(owner="rep.sam") == [a]
    assert ids(phase="deploy") == [b]
    assert ids(step="planning") == [a, c]
    assert ids(status="lost") == [c]
    assert ids(step="planning", status="open") == [a]


def test_bad_filters_and_cursors_are_refused(client: TestClient) -> None:
    for params in ({"step": "celebration"}, {"phase": "party"}, {"status": "maybe"},
                   {"limit": 0}, {"limit": 1000}, {"cursor": "not-a-cursor"}):
        response = client.get("/v1/opportunities", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
