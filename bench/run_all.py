"""Run every benchmark and write bench/RESULTS.md: the machine, then one line per figure.

Each benchmark prints its figures as `RESULT|what|measured|goal|met` lines among its own output;
this collects them. Usage, from the repository root: .venv/bin/python -m bench.run_all
"""

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.transitions import POSTGRES_URL, _libpq

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ["bench.engine", "bench.gates", "bench.rule_load", "bench.transitions", "bench.processes", "bench.delivery", "bench.dryrun",
              "bench.import_deals", "bench.handover",
              "bench.latency", "bench.reports", "bench.console", "bench.memory"]


def machine() -> list[str]:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    with psycopg.connect(_libpq(POSTGRES_URL), connect_timeout=5) as connection:
        postgres = connection.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return [f"- CPU: {cpu}, {os.cpu_count()} cores (shared with other work; figures are ratios measured in one run)",
            f"- Memory: {memory / 1024 / 1024:.0f} GiB; {platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL {postgres}",
            f"- Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"]


def main() -> int:
    """Run each benchmark (each even if another failed), then write the table."""
    described = machine()  # before hours of work: a database that is down fails now
    rows, failed = [], []
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        run = subprocess.run([sys.executable, "-m", module], cwd=ROOT, capture_output=True, text=True)
        print(run.stdout + run.stderr, flush=True)
        found = [line.split("|")[1:] for line in run.stdout.splitlines() if line.startswith("RESULT|")]
        rows += [(module, *fields) for fields in found]
        if run.returncode != 0:
            failed.append(module)
            if not found:
                rows.append((module, "the benchmark failed", "-", "-", "no"))
    lines = ["# Benchmark results", "", "Written by `make bench` (`python -m bench.run_all`).", "", *described, "",
             "| benchmark | what | measured | goal | met |", "|---|---|---|---|---|"]
    lines += [f"| `{module}` | {what} | {measured} | {goal} | {met} |" for module, what, measured, goal, met in rows]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    if failed:
        print(f"failed or missed a goal: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
