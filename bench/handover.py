"""A leaving rep's handover on PostgreSQL: one POST /v1/handovers against the same changes made item by item.

Two identical workspaces each get a rep holding N open deals over N/5 accounts, one open task per deal and one
complaint per account, all written through the API (in process, on a fresh database migrated by Alembic). In
the first, a client hands the work over the way it would without a handover: one PATCH per deal, account, task
and complaint. In the second, one handover moves the same items and, besides, appends a history entry to every
deal and makes an introduction task per account. The ratio is the handover's time to the item-by-item time.

Usage, from the repository root: .venv/bin/python -m bench.handover [--deals 1000]
"""

import argparse
import sys
import time
from typing import Any

from fastapi.testclient import TestClient

from app.identity.service import add_user, bootstrap
from app.main import create_app
from app.settings import Settings
from bench.transitions import postgres_database, prepare

GOAL = 1.0


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1000, help="open deals the leaving rep holds")
    return parser.parse_args()


def workspace(app: Any, name: str, deals: int) -> tuple[TestClient, list[str]]:
    """A workspace whose rep.sam holds `deals` deals, their accounts, tasks and complaints; an admin's client,
    and the accounts' ids."""
    with app.state.database.writer() as session:
        space, key = bootstrap(session, workspace_name=name, handle="admin")
        for handle in ("rep.sam", "rep.alex"):
            add_user(session, space.id, handle=handle, name=handle, role="rep", team_id=None)
        session.commit()
    admin = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    accounts = [_ok(admin.post("/v1/accounts", json={"name": f"Account {i}", "owner": "rep.sam"}))["id"]
                for i in range(max(1, deals // 5))]
    for i in range(deals):
        deal = _ok(admin.post("/v1/opportunities", json={"name": f"Deal {i}", "account_id": accounts[i % len(accounts)],
                                                          "owner": "rep.sam"}))
        _ok(admin.post(f"/v1/opportunities/{deal['id']}/tasks",
                       json={"title": "Send the reference list", "due_date": "2099-01-01"}))
    for account in accounts:
        _ok(admin.post("/v1/complaints", json={"account_id": account, "summary": "Late delivery",
                                               "category": "delivery", "severity": "low"}))
    return admin, accounts


def _ok(answer: Any) -> Any:
    if answer.status_code >= 300:
        raise SystemExit(f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


def item_by_item(admin: TestClient) -> int:
    """Move everything rep.sam holds to rep.alex with one PATCH an item; the number of writes."""
    writes = 0
    plan = _ok(admin.post("/v1/handovers/preview", json={"user": "rep.sam", "successor": "rep.alex"}))
    for item in plan["items"]:
        if item["kind"] == "task":
            continue  # below, by their deals
        if item["kind"] == "deal":
            _ok(admin.patch(f"/v1/opportunities/{item['id']}", json={"owner": "rep.alex"}))
        elif item["kind"] == "account":
            _ok(admin.patch(f"/v1/accounts/{item['id']}", json={"owner": "rep.alex"}))
        elif item["kind"] == "complaint":
            _ok(admin.patch(f"/v1/complaints/{item['id']}", json={"accountable": "rep.alex"}))
        writes += 1
    tasks, cursor = [], None
    while True:  # every page first: a moved task leaves the list
        page = _ok(admin.get("/v1/tasks", params={"owner": "rep.sam", "completed": "false",
                                                  **({"cursor": cursor} if cursor else {})}))
        tasks += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    for task in tasks:
        _ok(admin.patch(f"/v1/opportunities/{task['opportunity_id']}/tasks/{task['id']}", json={"owner": "rep.alex"}))
    return writes + len(tasks)


def main() -> int:
    """Seed both workspaces, time both ways, check both left nothing behind, print the ratio."""
    args = parse_args()
    with postgres_database() as url:
        prepare(url)
        app = create_app(Settings(database_url=url))
        started = time.perf_counter()
        first, _ = workspace(app, "Item by item", args.deals)
        second, accounts = workspace(app, "Handover", args.deals)
        print(f"seeded two workspaces of {args.deals} deals in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        writes = item_by_item(first)
        baseline_s = time.perf_counter() - started
        plan = {"user": "rep.sam", "successor": "rep.alex",
                "accounts": [{"account_id": a, "note": "Dana signs; a site visit is promised"} for a in accounts]}
        started = time.perf_counter()
        moved = _ok(second.post("/v1/handovers", json=plan))
        handover_s = time.perf_counter() - started
        for client in (first, second):
            left = _ok(client.post("/v1/handovers/preview", json={"user": "rep.sam", "successor": "rep.alex"}))
            if left["items"]:
                raise SystemExit(f"{len(left['items'])} items were left with rep.sam")
        app.state.database.dispose()
    counts = moved["counts"]
    items = sum(counts.values())
    ratio = handover_s / baseline_s
    print(f"moved {counts}: one handover {handover_s:.2f} s; item by item ({writes} PATCHes) {baseline_s:.2f} s; "
          f"ratio {ratio:.2f}")
    print(f"RESULT|a handover of {items:,} items (PostgreSQL) vs the same PATCHes one by one|"
          f"{handover_s:.2f} s vs {baseline_s:.2f} s, ratio {ratio:.2f}|≤ {GOAL}|{'yes' if ratio <= GOAL else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
