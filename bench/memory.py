"""Memory of the server process after 100,000 transitions against after 1,000 (goal: within 10%).

One uvicorn worker on a fresh SQLite database; 50 deals whose gates up to presentation pass, seeded
through the API. Eight client threads move them forward to presentation (every gate on the way
evaluated) and back to questioning, as a rep. The resident set size of the server is read from
/proc after the first 1,000 transitions and again after all of them; every answer must be 200.

Usage, from the repository root: .venv/bin/python -m bench.memory [--transitions 100000]
"""

import argparse
import sys
import threading
from pathlib import Path

from bench.transitions import (BenchError, api_client, expect, prepare, rep_key, seed, serve,
                               sqlite_database)

GOAL = 0.10
THREADS = 8


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=100_000)
    parser.add_argument("--warm", type=int, default=1_000, help="transitions before the first reading")
    parser.add_argument("--deals", type=int, default=50)
    return parser.parse_args()


def resident_kib(pid: int) -> int:
    """The process's resident set size in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def drive(base_url: str, key: str, forward: dict[str, bool], total: int) -> None:
    """`total` transitions over the deals, forward and back, on THREADS threads; each must answer 200.
    `forward` says, per deal, whether its next move is forward (and is kept up to date)."""
    lock = threading.Lock()
    remaining = [total]
    failures: list[str] = []

    def work(mine: list[str]) -> None:
        with api_client(base_url, key) as client:
            while not failures:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                deal = mine[remaining[0] % len(mine)]
                body = {"to": "presentation"} if forward[deal] else {"to": "questioning", "reason": "Bench reset"}
                try:
                    expect(client.post(f"/v1/opportunities/{deal}/transitions", json=body), 200)
                except Exception as error:  # noqa: BLE001  (any failure, a timeout too, fails the run)
                    failures.append(repr(error))
                forward[deal] = not forward[deal]

    deals = list(forward)
    threads = [threading.Thread(target=work, args=(deals[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise BenchError(failures[0])


def main() -> int:
    """Seed, warm up, read the memory, run the rest, read it again, print the growth."""
    args = parse_args()
    with sqlite_database() as url:
        admin_key = prepare(url)
        with serve(url) as (base_url, pid):
            key = rep_key(base_url, admin_key)
            with api_client(base_url, key) as client:
                deals = seed(client, "sqlite", args.deals)
            forward = dict.fromkeys(deals, True)  # every deal stands at questioning
            drive(base_url, key, forward, args.warm)
            after_warm = resident_kib(pid)
            print(f"after {args.warm:,} transitions: {after_warm / 1024:.1f} MiB resident", flush=True)
            drive(base_url, key, forward, args.transitions - args.warm)
            after_all = resident_kib(pid)
            print(f"after {args.transitions:,} transitions: {after_all / 1024:.1f} MiB resident")
    growth = after_all / after_warm - 1
    print(f"RESULT|server memory after {args.transitions:,} transitions vs after {args.warm:,}|"
          f"{after_all / 1024:.1f} vs {after_warm / 1024:.1f} MiB, {growth:+.1%}|within {GOAL:.0%}|"
          f"{'yes' if abs(growth) <= GOAL else 'no'}")
    return 0 if abs(growth) <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
