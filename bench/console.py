"""Every page of the web console on a PostgreSQL workspace of 10,000 deals, as a rep, a manager and an admin,
against the JSON API route a client would call for the same data (goal: no page over 200 ms).

A fresh database, migrated by Alembic, gets the workspace bench.reports seeds (5 teams of 10 reps with a manager
each; N deals over the steps of complex-sale, open and closed, with their histories, refused moves and
qualifications), an open task for one open deal in four (a fifth of them overdue), a deal that rep.01 walks
through the API to questioning with its records and tasks, and a draft of complex-sale that changes four
requirements (bench.dryrun's). The app runs in this process: each page is asked for through it (TestClient, the
console's cookie) and timed from the request to the last byte of the answer, the median of --runs after one
warm-up; its API route is timed in turn, in the same run, and the ratio printed. A page that answers other than
200 fails the run. The dry run is a POST whose work is the API's own (here over one rep's deals): it is timed
beside the API's, without the page goal.

Usage, from the repository root: .venv/bin/python -m bench.console [--deals 10000] [--runs 5]
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.console.auth import csrf_token
from app.identity.models import User
from app.identity.service import issue_key
from app.main import create_app
from app.settings import Settings
from bench.dryrun import changed_spec
from bench.reports import seed
from bench.transitions import (DEAL, DECISION_PROCESS, ECONOMIC_BUYER, FIRST_MEETING, MEETING_PLAN, QUALIFICATION,
                               QUANTIFIED_PROBLEM, BenchError, _libpq, postgres_database, prepare)

GOAL_MS = 200.0
DRY_RUN_GOAL = 1.2  # the dry run's page against the API's dry run
REPORTS = ("pipeline", "funnel", "time-in-step", "blockers", "forecast")
REP, MANAGER = "rep.01", "manager.1"  # a rep of team 1 and its manager

# An open task for one open deal in four, owned by its owner, due from 8 days ago to 31 days ahead.
SEED_TASKS = """
INSERT INTO task (workspace_id, id, opportunity_id, title, kind, owner, due_date, version, created_at, created_by,
                  updated_at, updated_by)
SELECT o.workspace_id, gen_random_uuid(), o.id, 'Call about ' || o.name, 'check_in', o.owner,
       current_date + (n %% 40 - 8)::int, 1, %(now)s, o.owner, %(now)s, o.owner
FROM (SELECT o.*, row_number() OVER (ORDER BY o.id) AS n FROM opportunity o WHERE o.status = 'open') o
WHERE n %% 4 = 0
"""


@dataclass(frozen=True)
class Page:
    """A console page as someone asks for it, and the API route a client would call instead (if there is one)."""

    who: str
    what: str
    path: str
    api: str | None
    method: str = "GET"
    form: dict[str, str] | None = None
    api_body: dict[str, Any] | None = None


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000, help="opportunities to seed")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each page and route, after a warm-up")
    return parser.parse_args()


def seed_tasks(url: str) -> int:
    """The open tasks of one open deal in four; returns how many."""
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        connection.execute(SEED_TASKS, {"now": datetime.now(UTC)})
        connection.execute("VACUUM ANALYZE task")
        return int(connection.execute("SELECT count(*) FROM task").fetchone()[0])  # type: ignore[index]


def keys(app: FastAPI, handles: tuple[str, ...]) -> dict[str, str]:
    """A new API key for each of the seeded users named."""
    issued = {}
    with app.state.database.writer() as session:
        for handle in handles:
            user = session.scalars(select(User).where(User.handle == handle)).one()
            issued[handle] = issue_key(session, user)[1]
        session.commit()
    return issued


def expect(response: Any, status: int = 200) -> Any:
    """The response, when it has the status expected; else the run fails."""
    if response.status_code != status:
        raise BenchError(f"{response.request.method} {response.request.url.path} answered {response.status_code}, "
                         f"expected {status}: {response.text[:500]}")
    return response


def walked_deal(api: TestClient) -> str:
    """A deal rep.01 walks through the API to questioning, with its records and three tasks; returns its id."""
    deal = expect(api.post("/v1/opportunities", json={**DEAL, "name": "Riverton water treatment"}), 201).json()
    under = f"/v1/opportunities/{deal['id']}"
    buyer = expect(api.post(f"{under}/stakeholders", json=ECONOMIC_BUYER), 201).json()
    expect(api.post(f"{under}/meeting-plans", json=MEETING_PLAN), 201)
    expect(api.post(f"{under}/transitions", json={"to": "opening"}))
    expect(api.post(f"{under}/activities", json={**FIRST_MEETING, "attendee_ids": [buyer["id"]]}), 201)
    expect(api.post(f"{under}/transitions", json={"to": "questioning"}))
    expect(api.post(f"{under}/problems", json=QUANTIFIED_PROBLEM), 201)
    expect(api.put(f"{under}/decision-process", json=DECISION_PROCESS), 201)
    expect(api.put(f"{under}/qualification", json=QUALIFICATION), 201)
    today = datetime.now(UTC).date()
    for days in (-2, 3, 10):
        expect(api.post(f"{under}/tasks", json={"title": f"Follow up in {days} days",
                                                "due_date": (today + timedelta(days=days)).isoformat()}), 201)
    return str(deal["id"])


def pages(deal_id: str, draft: int) -> list[Page]:
    """Every console page for each role, with its API equivalent."""
    found: list[Page] = []
    listings = [("my deals", "", "?status=open"), ("my deals, stale", "?stale=on", "?status=open"),
                ("my deals, overdue tasks", "?overdue=on", "?status=open"),
                ("my deals, a step", "?step=questioning", "?status=open&step=questioning"),
                ("my deals, any status", "?status=any", "")]
    version = "/processes/complex-sale/versions"
    for who in (REP, MANAGER, "admin"):
        found += [Page(who, what, f"/console{query}", f"/v1/opportunities{api}") for what, query, api in listings]
        if who != REP:
            found.append(Page(who, "my deals, an owner", f"/console?owner={REP}",
                              f"/v1/opportunities?status=open&owner={REP}"))
        found += [Page(who, "a deal", f"/console/deals/{deal_id}", f"/v1/opportunities/{deal_id}/guidance"),
                  Page(who, "my tasks", "/console/tasks", "/v1/tasks?owner=me&completed=false"),
                  Page(who, "open tasks of every deal", "/console/tasks?whose=all", "/v1/tasks?completed=false")]
        if who != REP:
            found += [Page(who, f"report: {name}", f"/console/reports/{name}", f"/v1/reports/{name}")
                      for name in REPORTS]
            found.append(Page(who, "report: funnel, an owner and a period", f"/console/reports/funnel?owner={REP}"
                              "&since=2000-01-01&until=2099-12-31",
                              f"/v1/reports/funnel?owner={REP}&since=2000-01-01&until=2099-12-31"))
        found += [Page(who, "processes", "/console/processes", "/v1/processes"),
                  Page(who, "a process", "/console/processes/complex-sale", "/v1/processes/complex-sale"),
                  Page(who, "a published version (drawn)", f"/console{version}/1", f"/v1{version}/1/diagram"),
                  Page(who, "the version's SVG", f"/console{version}/1/diagram.svg", f"/v1{version}/1/diagram"),
                  Page(who, "a draft (checked)", f"/console{version}/{draft}", f"/v1{version}/{draft}"),
                  Page(who, "a version as YAML", f"/console{version}/{draft}/yaml", f"/v1{version}/{draft}")]
    found.append(Page("admin", f"dry run of the draft, {REP}'s deals", f"/console{version}/{draft}/dry-run",
                      f"/v1{version}/{draft}/dry-run", method="POST", form={"step": "", "owner": REP},
                      api_body={"owner": REP, "max_ids": 5}))
    return found


def timed(call: Callable[[], Any]) -> float:
    """Milliseconds a call took, to the end of its answer's body (which must be 200)."""
    started = time.perf_counter()
    expect(call())
    return (time.perf_counter() - started) * 1000


