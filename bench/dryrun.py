"""A dry run of a changed process version over 100,000 open opportunities on PostgreSQL.

A fresh database, migrated by Alembic, gets one workspace and N open deals spread over the steps,
each with stakeholders, problems and a qualification in its records' snapshot, as record writes
leave it. A draft of complex-sale then adds two CEL rules (one with a condition), drops a built-in
requirement and tightens another; POST .../dry-run answers for every open deal (through the app, in
process). The baseline, in the same run, reads the same rows and snapshots and does nothing else.

Usage, from the repository root: .venv/bin/python -m bench.dryrun [--count 100000]
"""

import argparse
import copy
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, text
from uuid6 import uuid7

from app.identity.service import bootstrap
from app.main import create_app
from app.opportunities.models import Opportunity
from app.phases.catalog import RECORD_KINDS
from app.processes.service import default_process
from app.settings import Settings
from bench.engine import stored
from bench.transitions import postgres_database, prepare

STEPS = [("planning", "discover"), ("opening", "discover"), ("questioning", "diagnose"),
         ("solution_design", "design"), ("presentation", "deploy"), ("negotiation", "deploy"), ("closing", "deploy")]
ROLES = ["decision_maker", "user", "technical", "economic_buyer", "influencer", "user", "technical"]


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="open opportunities")
    return parser.parse_args()


def snapshot(number: int) -> dict[str, Any]:
    """The records of deal `number`: 1 to 5 stakeholders, 0 to 3 problems, a qualification for some."""
    records: dict[str, Any] = {kind.collection: kind.empty for kind in RECORD_KINDS.values()}
    stakeholders = [stored("stakeholders", number * 10 + i, {"name": f"Person {i}", "role": ROLES[(number + i) % len(ROLES)]})
                    for i in range(1 + number % 5)]
    records["stakeholders"] = stakeholders
    records["problems"] = [stored("problems", number * 10 + 5 + i, {
        "description": f"Problem {i}", "cost": {"amount": 1000000 * (i + 1), "currency": "EUR", "period": "year"},
        "confirmation": {"stakeholder_id": stakeholders[0]["id"], "at": "2026-01-05T09:00:00Z"} if i == 0 else None})
        for i in range(number % 4)]
    if number % 3:
        records["qualification"] = stored("qualification", number * 10 + 9, {"urgency": "yes", "resources": "yes"})
    return {kind.collection: {"shape": kind.shape, "revision": uuid7().hex, "records": records[kind.collection]}
            for kind in RECORD_KINDS.values()}


def seed(url: str, workspace_id: uuid.UUID, count: int) -> None:
    """Insert `count` open deals owned by the administrator, in batches, with their snapshots."""
    templates = [snapshot(n) for n in range(60)]  # record ids repeat across deals; gates do not mind
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        for start in range(0, count, 5000):
            rows = []
            for number in range(start, min(start + 5000, count)):
                step, phase = STEPS[number % len(STEPS)]
                rows.append({
                    "workspace_id": workspace_id, "id": uuid7(), "name": f"Deal {number}",
                    "account_name": f"Account {number}", "account_industry": None if number % 10 == 0 else "utilities",
                    "owner": "admin", "value_amount": 5000000 + (number % 40) * 1000000, "value_currency": "EUR",
                    "expected_close_date": None, "process_key": "complex-sale", "process_version": 1,
                    "status": "open", "phase": phase, "step": step, "step_entered_at": now - timedelta(days=3),
                    "last_activity_at": None, "outcome_reason_code": None,
                    "records_snapshot": copy.deepcopy(templates[number % len(templates)]), "version": 1,
                    "created_at": now, "created_by": "bench", "updated_at": now, "updated_by": "bench"})
            with engine.begin() as connection:
                connection.execute(insert(Opportunity.__table__), rows)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE opportunity"))
    finally:
        engine.dispose()


def changed_spec() -> dict[str, Any]:
    """complex-sale with two CEL rules added, one built-in requirement dropped and one tightened."""
    spec = copy.deepcopy(default_process()[1])
    gates = spec["gates"]
    gates["opening"] = [r for r in gates["opening"] if r["code"] != "discover.industry_known"]
    gates["opening"].append({"code": "ops.two_people", "rule": "stakeholders.size() >= 2",
                             "message": "Name two people before opening."})
    for step in ("solution_design", "presentation"):
        for requirement in gates[step]:
            if requirement["code"] == "diagnose.decision_maker_identified":
                requirement["params"]["min"] = 2
    gates["presentation"].append({
        "code": "ops.big_deal_deciders", "message": "Above 300,000.00 EUR, two decision-makers.",
        "rule": "stakeholders.filter(s, s.role in ['decision_maker', 'economic_buyer']).size() >= 2",
        "when": "opportunity.value != null && opportunity.value.amount > 30000000"})
    return spec


def main() -> int:
    """Seed, time the baseline scan and the dry run, print the time, the rate and the ratio."""
    args = parse_args()
    with postgres_database() as url:
        prepare(url)
        app = create_app(Settings(database_url=url))
        with app.state.database.writer() as session:
            workspace, key = bootstrap(session, workspace_name="Dry run", handle="admin")
            session.commit()
        started = time.perf_counter()
        seed(url, workspace.id, args.count)
        print(f"seeded {args.count} open opportunities in {time.perf_counter() - started:.1f} s")
        client = TestClient(app, headers={"Authorization": f"Bearer {key}"})
        draft = client.post("/v1/processes/complex-sale/versions", json=changed_spec())
        if draft.status_code != 201:
            raise SystemExit(f"the draft was refused: {draft.text}")
        version = draft.json()["version"]

        engine = app.state.database.engine
        started = time.perf_counter()
        with engine.connect() as connection:
            scanned = sum(1 for _ in connection.execute(text(
                "SELECT id, step, records_snapshot FROM opportunity WHERE status = 'open' ORDER BY id")))
        scan_s = time.perf_counter() - started

        started = time.perf_counter()
        answer = client.post(f"/v1/processes/complex-sale/versions/{version}/dry-run", json={"max_ids": 100})
        dry_s = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"the dry run failed: {answer.status_code} {answer.text[:500]}")
        report = answer.json()
        if report["evaluated"] != args.count or scanned != args.count:
            raise SystemExit(f"evaluated {report['evaluated']}, scanned {scanned}, expected {args.count}")
        app.state.database.dispose()
    for impact in report["requirements"]:
        print(f"  {impact['code']:40} newly blocks {impact['newly_blocked']['count']:6}, "
              f"releases {impact['released']['count']:6}")
    print(f"baseline: read {scanned} open deals with their snapshots in {scan_s:.1f} s")
    print(f"dry run over {report['evaluated']} open opportunities: {dry_s:.1f} s, "
          f"{report['evaluated'] / dry_s:,.0f} opportunities/s; ratio to the bare read {dry_s / scan_s:.1f}")
    print(f"RESULT|a dry run over {report['evaluated']:,} open opportunities (PostgreSQL) vs reading them|"
          f"{dry_s:.1f} s, {report['evaluated'] / dry_s:,.0f}/s; the bare read {scan_s:.1f} s, ratio "
          f"{dry_s / scan_s:.1f}|handles 100,000|yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
