"""`dealgate import` loads CRM exports through the batch upsert API: awkward files read right, refused rows
kept with their reasons, and a second run changes nothing."""

import csv
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

ROOT = Path(__file__).resolve().parent.parent
SALESFORCE_MAPPING = """\
system: salesforce
date_format: "%m/%d/%Y"
columns:
  external_id: Opportunity ID
  name: Opportunity Name
  account.external_id: Account ID
  account.name: Account Name
  account.industry: Industry
  owner: Opportunity Owner
  stage: Stage
  value.amount: Amount
  value.currency: Opportunity Currency
  expected_close_date: Close Date
  stakeholder.external_id: Contact ID
  stakeholder.name: Primary Contact
  stakeholder.title: Title
defaults:
  stakeholder.role: influencer
owners:
  alex@riverton.example: rep.alex
default_owner: rep.sam
stages:
  Prospecting: planning
  Qualification: questioning
  Proposal/Price Quote: presentation
  Closed Lost: lost
"""
SALESFORCE_ROWS = [
    ["Opportunity ID", "Opportunity Name", "Account ID", "Account Name", "Industry", "Opportunity Owner", "Stage",
     "Amount", "Opportunity Currency", "Close Date", "Contact ID", "Primary Contact", "Title"],
    ["006A1", "Filter upgrade", "001A", "Riverton Water", "Public Sector", "alex@riverton.example", "Prospecting",
     "1,250,000.00", "EUR", "12/31/2026", "003A", "Dana Okafor", "Director"],
    ["006A2", "Pumps,\nphase two", "001A", "Riverton Water", "Public Sector", "nobody@riverton.example",
     "Proposal/Price Quote", "80000", "EUR", "01/15/2027", "003B", "Lee Park", ""],
    [],
    ["006A3", "Broken amount", "001B", "Lakeside", "Utilities", "alex@riverton.example", "Prospecting", "n/a",
     "EUR", "01/15/2027", "", "", ""],
    ["006A4", "Unmapped stage", "001B", "Lakeside", "Utilities", "alex@riverton.example", "Negotiation", "10",
     "EUR", "01/15/2027", "", "", ""],
    ["006A5", "Lost one", "001C", "Hill Farm", "", "alex@riverton.example", "Closed Lost", "", "", "", "", "", ""],
]
HUBSPOT_MAPPING = """\
system: hubspot
encoding: cp1252
columns:
  external_id: Record ID
  name: Deal Name
  stage: Deal Stage
  value.amount: Amount
  expected_close_date: Close Date
  owner: Deal owner
  account.external_id: Associated Company ID
  account.name: Associated Company
defaults:
  value.currency: EUR
owners:
  Alex Rivera: rep.alex
stages:
  appointmentscheduled: planning
  qualifiedtobuy: questioning
"""
HUBSPOT_ROWS = [["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Deal owner",
                 "Associated Company ID", "Associated Company"],
                ["9001", "Kläranlage Nord", "appointmentscheduled", "25000", "2027-02-01 00:00", "Alex Rivera", "77",
                 "Müller Wasser GmbH"],
                ["9002", "Leitungen", "qualifiedtobuy", "1234.5", "2027-03-01 00:00", "Alex Rivera", "77",
                 "Müller Wasser GmbH"]]


def _write_csv(path: Path, rows: list[list[str]], delimiter: str, encoding: str) -> None:
    with path.open("w", newline="", encoding=encoding) as out:
        csv.writer(out, delimiter=delimiter).writerows(rows)


def _import(url: str, key: str, export: Path, mapping: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "import", str(export), "--mapping", str(mapping),
                           "--url", url], cwd=ROOT, env={**os.environ, "DEALGATE_KEY": key, "COLUMNS": "120"},
                          capture_output=True, text=True, timeout=120)


def _events(api: httpx2.Client) -> list[dict[str, Any]]:
    """The event feed once it has settled (on PostgreSQL it holds back events while an older transaction,
    such as the worker's, is still open)."""
    seen: list[dict[str, Any]] = []
    for _ in range(50):
        now = api.get("/v1/events", params={"limit": 200}).json()["items"]
        if now == seen:
            return now
        seen = now
        time.sleep(0.2)
    raise AssertionError("the event feed did not settle")


def _everything(api: httpx2.Client) -> dict[str, Any]:
    deals = api.get("/v1/opportunities", params={"limit": 200}).json()["items"]
    return {"deals": {d["id"]: d for d in deals}, "accounts": api.get("/v1/accounts").json()["items"],
            "events": _events(api)}


