"""Transitions per second over HTTP against a one-INSERT endpoint, on SQLite and PostgreSQL, with one
webhook endpoint subscribed to every event; and the delay from a change to its webhook's arrival.

Each backend gets a fresh database, migrated by Alembic, and one real uvicorn worker serving
`bench.baseline_app:create_bench_app` (the app plus POST /bench/insert), whose webhooks the worker the
server starts delivers, as `make run` does, to a receiver in its own process. wrk drives both
routes in turn with the same connections and duration; any non-2xx answer or socket error
(a timeout too: an answer slower than --timeout) fails the run. From the repository root:

    .venv/bin/python -m bench.transitions [--seconds 10] [--backend both] [--opportunities 500]
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.logs import log_config

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
POSTGRES_URL = os.environ.get("DEALGATE_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CONNECTIONS = 16
GOAL = 0.5
DELAY_GOAL = 1.0  # seconds, p99 from a change to its webhook's arrival
SEED_WORKERS = 8
BACK_REASON = "bench back move"
RESET_REASON = "bench reset"
BENCH_ROW_DDL = "CREATE TABLE bench_row (id VARCHAR(36) PRIMARY KEY, payload TEXT NOT NULL)"

# What the gates up to presentation need, as tests/method.py records it.
DEAL = {"account": {"name": "Riverton City Council", "industry": "public_sector"},
        "value": {"amount": 125000000, "currency": "EUR"}}
ECONOMIC_BUYER = {"name": "Dana Okafor", "title": "Director of Public Works",
                  "role": "economic_buyer", "needs": "No more emergency call-outs"}
MEETING_PLAN = {"objective": "Understand the outage history and its cost",
                "questions": ["How often do filters fail?"]}
FIRST_MEETING = {"kind": "meeting", "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                 "purpose_agreed": "Diagnosis", "minutes_agreed": 60}
QUANTIFIED_PROBLEM = {"description": "Unplanned filter outages force bottled-water deliveries",
                      "cost": {"amount": 42000000, "currency": "EUR", "period": "year",
                               "basis": "Twelve outages a year at 35,000 EUR of bottled water each"},
                      "confirmed_by_customer": True}
DECISION_PROCESS = {"steps": ["Technical review", "Council vote"], "decision_date": "2027-03-01"}
QUALIFICATION = {"urgency": "yes", "compelling_event": "Regulator deadline", "resources": "yes",
                 "budget_available": {"amount": 130000000, "currency": "EUR"}}
PROPOSITION = {"benefit": "No more bottled-water emergencies"}
SCOPE_ITEM = {"name": "Filter monitoring", "price": {"amount": 90000000, "currency": "EUR"}}

# Shared by both wrk scripts: count every answer outside 2xx (wrk's own count misses 1xx
# and 3xx) and print the count, with the first such answer, when wrk is done.
LUA_COMMON = """
bad, first_bad = 0, nil
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first_bad == nil then first_bad = status .. " " .. (body:sub(1, 300):gsub("\\n", " ")) end
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write("bench non-2xx: ", thread:get("bad"), "\\n")
    if thread:get("first_bad") then io.write("bench first non-2xx: ", thread:get("first_bad"), "\\n") end
  end
end
"""

LUA_BASELINE = LUA_COMMON + """
function request() return wrk.format(nil, "/bench/insert") end
"""

# Request k moves opportunity k % n: forward to presentation in even rounds (k // n),
# back to questioning in odd ones, so in-flight requests never share an opportunity.
LUA_TRANSITIONS = LUA_COMMON + """
wrk.headers["Authorization"] = "Bearer %(key)s"
local paths = {%(paths)s}
local n = #paths
local forward = '{"to":"presentation"}'
local back = '{"to":"questioning","reason":"%(reason)s"}'
-- wrk calls request() once on thread 0's state to check the script, and never sends that
-- request: start at -1 so that the first request sent is k = 0.
local k = -1

function request()
  local body = math.floor(k / n) %% 2 == 0 and forward or back
  local path = paths[k %% n + 1]
  k = k + 1
  return wrk.format(nil, path, nil, body)
