"""`dealgate import` of a Salesforce-format export against a bare executemany of the same rows.

On a fresh PostgreSQL database, migrated by Alembic and served by uvicorn, the import loads N deals, each
with its own account and one stakeholder (a contact), through the batch upsert API: 100 deals a request,
each deal stored with its external ids, its history entry, its records snapshot and its events. The
baseline inserts the same rows (accounts, deals, history entries, stakeholders, the three external ids and
the three events of each deal) into the same tables of the same database with executemany, 1,000 rows a
statement, one transaction per 1,000 deals, and checks nothing. PostgreSQL on these machines runs without
its autovacuum daemon, which on a default installation analyzes a table once a tenth of it has changed (so
the planner and PostgreSQL's cached foreign-key checks use the indexes as the tables grow): the benchmark
runs ANALYZE every 15 s while it imports and while the baseline inserts, as that daemon would, and once
between them, so that the baseline starts with statistics of full tables. From the repository root:

    .venv/bin/python -m bench.import_deals [--rows 100000]
"""

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import MetaData, create_engine, insert, text
from uuid6 import uuid7

from app.phases.catalog import RECORD_KINDS
from bench.transitions import VENV_BIN, BenchError, postgres_database, prepare, serve

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.25
MAPPING = """\
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
default_owner: admin
stages:
  Prospecting: planning
"""
HEADER = ["Opportunity ID", "Opportunity Name", "Account ID", "Account Name", "Industry", "Opportunity Owner", "Stage",
          "Amount", "Opportunity Currency", "Close Date", "Contact ID", "Primary Contact", "Title"]


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="deals in the export")
    return parser.parse_args()