def main() -> int:
    """Seed, time every page and its API route in turn, print a line per page and RESULT lines."""
    args = parse_args()
    results: list[tuple[Page, float, float | None]] = []
    with postgres_database() as url:
        admin_key = prepare(url)
        started = time.monotonic()
        _, counts = seed(url, args.deals)
        counts["task"] = seed_tasks(url)
        print(f"seeded in {time.monotonic() - started:.0f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()),
              flush=True)
        app = create_app(Settings(database_url=url))
        try:
            everyone = {"admin": admin_key, **keys(app, (REP, MANAGER))}
            api = {who: TestClient(app, headers={"Authorization": f"Bearer {key}", "Accept": "*/*"})
                   for who, key in everyone.items()}
            deal_id = walked_deal(api[REP])
            draft = expect(api["admin"].post("/v1/processes/complex-sale/versions", json=changed_spec()),
                           201).json()["version"]
            console = {}
            for who, key in everyone.items():
                console[who] = TestClient(app, follow_redirects=False)
                expect(console[who].post("/console/sign-in", data={"key": key, "next": "/console"}), 303)
            print(f"{'who':10} {'page':40} {'page ms':>8} {'API ms':>8} {'ratio':>6}", flush=True)
            for page in pages(deal_id, draft):
                def ask(page: Page = page) -> Any:
                    if page.method == "POST":
                        form = {**(page.form or {}), "csrf": csrf_token(everyone[page.who])}
                        return console[page.who].post(page.path, data=form)
                    return console[page.who].get(page.path)

                def call(page: Page = page) -> Any:
                    if page.method == "POST":
                        return api[page.who].post(page.api or "", json=page.api_body or {})
                    return api[page.who].get(page.api or "")

                timed(ask)  # the warm-up of both
                if page.api:
                    timed(call)
                page_ms, api_ms = [], []
                for _ in range(args.runs):  # in turn, so that both see the same state of the machine
                    page_ms.append(timed(ask))
                    if page.api:
                        api_ms.append(timed(call))
                median_page = statistics.median(page_ms)
                median_api = statistics.median(api_ms) if api_ms else None
                results.append((page, median_page, median_api))
                ratio = f"{median_page / median_api:6.2f}" if median_api else "     -"
                print(f"{page.who:10} {page.what:40} {median_page:8.1f} {median_api or 0:8.1f} {ratio}", flush=True)
        finally:
            app.state.database.dispose()
    met = True
    for page, median_page, median_api in results:
        against = (f"; {page.method} {(page.api or '').split('?')[0]} {median_api:.1f} ms, ratio "
                   f"{median_page / median_api:.2f}") if median_api else ""
        if page.method == "POST":
            ok = median_api is not None and median_page / median_api <= DRY_RUN_GOAL
            goal = f"≤ {DRY_RUN_GOAL} × the API"
        else:
            ok, goal = median_page <= GOAL_MS, f"≤ {GOAL_MS:.0f} ms"
        met &= ok
        print(f"RESULT|console: {page.what} as {page.who} ({args.deals:,} deals, PostgreSQL, median of {args.runs})|"
              f"{median_page:.1f} ms{against}|{goal}|{'yes' if ok else 'no'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