end
"""


class BenchError(Exception):
    """The benchmark could not measure honestly."""


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured."""

    requests_per_second: float
    requests: int
    p99: str


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--opportunities", type=int, default=500,
                        help="opportunities to cycle: fewer than a run's requests, so that it moves "
                             "some back, and more than are answered within --timeout")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs of each route (>= 2)")
    parser.add_argument("--delivery", choices=("server", "separate"), default="server",
                        help="webhooks delivered by the worker the server starts (as make run does) or by a "
                             "dealgate worker started apart")
    parser.add_argument("--timeout", type=int, default=2,
                        help="seconds after which wrk counts an answer as a timeout error")
    args = parser.parse_args()
    if args.opportunities <= CONNECTIONS:
        parser.error(f"--opportunities must exceed the {CONNECTIONS} connections")
    if args.rounds < 2 or args.seconds < 1:
        parser.error("--rounds must be at least 2 and --seconds at least 1")
    return args


def find_wrk() -> str:
    """The wrk executable; installed with apt-get when missing and running as root."""
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk is not on PATH: install it with `apt-get install -y wrk`.", file=sys.stderr)
    if os.geteuid() == 0:
        print("Running as root: trying `apt-get install -y wrk` now.", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env)
        path = shutil.which("wrk")
    if not path:
        raise BenchError("wrk is still missing: run `apt-get install -y wrk` and try again.")
    return path


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A SQLite file in a temporary folder, removed afterwards; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="dealgate-bench-") as folder:
        yield f"sqlite:///{folder}/bench.db"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database beside DEALGATE_BENCH_POSTGRES_URL, dropped WITH (FORCE); yields its URL."""
    name = f"dealgate_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(url: str) -> str:
    """Migrate the database to head with Alembic, create the baseline's table, and bootstrap a
    workspace; returns its administrator's API key (transitions are authenticated)."""
    env = {**os.environ, "DEALGATE_DATABASE_URL": url}
    migrated = subprocess.run([str(VENV_BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    if migrated.returncode != 0:
        raise BenchError(f"alembic upgrade head failed:\n{migrated.stdout}{migrated.stderr}")
    bootstrapped = subprocess.run([str(VENV_BIN / "dealgate"), "admin", "bootstrap", "--workspace", "Bench"],
                                  cwd=ROOT, env=env, capture_output=True, text=True)
    if bootstrapped.returncode != 0:
        raise BenchError(f"dealgate admin bootstrap failed:\n{bootstrapped.stderr}")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(BENCH_ROW_DDL))
    finally:
        engine.dispose()
    return bootstrapped.stdout.strip().splitlines()[-1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(server: subprocess.Popen[bytes], base_url: str) -> None:
    """Poll the server until it answers, or fail if it exits or stays silent for 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"uvicorn exited with code {server.returncode} before answering")
        try:
            if httpx2.get(f"{base_url}/openapi.json", trust_env=False).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise BenchError("uvicorn did not answer within 30 s")


@contextmanager
def serve(url: str, delivery: str = "server", processes: int = 1) -> Iterator[tuple[str, int]]:
    """Run uvicorn worker processes of the bench app on the database, as `dealgate serve` runs them (metrics shared
    across processes, a JSON log line a request), webhooks delivered by the worker each starts or by a
    `dealgate worker` started apart; yields the base URL and the process id of uvicorn."""
    port = free_port()
    command = [str(VENV_BIN / "uvicorn"), "--factory", "bench.baseline_app:create_bench_app",
               "--app-dir", str(ROOT), "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(processes), "--no-access-log"]
    metrics = tempfile.TemporaryDirectory(prefix="dealgate-bench-metrics-")
    logging = Path(metrics.name) / "logging.json"
    logging.write_text(json.dumps(log_config("info")))
    command += ["--log-config", str(logging)]
    env = {**os.environ, "DEALGATE_DATABASE_URL": url, "DEALGATE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
           "DEALGATE_SERVER_WORKER": str(delivery == "server").lower(), "PROMETHEUS_MULTIPROC_DIR": metrics.name}
    log = open(Path(metrics.name) / "server.log", "ab")  # noqa: SIM115  (closed below, after the server)
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=log)
    worker = subprocess.Popen([str(VENV_BIN / "dealgate"), "worker"], cwd=ROOT, env=env,
                              stderr=subprocess.DEVNULL) if delivery == "separate" else None
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(server, base_url)
        yield base_url, server.pid
    finally:
        for process in (server, worker):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        metrics.cleanup()


def expect(response: httpx2.Response, status: int) -> Any:
    """The JSON body of a response with the expected status; else fail with what came back."""
    if response.status_code != status:
        raise BenchError(f"{response.request.method} {response.request.url.path} answered "
                         f"{response.status_code}, expected {status}: {response.text[:500]}")
    return response.json()


def parallel(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """fn over items on a few threads, results in order."""
    with ThreadPoolExecutor(SEED_WORKERS) as pool:
        return list(pool.map(fn, items))


@contextmanager
def api_client(base_url: str, key: str) -> Iterator[httpx2.Client]:
    """A client of the served API, authenticated with the key."""
    with httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                       trust_env=False) as client:
        yield client


def add_record(client: httpx2.Client, opportunity_id: str, path: str, body: dict[str, Any]) -> str:
    """Create a record under the opportunity; returns its id."""
    return str(expect(client.post(f"/v1/opportunities/{opportunity_id}/{path}", json=body), 201)["id"])


def put_record(client: httpx2.Client, opportunity_id: str, path: str, body: dict[str, Any]) -> None:
    """Create one of the opportunity's singleton records."""
    expect(client.put(f"/v1/opportunities/{opportunity_id}/{path}", json=body), 201)


def rep_key(base_url: str, admin_key: str) -> str:
    """A key of a rep (the role whose every move is checked against the deal's owner)."""
    with api_client(base_url, admin_key) as admin:
        user = expect(admin.post("/v1/admin/users", json={"handle": "bench.rep", "name": "Bench", "role": "rep"}), 201)
        return str(expect(admin.post(f"/v1/admin/users/{user['id']}/keys"), 201)["key"])


def seed_one(client: httpx2.Client, number: int) -> str:
    """One opportunity whose gates up to presentation pass, moved to questioning; returns its id."""
    oid = str(expect(client.post("/v1/opportunities",
                                 json={**DEAL, "name": f"Bench deal {number}"}), 201)["id"])
    buyer = add_record(client, oid, "stakeholders", ECONOMIC_BUYER)
    add_record(client, oid, "meeting-plans", MEETING_PLAN)
    add_record(client, oid, "activities", {**FIRST_MEETING, "attendee_ids": [buyer]})
    problem = add_record(client, oid, "problems",
                         {**QUANTIFIED_PROBLEM, "confirmation": {"stakeholder_id": buyer}})
    put_record(client, oid, "decision-process", {**DECISION_PROCESS, "signer_id": buyer})
    put_record(client, oid, "qualification", QUALIFICATION)
    put_record(client, oid, "proposition", {**PROPOSITION, "problem_ids": [problem]})
    add_record(client, oid, "scope-items", {**SCOPE_ITEM, "problem_ids": [problem]})
    add_record(client, oid, "proposal-previews", {"stakeholder_id": buyer,
                                                  "previewed_at": FIRST_MEETING["occurred_at"]})
    expect(client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "questioning"}), 200)
    return oid


def seed(client: httpx2.Client, backend: str, count: int) -> list[str]:
    """`count` opportunities through the API, all at questioning; returns their ids in order."""
    started = time.monotonic()
    ids = parallel(lambda number: seed_one(client, number), list(range(count)))
    print(f"  {backend}: seeded {count} opportunities in {time.monotonic() - started:.0f} s")
    return ids


def ids_at(client: httpx2.Client, step: str) -> list[str]:
    """The ids of every opportunity standing at a step, page by page."""
    ids: list[str] = []
    params: dict[str, Any] = {"step": step, "limit": 200}
    while True:
        page = expect(client.get("/v1/opportunities", params=params), 200)
        ids += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return ids
        params["cursor"] = page["next_cursor"]


def move_back(client: httpx2.Client, opportunity_id: str) -> None:
    """Move one opportunity from presentation back to questioning."""
    expect(client.post(f"/v1/opportunities/{opportunity_id}/transitions",
                       json={"to": "questioning", "reason": RESET_REASON}), 200)


def reset(client: httpx2.Client, count: int, timeout: int) -> None:
    """Move every opportunity back to questioning, and check that all `count` stand there."""
    time.sleep(timeout)  # the requests wrk left in flight land before this (or the run failed)
    parallel(lambda opportunity_id: move_back(client, opportunity_id), ids_at(client, "presentation"))
    standing = len(ids_at(client, "questioning"))
    if standing != count:
        raise BenchError(f"after the reset {standing} of {count} opportunities stand at questioning")


def write_scripts(folder: Path, ids: list[str], key: str) -> dict[str, Path]:
    """The wrk scripts, by label: the baseline (a bare endpoint), and the authenticated
    transitions over these opportunities."""
    paths = ",".join(f'"/v1/opportunities/{i}/transitions"' for i in ids)
    scripts = {"one-insert": folder / "one_insert.lua", "transitions": folder / "transitions.lua"}
    scripts["one-insert"].write_text(LUA_BASELINE)
    scripts["transitions"].write_text(LUA_TRANSITIONS % {"paths": paths, "reason": BACK_REASON, "key": key})
    return scripts


def _count(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    return int(found.group(1)) if found else 0


def run_wrk(wrk: str, base_url: str, script: Path, args: argparse.Namespace) -> WrkRun:
    """One wrk run; fails on any non-2xx answer or socket error (timeouts included)."""
    command = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{args.seconds}s", f"--timeout={args.timeout}s",
               "--latency", "-s", str(script), base_url]
    done = subprocess.run(command, capture_output=True, text=True)
    output = done.stdout + done.stderr
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    requests = re.search(r"(\d+) requests in", output)
    lua_bad = re.search(r"bench non-2xx: (\d+)", output)
    if done.returncode != 0 or not (rate and requests and lua_bad):
        raise BenchError(f"wrk failed (exit {done.returncode}):\n{output}")
    non_2xx = max(int(lua_bad.group(1)), _count(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                              output)
    if non_2xx or socket_errors or int(requests.group(1)) == 0:
        raise BenchError(f"wrk saw {non_2xx} non-2xx answers"
                         f"{', ' + socket_errors.group(0) if socket_errors else ''}"
                         " (a timeout is an answer slower than --timeout="
                         f"{args.timeout}s); none of them may count as throughput:\n{output}")
    p99 = re.search(r"^\s*99%\s+(\S+)", output, re.MULTILINE)
    return WrkRun(float(rate.group(1)), int(requests.group(1)), p99.group(1) if p99 else "?")


def verify_history(client: httpx2.Client, ids: list[str], runs: list[WrkRun]) -> None:
    """Check, through the API, that the first opportunities' moves were written to history."""
    # A run that completed c requests had sent requests 0 .. c-1 (k = 0, 1 move opportunities
    # 0 and 1 forward, k = n, n + 1 back), and reset() waited for them to land.
    forward_runs = sum(1 for run in runs if run.requests >= 2)
    back_runs = sum(1 for run in runs if run.requests >= len(ids) + 2)
    for opportunity_id in ids[:2]:
        items = expect(client.get(f"/v1/opportunities/{opportunity_id}/history"), 200)["items"]
        forward = [e for e in items if e["kind"] == "forward" and e["to_step"] == "presentation"
                   and any(g["step"] == "presentation" and g["passed"] for g in e["gates"])]
        back = [e for e in items if e["kind"] == "back" and e["reason"] == BACK_REASON]
        if len(forward) < forward_runs or len(back) < back_runs:
            raise BenchError(f"history of {opportunity_id} holds {len(forward)} gated forward and "
                             f"{len(back)} back moves; expected at least {forward_runs} and {back_runs}")
    print(f"  history checked: opportunities 1-2 hold >= {forward_runs} gated forward "
          f"and >= {back_runs} back moves each")


def forward_and_back(requests: int, n: int) -> tuple[int, int]:
    """How many of a transition run's first `requests` requests move forward, and back."""
    rounds, rest = divmod(requests, n)
    forward = (rounds + 1) // 2 * n + (rest if rounds % 2 == 0 else 0)
    return forward, requests - forward


def describe(label: str, run: WrkRun, n: int) -> str:
    """One progress line about a run."""
    requests = f"{run.requests} requests"
    if label == "transitions":
        requests += " = {} forward + {} back".format(*forward_and_back(run.requests, n))
    return f"{label:<11} {run.requests_per_second:5.0f} req/s ({requests}, p99 {run.p99})"


def best(runs: list[WrkRun]) -> float:
    """The highest requests/s of some runs."""
    return max(run.requests_per_second for run in runs)


@contextmanager
def receiving(folder: Path) -> Iterator[tuple[str, Callable[[], list[dict[str, Any]]]]]:
    """The receiver in its own process; yields its URL and what reads the messages it got (once stopped)."""
    port, out = free_port(), folder / "received.jsonl"
    receiver = subprocess.Popen([sys.executable, "-m", "bench.receiver", "--port", str(port), "--out", str(out)],
                                cwd=ROOT)
    stopped = False

    def received() -> list[dict[str, Any]]:
        nonlocal stopped
        if not stopped:
            receiver.terminate()
            receiver.wait(timeout=30)
            stopped = True
        return [json.loads(line) for line in out.read_text().splitlines()]

    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        if not stopped:
            receiver.kill()
            receiver.wait()


def subscribe(base_url: str, admin_key: str, url: str) -> None:
    """One webhook endpoint taking every event."""
    with api_client(base_url, admin_key) as admin:
        expect(admin.post("/v1/webhook-endpoints", json={"url": url}), 201)


def drained(base_url: str, admin_key: str) -> None:
    """Wait until every message has been delivered (fail after 60 s)."""
    with api_client(base_url, admin_key) as admin:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lag = expect(admin.get("/v1/events/lag"), 200)
            if lag["undispatched_events"] == 0 and lag["pending_deliveries"] == 0:
                return
            time.sleep(0.2)
    raise BenchError(f"webhooks still waiting after 60 s: {lag}")


def delays(messages: list[dict[str, Any]]) -> list[float]:
    """Seconds from each change to its webhook's arrival, sorted."""
    return sorted(m["arrived"] - datetime.fromisoformat(m["timestamp"]).timestamp() for m in messages)


def measure(backend: str, database: Callable[[], AbstractContextManager[str]], wrk: str,
            args: argparse.Namespace) -> tuple[float, float, list[float]]:
    """Best transitions/s and one-insert/s of one backend, runs interleaved; and the webhooks' delays."""
    with database() as url, tempfile.TemporaryDirectory(prefix="dealgate-bench-") as folder, \
            receiving(Path(folder)) as (hook, received):
        admin_key = prepare(url)
        with serve(url, args.delivery) as (base_url, _pid):
            subscribe(base_url, admin_key, hook)
            key = rep_key(base_url, admin_key)
            with api_client(base_url, key) as client:
                ids = seed(client, backend, args.opportunities)
                drained(base_url, admin_key)  # the seeding's webhooks are out before anything is timed
                started = time.time()
                scripts = write_scripts(Path(folder), ids, key)
                runs: dict[str, list[WrkRun]] = {label: [] for label in scripts}
                for round_number in range(1, args.rounds + 1):
                    for label, script in scripts.items():
                        run = run_wrk(wrk, base_url, script, args)
                        runs[label].append(run)
                        print(f"  {backend}: round {round_number} {describe(label, run, len(ids))}")
                    reset(client, len(ids), args.timeout)
                verify_history(client, ids, runs["transitions"])
            drained(base_url, admin_key)
        messages = [m for m in received() if datetime.fromisoformat(m["timestamp"]).timestamp() >= started]
        moved = sum(run.requests for run in runs["transitions"])
        if len({m["id"] for m in messages}) < moved:
            raise BenchError(f"{len(messages)} webhooks arrived for {moved} moves and more changes")
    return best(runs["transitions"]), best(runs["one-insert"]), delays(messages)


def summary(backend: str, moves: float, insert: float, waits: list[float]) -> str:
    """The figure lines of one backend."""
    ratio = moves / insert
    verdict = "" if ratio >= GOAL else "   BELOW GOAL"
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    return (f"{backend:<10} transitions {moves:5.0f} req/s   one-insert {insert:5.0f} req/s   "
            f"ratio {ratio:.2f} (goal >= {GOAL}){verdict}\n"
            f"{backend:<10} webhooks {len(waits)}, change to arrival p50 {waits[len(waits) // 2] * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms (goal <= {DELAY_GOAL * 1000:.0f} ms)\n"
            f"RESULT|transitions over HTTP as a rep, every default gate on, one webhook endpoint subscribed, "
            f"vs one INSERT ({backend})|"
            f"{moves:.0f} vs {insert:.0f} req/s, ratio {ratio:.2f}|>= {GOAL}|{'yes' if ratio >= GOAL else 'no'}\n"
            f"RESULT|webhooks: delay from a change to its arrival while transitions run ({backend})|"
            f"p99 {p99 * 1000:.0f} ms over {len(waits)} messages|<= {DELAY_GOAL * 1000:.0f} ms|"
            f"{'yes' if p99 <= DELAY_GOAL else 'no'}")


def main() -> int:
    """Measure the chosen backends, each even if another failed; print one line each."""
    args = parse_args()
    backends = {"sqlite": sqlite_database, "postgresql": postgres_database}
    chosen = list(backends) if args.backend == "both" else [args.backend]
    try:
        wrk = find_wrk()
    except BenchError as error:
        print(f"BENCHMARK FAILED: {error}", file=sys.stderr)
        return 1
    lines, failed = [], False
    for backend in chosen:
        try:
            lines.append(summary(backend, *measure(backend, backends[backend], wrk, args)))
        except (BenchError, psycopg.Error, httpx2.HTTPError) as error:
            print(f"BENCHMARK FAILED on {backend}: {error}", file=sys.stderr)
            lines.append(f"{backend:<10} FAILED (see above)")
            failed = True
    print(f"best of {args.rounds} runs of {args.seconds} s each, wrk -t1 -c{CONNECTIONS}, "
          f"{args.opportunities} opportunities")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