def write_export(path: Path, rows: int) -> None:
    """A Salesforce opportunity report: one deal a row, each with its own account and primary contact."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            writer.writerow([f"006{n:09d}", f"Deal {n}", f"001{n:09d}", f"Account {n}", "Public Sector",
                             "someone@example.com", "Prospecting", f"{1000 + n % 5000},000.00", "EUR", "12/31/2027",
                             f"003{n:09d}", f"Contact {n}", "Director"])


def run_import(url: str, key: str, export: Path, mapping: Path) -> tuple[float, str]:
    """Seconds the import took, and the summary it printed."""
    started = time.monotonic()
    done = subprocess.run([str(VENV_BIN / "dealgate"), "import", str(export), "--mapping", str(mapping),
                           "--url", url], cwd=ROOT, env={**os.environ, "DEALGATE_KEY": key},
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"dealgate import failed ({done.returncode}):\n{done.stdout}{done.stderr[-2000:]}")
    return seconds, done.stdout.strip()


def baseline(database_url: str, rows: int, workspace: uuid.UUID) -> float:
    """Seconds to executemany the rows the import writes, for `rows` deals of another workspace."""
    engine = create_engine(database_url)
    tables = MetaData()
    tables.reflect(engine)
    stakeholders = RECORD_KINDS["stakeholders"]
    now = datetime.now(UTC)
    stamp = {"version": 1, "created_at": now, "created_by": "bench", "updated_at": now, "updated_by": "bench"}
    try:
        started = time.monotonic()
        for first in range(0, rows, 1_000):
            batch: dict[str, list[dict[str, Any]]] = {name: [] for name in (
                "account", "account_external_id", "opportunity", "opportunity_external_id", "history_entry",
                "stakeholder", "stakeholder_external_id", "event")}
            for n in range(first, min(first + 1_000, rows)):
                account, deal, person = uuid7(), uuid7(), uuid7()
                shown = {"id": str(person), "name": f"Contact {n}", "role": "influencer", "title": "Director"}
                batch["account"].append({"workspace_id": workspace, "id": account, "name": f"Account {n}",
                                         "industry": "public_sector", "size": None, "owner": None, **stamp})
                batch["account_external_id"].append({"workspace_id": workspace, "target_id": account,
                                                     "system": "salesforce", "external_id": f"001{n:09d}"})
                batch["opportunity"].append({
                    "workspace_id": workspace, "id": deal, "name": f"Deal {n}", "account_id": account,
                    "owner": "admin", "value_amount": (1000 + n % 5000) * 100_000, "value_currency": "EUR",
                    "expected_close_date": datetime(2027, 12, 31).date(), "process_key": "complex-sale",
                    "process_version": 1, "status": "open", "phase": "discover", "step": "planning",
                    "step_entered_at": now, "last_activity_at": None, "outcome_reason_code": None,
                    "records_snapshot": {"stakeholders": {"shape": stakeholders.shape, "records": [shown]}}, **stamp})
                batch["opportunity_external_id"].append({"workspace_id": workspace, "target_id": deal,
                                                         "system": "salesforce", "external_id": f"006{n:09d}"})
                batch["history_entry"].append({
                    "workspace_id": workspace, "id": uuid7(), "opportunity_id": deal, "seq": 1, "kind": "create",
                    "from_step": None, "from_phase": None, "from_status": None, "to_step": "planning",
                    "to_phase": "discover", "to_status": "open", "actor": "bench", "at": now, "reason": None,
                    "reason_code": None, "gates": [], "override_justification": None, "overridden": None})
                batch["stakeholder"].append({"workspace_id": workspace, "id": person, "opportunity_id": deal,
                                             "name": f"Contact {n}", "title": "Director", "role": "influencer",
                                             "needs": None, "motives": None, "stance": None,
                                             "decision_style": None, **stamp})
                batch["stakeholder_external_id"].append({"workspace_id": workspace, "target_id": person,
                                                         "opportunity_id": deal, "system": "salesforce",
                                                         "external_id": f"003{n:09d}"})
                for type_, data in (("account.created", {"name": f"Account {n}"}),
                                    ("opportunity.created", {"name": f"Deal {n}"}),
                                    ("record.created", {"record": shown})):
                    batch["event"].append({"txid": 0, "id": uuid7(), "workspace_id": workspace, "type": type_,
                                           "at": now, "opportunity_id": deal, "opportunity_version": 1,
                                           "data": data, "dispatched_at": None})
            with engine.begin() as connection:
                for name, values in batch.items():
                    connection.execute(insert(tables.tables[name]), values)
        return time.monotonic() - started
    finally:
        engine.dispose()


@contextmanager
def analyzing(database_url: str, every: float = 15.0) -> Iterator[None]:
    """ANALYZE the database every `every` seconds, as PostgreSQL's autovacuum daemon does where it runs."""
    stop = threading.Event()

    def loop() -> None:
        engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            while not stop.wait(every):
                with engine.connect() as connection:
                    connection.execute(text("ANALYZE"))
        finally:
            engine.dispose()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def main() -> int:
    """Import, then the baseline, on one fresh PostgreSQL database; print the ratio."""
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="dealgate-import-") as folder, postgres_database() as url:
        export, mapping = Path(folder) / "opportunities.csv", Path(folder) / "salesforce.yaml"
        write_export(export, args.rows)
        mapping.write_text(MAPPING)
        key = prepare(url)
        with serve(url) as (base_url, _), analyzing(url):
            seconds, summary = run_import(base_url, key, export, mapping)
            counted = httpx2.get(f"{base_url}/v1/opportunities", params={"limit": 1},
                                 headers={"Authorization": f"Bearer {key}"}).status_code
        engine = create_engine(url)
        with engine.begin() as connection:
            workspace = uuid.uuid4()
            connection.execute(text("INSERT INTO workspace (id, name, created_at, require_if_match) "
                                    "VALUES (:id, 'Baseline', now(), false)"), {"id": workspace})
            imported = connection.execute(text("SELECT count(*) FROM opportunity")).scalar_one()
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        engine.dispose()
        if imported != args.rows or counted != 200:
            raise BenchError(f"the import stored {imported} deals of {args.rows}")
        with analyzing(url):
            bare = baseline(url, args.rows, workspace)
    rate = re.search(r"\(([\d,]+) rows/s\)", summary)
    ratio = bare / seconds
    print(summary)
    print(f"import: {args.rows:,} deals in {seconds:.1f} s ({args.rows / seconds:,.0f} deals/s, the progress bar "
          f"showed {rate.group(1) if rate else '?'} rows/s); bare executemany: {bare:.1f} s "
          f"({args.rows / bare:,.0f} deals/s); ratio {ratio:.3f} (goal {GOAL})")
    print(f"RESULT|import: {args.rows:,} deals through `dealgate import` vs a bare executemany of the same rows "
          f"(PostgreSQL)|{ratio:.3f}|≥ {GOAL}|{'yes' if ratio >= GOAL else 'no'}")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
