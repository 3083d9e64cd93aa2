"""Accounts are records of their own: deals link to one, by name or by id, and each change is an event."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path


import sqlalchemy as sa
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from tests.conftest import WATER_DEAL, Workplace, alembic_config, count_rows, fresh_database


def test_deals_name_their_account_by_name_or_id(client: TestClient, app: FastAPI) -> None:
    first = client.post("/v1/opportunities", json=WATER_DEAL).json()
    second = client.post("/v1/opportunities", json={**WATER_DEAL, "name": "Second phase"}).json()
    assert first["account"]["id"] == second["account"]["id"]
    assert first["account"] == {"id": first["account"]["id"], "name": "Riverton City Council",
                                "industry": "public_sector"}
    assert count_rows(app)["account"] == 1

    clash = client.post("/v1/opportunities", json={**WATER_DEAL, "account": {"name": "Riverton City Council",
                                                                              "industry": "utilities"}})
    assert clash.status_code == 409 and clash.json()["account_id"] == first["account"]["id"]
    both = client.post("/v1/opportunities", json={**WATER_DEAL, "account_id": first["account"]["id"]})
    assert both.status_code == 422  # account and account_id together
    by_id = client.post("/v1/opportunities", json={"name": "Third", "account_id": first["account"]["id"]})
    assert by_id.status_code == 201 and by_id.json()["account"]["id"] == first["account"]["id"]
    missing = client.post("/v1/opportunities", json={"name": "Fourth", "account_id": str(uuid.uuid4())})
    assert missing.status_code == 404


def test_lists_filter_deals_by_account_and_a_deal_moves_to_another(client: TestClient) -> None:
    water = client.post("/v1/opportunities", json=WATER_DEAL).json()
    other = client.post("/v1/accounts", json={"name": "Lakeside Utilities", "industry": "utilities",
                                              "size": "medium", "owner": "rep.alex"})
    assert other.status_code == 201 and other.headers["location"] == f"/v1/accounts/{other.json()['id']}"
    listed = client.get("/v1/opportunities", params={"account_id": water["account"]["id"]}).json()["items"]
    assert [d["id"] for d in listed] == [water["id"]]
    assert client.get("/v1/opportunities", params={"account_id": other.json()["id"]}).json()["items"] == []

    moved = client.patch(f"/v1/opportunities/{water['id']}", json={"account_id": other.json()["id"]})
    assert moved.status_code == 200 and moved.json()["account"]["name"] == "Lakeside Utilities"
    assert moved.json()["version"] == water["version"] + 1
    assert client.patch(f"/v1/opportunities/{water['id']}", json={"account_id": None}).status_code == 422
    assert client.patch(f"/v1/opportunities/{water['id']}", json={"account": {"name": "X"}}).status_code == 422


def test_an_account_changes_with_if_match_and_keeps_its_name_unique(client: TestClient, app: FastAPI,
                                                                    workplace: Workplace) -> None:
    made = client.post("/v1/accounts", json={"name": "Lakeside Utilities", "external_ids": {"hubspot": "77"}})
    client.post("/v1/accounts", json={"name": "Hillside Power"})
    path, tag = f"/v1/accounts/{made.json()['id']}", made.headers["etag"]
    assert client.patch(path, json={"name": "Hillside Power"}).status_code == 409
    renamed = client.patch(path, json={"name": "Lakeside Water", "external_ids": {"hubspot": None,
                                                                                  "salesforce": "001"}},
                           headers={"If-Match": tag})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["external_ids"] == {"salesforce": "001"} and renamed.json()["version"] == 2
    assert client.patch(path, json={"size": "small"}, headers={"If-Match": tag}).status_code == 412
    other = client.post("/v1/accounts", json={"name": "Third", "external_ids": {"salesforce": "001"}})
    assert other.status_code == 409 and other.json()["holder"] == made.json()["id"]
    assert client.post("/v1/accounts", json={"name": "Fourth", "owner": "rep.zoe"}).status_code == 403  # a rep
    assert client.post("/v1/accounts", json={"name": "Fourth", "size": "huge"}).status_code == 422
    events = TestClient(app, headers=workplace.as_user("admin")).get("/v1/events").json()["items"]
    assert [e["type"] for e in events] == ["account.created", "account.created", "account.updated"]
    assert events[-1]["data"]["account"]["name"] == "Lakeside Water"


def _insert_deal(connection: sa.Connection, workspace: uuid.UUID, name: str, industry: str | None,
                 at: datetime) -> uuid.UUID:
    deal = uuid.uuid4()
    values = {"workspace_id": workspace, "id": deal, "name": f"Deal {deal.hex[:6]}", "account_name": name,
              "account_industry": industry, "owner": "rep.alex", "process_key": "complex-sale",
              "process_version": 1, "status": "open", "phase": "discover", "step": "planning",
              "step_entered_at": at, "version": 1, "created_at": at, "created_by": "rep.alex", "updated_at": at,
              "updated_by": "rep.alex"}
    table = sa.Table("opportunity", sa.MetaData(), autoload_with=connection)
    connection.execute(table.insert(), {k: (v.hex if isinstance(v, uuid.UUID) and connection.dialect.name ==
                                            "sqlite" else v) for k, v in values.items()})
    return deal


def test_the_migration_makes_one_account_per_name_in_each_workspace(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "0009")
        engine = create_engine(url)
        one, two = uuid.uuid4(), uuid.uuid4()
        early, late = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 6, 5, tzinfo=UTC)
        try:
            with engine.begin() as connection:
                for workspace in (one, two):
                    connection.execute(sa.text("INSERT INTO workspace (id, name, created_at) VALUES (:id, 'W', :at)"),
                                       {"id": workspace.hex if backend == "sqlite" else workspace, "at": early})
                deals = {"a1": _insert_deal(connection, one, "Acme", None, early),
                         "a2": _insert_deal(connection, one, "Acme", "water", late),
                         "b1": _insert_deal(connection, one, "Beta", "power", early),
                         "a3": _insert_deal(connection, two, "Acme", "gas", early)}
            command.upgrade(config, "0010")
            with engine.connect() as connection:
                accounts = connection.execute(sa.text("SELECT workspace_id, id, name, industry FROM account")).all()
                links = dict(connection.execute(sa.text("SELECT id, account_id FROM opportunity")).all())
            by_id = {str(uuid.UUID(str(a.id))): a for a in accounts}
            linked = {key: by_id[str(uuid.UUID(str(links[deal.hex if backend == "sqlite" else deal])))]
                      for key, deal in deals.items()}
            assert len(accounts) == 3
            assert linked["a1"].id == linked["a2"].id != linked["a3"].id
            assert [(linked[k].name, linked[k].industry) for k in ("a1", "b1", "a3")] == [
                ("Acme", "water"), ("Beta", "power"), ("Acme", "gas")]
            command.downgrade(config, "0009")
            with engine.connect() as connection:
                back = dict(connection.execute(sa.text("SELECT id, account_name FROM opportunity")).all())
            assert sorted(back.values()) == ["Acme", "Acme", "Acme", "Beta"]
        finally:
            engine.dispose()




def test_deals_opened_at_once_for_a_new_customer_all_succeed_with_one_account(client: TestClient,
                                                                              app: FastAPI) -> None:
    body = {**WATER_DEAL, "account": {"name": "Brand New Customer", "industry": "utilities"}}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/opportunities", json=body), range(16)))
    assert [a.status_code for a in answers] == [201] * 16, [a.text for a in answers if a.status_code != 201]
    assert len({a.json()["account"]["id"] for a in answers}) == 1 and count_rows(app)["account"] == 1


def test_concurrent_changes_of_one_account_each_apply(client: TestClient) -> None:
    account = client.post("/v1/accounts", json={"name": "Busy Account"}).json()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: client.patch(f"/v1/accounts/{account['id']}", json={"name": f"Busy {n}"}),
                                range(8)))
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
    assert client.get(f"/v1/accounts/{account['id']}").json()["version"] == 9