def test_salesforce_and_hubspot_exports_import_and_a_rerun_changes_nothing(server: tuple[str, str],
                                                                          tmp_path: Path) -> None:
    url, key = server
    api = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})
    for handle in ("rep.alex", "rep.sam"):
        assert api.post("/v1/admin/users", json={"handle": handle, "name": handle, "role": "rep"}).status_code == 201
    salesforce, hubspot = tmp_path / "opportunities.csv", tmp_path / "deals.csv"
    _write_csv(salesforce, SALESFORCE_ROWS, ",", "utf-8-sig")  # Excel's UTF-8: with a byte order mark
    _write_csv(hubspot, HUBSPOT_ROWS, ";", "cp1252")
    (tmp_path / "salesforce.yaml").write_text(SALESFORCE_MAPPING)
    (tmp_path / "hubspot.yaml").write_text(HUBSPOT_MAPPING)

    first = _import(url, key, salesforce, tmp_path / "salesforce.yaml")
    assert first.returncode == 2, first.stderr  # some rows were refused
    assert "5 rows" in first.stdout and "3 created, 0 updated, 1 stopped at a gate, 2 refused" in first.stdout
    with (tmp_path / "opportunities.csv.rejects.csv").open() as kept:
        rejects = {r["external_id"]: r for r in csv.DictReader(kept)}
    assert set(rejects) == {"006A3", "006A4"}
    assert rejects["006A3"]["line"] == "6" and "amount" in rejects["006A3"]["reason"].lower()
    assert rejects["006A4"]["status"] == "422" and "Negotiation" in rejects["006A4"]["reason"]

    assert _import(url, key, hubspot, tmp_path / "hubspot.yaml").returncode == 0
    state = _everything(api)
    by_name = {d["name"]: d for d in state["deals"].values()}
    assert set(by_name) == {"Filter upgrade", "Pumps, phase two", "Lost one", "Kläranlage Nord", "Leitungen"}
    assert by_name["Filter upgrade"]["value"] == {"amount": 125000000, "currency": "EUR"}
    assert by_name["Filter upgrade"]["expected_close_date"] == "2026-12-31"
    assert by_name["Filter upgrade"]["account"]["industry"] == "public_sector"
    assert by_name["Pumps, phase two"]["owner"] == "rep.sam"  # an unmapped CRM user: the default owner
    assert by_name["Pumps, phase two"]["step"] != "presentation"  # held at a gate on the way
    assert by_name["Lost one"]["status"] == "lost"
    assert by_name["Leitungen"]["value"]["amount"] == 123450 and by_name["Leitungen"]["step"] == "planning"  # held
    assert sorted(a["name"] for a in state["accounts"]) == ["Hill Farm", "Müller Wasser GmbH", "Riverton Water"]
    stakeholders = api.get(f"/v1/opportunities/{by_name['Filter upgrade']['id']}/stakeholders").json()["items"]
    assert [(s["name"], s["external_ids"]) for s in stakeholders] == [("Dana Okafor", {"salesforce": "003A"})]

    again = _import(url, key, salesforce, tmp_path / "salesforce.yaml")
    assert "0 created, 3 updated" in again.stdout, again.stdout
    assert _import(url, key, hubspot, tmp_path / "hubspot.yaml").returncode == 0
    assert _everything(api) == state  # the same deals at the same versions, and not one event more


@pytest.mark.parametrize(("content", "mapping", "message"), [
    ("Opportunity ID,Opportunity Name\n1,Caf\xe9\n".encode("latin-1"), SALESFORCE_MAPPING,
     "line 2: not valid utf-8"),
    (b"Opportunity ID;Name\n1;x\n", SALESFORCE_MAPPING, "line 1: no column 'Account ID'"),
    (b"", "system: x\ncolumns: {external_id: A, nam: B}\n", "no field nam"),
    (b"", "system: [x\n", "not valid YAML at line 2, column 1"),
])
def test_a_broken_file_gets_one_clear_message(tmp_path: Path, content: bytes, mapping: str, message: str) -> None:
    (tmp_path / "export.csv").write_bytes(content)
    (tmp_path / "mapping.yaml").write_text(mapping)
    done = _import("http://127.0.0.1:9", "dg_unused", tmp_path / "export.csv", tmp_path / "mapping.yaml")
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_ndjson_of_our_own_schema_imports(server: tuple[str, str], tmp_path: Path) -> None:
    url, key = server
    lines = ['{"external_id": "n-1", "name": "From JSON", "account": {"external_id": "a-1", "name": "Json Co"}}',
             "", '{"external_id": "n-2", "name": "Bad amount", "account": {"name": "Json Co"}, '
             '"value": {"amount": -1, "currency": "EUR"}}', "[1, 2]"]
    (tmp_path / "deals.ndjson").write_text("\n".join(lines) + "\n")
    (tmp_path / "mapping.yaml").write_text("system: erp\nformat: ndjson\n")
    done = _import(url, key, tmp_path / "deals.ndjson", tmp_path / "mapping.yaml")
    assert done.returncode == 2 and "1 created, 0 updated, 0 stopped at a gate, 2 refused" in done.stdout, done.stdout
    with (tmp_path / "deals.ndjson.rejects.csv").open() as kept:
        assert [(r["line"], r["status"]) for r in csv.DictReader(kept)] == [("3", "unreadable"), ("4", "unreadable")]
    api = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})
    [deal] = api.get("/v1/opportunities").json()["items"]
    assert deal["external_ids"] == {"erp": "n-1"} and deal["owner"] == "admin"


def test_a_batch_is_retried_under_one_key_and_a_second_run_uses_another(tmp_path: Path) -> None:
    from app.integrations.importer import Client, Row, send

    seen: list[tuple[int, str]] = []

    def network(request: httpx2.Request) -> httpx2.Response:
        """A server that drops the first try and is busy at the second (a 503), then answers."""
        seen.append((len(seen), request.headers["Idempotency-Key"]))
        if len(seen) == 1:
            raise httpx2.ConnectError("connection dropped", request=request)
        if len(seen) == 2:
            return httpx2.Response(503, json={"detail": "busy"})
        return httpx2.Response(200, json={"results": [{"status": 201, "stage_sync": None}]})

    batch = [Row(2, {"external_id": "1", "name": "x"}, "1")]
    first = Client("http://crm.invalid", "dg_unused", httpx2.MockTransport(network))
    assert send(first, "salesforce", batch).created == 1
    assert len(seen) == 3 and len({key for _, key in seen}) == 1  # one batch, one key, three tries
    key = seen[0][1]
    seen.clear()
    send(Client("http://crm.invalid", "dg_unused", httpx2.MockTransport(network)), "salesforce", batch)
    assert {k for _, k in seen} != {key}  # a second run of the import sends its batches afresh
