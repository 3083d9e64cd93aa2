"""Transitions per second over HTTP on PostgreSQL with two API processes against one: the same database, the same
deals, the same wrk load, runs interleaved (one process, two, one, two, ...), in one run.

Each run starts uvicorn with 1 or 2 worker processes of the bench app, as `dealgate serve --workers N` runs them
(metrics shared across processes, a JSON log line a request), with one `dealgate worker` apart delivering the
webhooks of a subscribed endpoint; wrk then drives the gated transitions of bench.transitions. Any non-2xx answer
fails the run. From the repository root:

    .venv/bin/python -m bench.processes [--seconds 10] [--rounds 2] [--opportunities 500]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import httpx2
import psycopg

from bench.transitions import (CONNECTIONS, BenchError, WrkRun, api_client, best, describe, drained, expect,
                               find_wrk, parallel, postgres_database, prepare, receiving, rep_key, reset, run_wrk, seed,
                               serve, subscribe, write_scripts)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="runs with each process count")
    parser.add_argument("--opportunities", type=int, default=500, help="opportunities the moves cycle through")
    parser.add_argument("--timeout", type=int, default=2, help="seconds after which wrk counts a timeout error")
    return parser.parse_args()


def warm_up(client: httpx2.Client, ids: list[str]) -> None:
    """Read the guidance of some deals from many connections at once, so each fresh process has compiled the
    process version before anything is timed (a compile costs a first request hundreds of milliseconds)."""
    parallel(lambda opportunity_id: expect(client.get(f"/v1/opportunities/{opportunity_id}/guidance"), 200),
             ids[:64])


def main() -> int:
    """Measure one and two processes in turn; print the best of each and their ratio."""
    args = parse_args()
    try:
        wrk = find_wrk()
        with postgres_database() as url, tempfile.TemporaryDirectory(prefix="dealgate-bench-") as folder, \
                receiving(Path(folder)) as (hook, _received):
            admin_key = prepare(url)
            with serve(url, "separate") as (base_url, _):
                subscribe(base_url, admin_key, hook)
                key = rep_key(base_url, admin_key)
                with api_client(base_url, key) as client:
                    ids = seed(client, "postgresql", args.opportunities)
                drained(base_url, admin_key)
            script = write_scripts(Path(folder), ids, key)["transitions"]
            runs: dict[int, list[WrkRun]] = {1: [], 2: []}
            for round_number in range(1, args.rounds + 1):
                for processes in (1, 2):
                    with serve(url, "separate", processes) as (base_url, _):
                        with api_client(base_url, key) as client:
                            warm_up(client, ids)
                        run = run_wrk(wrk, base_url, script, args)
                        runs[processes].append(run)
                        print(f"  round {round_number}, {processes} process(es): {describe('transitions', run, len(ids))}")
                        with api_client(base_url, key) as client:
                            reset(client, len(ids), args.timeout)
                        drained(base_url, admin_key)
    except (BenchError, psycopg.Error, httpx2.HTTPError) as error:
        print(f"BENCHMARK FAILED: {error}", file=sys.stderr)
        return 1
    one, two = best(runs[1]), best(runs[2])
    ratio = two / one
    print(f"best of {args.rounds} runs of {args.seconds} s each, wrk -t1 -c{CONNECTIONS}, {args.opportunities} "
          f"opportunities, PostgreSQL, {os.cpu_count()} cores")
    print(f"transitions: 1 process {one:.0f} req/s, 2 processes {two:.0f} req/s, ratio {ratio:.2f}")
    print(f"RESULT|transitions over HTTP, 2 API processes vs 1, one database, {os.cpu_count()} cores "
          f"(postgresql)|{two:.0f} vs {one:.0f} req/s, ratio {ratio:.2f}|measured|-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
