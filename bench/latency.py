"""p99 latency of reading one opportunity and of a filtered list, with 10,000 and with 1,000,000
opportunities in PostgreSQL (goal: the large within 1.5 times the small).

One database, one uvicorn worker. The small case is measured first; the database then grows to the
large size and the same requests are measured again, as a rep: the deals belong to ten owners, one
of them the rep, so every read is checked against the owner and the list filters on it. Each case:
a warm-up, then sequential requests (one connection) over the rep's ids and list cursors drawn at
random from the whole table. The rows are inserted in bulk; their records' snapshots are left empty,
since neither request reads them.

Usage, from the repository root: .venv/bin/python -m bench.latency [--small 10000] [--large 1000000]
"""

import argparse
import base64
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, insert, text
from uuid6 import uuid7

from app.opportunities.models import Opportunity
from bench.transitions import api_client, expect, postgres_database, prepare, rep_key, serve

STEPS = [("planning", "discover"), ("opening", "discover"), ("questioning", "diagnose"),
         ("solution_design", "design"), ("presentation", "deploy"), ("negotiation", "deploy"), ("closing", "deploy")]
GOAL = 1.5


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000, help="timed requests per route and size")
    return parser.parse_args()


OWNERS = ["bench.rep"] + [f"rep.{n}" for n in range(1, 10)]


def grow(url: str, workspace_id: uuid.UUID, start: int, end: int, ids: list[uuid.UUID]) -> None:
    """Insert opportunities start..end in batches, spread over the steps and owners; the rep's ids go
    into `ids`."""
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        for first in range(start, end, 20_000):
            rows = []
            for number in range(first, min(first + 20_000, end)):
                step, phase = STEPS[number % len(STEPS)]
                rows.append({
                    "workspace_id": workspace_id, "id": uuid7(), "name": f"Deal {number}",
                    "account_name": f"Account {number}", "account_industry": "utilities",
                    "owner": OWNERS[number % len(OWNERS)],
                    "value_amount": 1000000 + number, "value_currency": "EUR", "expected_close_date": None,
                    "process_key": "complex-sale", "process_version": 1, "status": "open", "phase": phase,
                    "step": step, "step_entered_at": now, "last_activity_at": None, "outcome_reason_code": None,
                    "records_snapshot": None, "version": 1, "created_at": now, "created_by": "bench",
                    "updated_at": now, "updated_by": "bench"})
            with engine.begin() as connection:
                connection.execute(insert(Opportunity.__table__), rows)
            ids += [row["id"] for row in rows if row["owner"] == OWNERS[0]]
        # Settle the table as a database in service is: vacuumed and analysed, no autovacuum pending
        # behind the bulk insert to compete with the timed requests.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE opportunity"))
            connection.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


def p99(client: Any, paths: list[str], warm: int = 200) -> tuple[float, float]:
    """p50 and p99 in ms of GETs of the paths, after a warm-up; every answer must be 200."""
    for path in paths[:warm]:
        expect(client.get(path), 200)
    timings = []
    for path in paths[warm:]:
        started = time.perf_counter()
        expect(client.get(path), 200)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100)
    return cuts[49], cuts[98]


def requests(ids: list[uuid.UUID], count: int, rng: random.Random) -> dict[str, list[str]]:
    """The two routes' paths: opportunities by id, and list pages of one step from random cursors."""
    picked = rng.choices(ids, k=count)
    cursors = [base64.urlsafe_b64encode(str(i).encode()).decode().rstrip("=") for i in rng.choices(ids, k=count)]
    return {"GET /v1/opportunities/{id}": [f"/v1/opportunities/{i}" for i in picked],
            "GET /v1/opportunities?step=negotiation (50 a page)":
                [f"/v1/opportunities?step=negotiation&limit=50&cursor={c}" for c in cursors]}


def main() -> int:
    """Measure both sizes, print p50/p99 and the ratio of the p99s."""
    args = parse_args()
    rng = random.Random(7)
    results: dict[str, dict[int, tuple[float, float]]] = {}
    with postgres_database() as url:
        admin_key = prepare(url)
        engine = create_engine(url)
        with engine.connect() as connection:
            workspace_id = connection.execute(text("SELECT id FROM workspace")).scalar_one()
        engine.dispose()
        ids: list[uuid.UUID] = []
        with serve(url) as (base_url, _pid), api_client(base_url, rep_key(base_url, admin_key)) as client:
            for size in (args.small, args.large):
                started = time.monotonic()
                grow(url, workspace_id, len(ids), size, ids)
                print(f"{size:>9} opportunities ({time.monotonic() - started:.0f} s to insert)", flush=True)
                for route, paths in requests(ids, args.requests + 200, rng).items():
                    results.setdefault(route, {})[size] = p99(client, paths)
                    print(f"  {route:55} p50 {results[route][size][0]:6.2f} ms  p99 {results[route][size][1]:6.2f} ms")
    met = True
    for route, by_size in results.items():
        ratio = by_size[args.large][1] / by_size[args.small][1]
        met &= ratio <= GOAL
        print(f"RESULT|p99 of {route}, {args.large:,} vs {args.small:,} opportunities (PostgreSQL)|"
              f"{by_size[args.large][1]:.2f} vs {by_size[args.small][1]:.2f} ms, ratio {ratio:.2f}|"
              f"<= {GOAL}|{'yes' if ratio <= GOAL else 'no'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
