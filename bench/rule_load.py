"""p99 of reading one opportunity while the most expensive rule the limits allow is judged in a loop,
against the same while a cheap rule is judged in the same loop (goal: within 2 times).

The costliest rule is picked in this run: each candidate is priced by the same estimator that prices
rules when they are saved (each just within the limit), timed here on its worst-case data, and the
slowest is used. One uvicorn worker on SQLite. Sales ops publish the rule in the gate into opening;
one client asks for that gate of a deal without pause while another reads a second deal, sequentially,
and measures its p99. Three cases in one run: the reader alone, beside a loop judging a cheap rule, and
beside a loop judging the costliest rule.

Usage, from the repository root: .venv/bin/python -m bench.rule_load [--requests 1500]
"""

import argparse
import copy
import statistics
import sys
import threading
import time
from typing import Any

from app.engine.rules import RuleInvalid
from app.processes.context import rule_environment
from app.processes.service import default_process
from bench.transitions import api_client, expect, prepare, rep_key, serve, sqlite_database

GOAL = 2.0
CHEAP = "stakeholders.size() >= 0"


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_500, help="timed reads per case")
    return parser.parse_args()


def candidates() -> dict[str, tuple[str, dict[str, Any]]]:
    """Rules just within the limits, each with the deal data that is its worst case."""
    size = 1
    while _fits(_nested(size + 1)):
        size += 1
    stakeholders = [{"name": f"Decider {i}", "role": "decision_maker"} for i in range(200)]
    # The longest pattern allowed, on a 200-character name that almost matches: the regex engine's worst case.
    letters = 1
    while _fits(f"opportunity.name.matches('{_pattern(letters + 1)}')"):
        letters += 1
    pattern = _pattern(letters)
    return {
        f"two nested loops of {size} over list literals": (_nested(size), {}),
        "a filter over 200 stakeholders, all kept": (
            "stakeholders.filter(s, s.role in ['decision_maker', 'economic_buyer']).size() >= 2",
            {"stakeholders": stakeholders}),
        "a match of a long pattern on the deal's name": (
            f"opportunity.name.matches('{pattern}')", {"name": "a" * 199 + "b"}),
    }


def _fits(rule: str) -> bool:
    try:
        rule_environment().compile(rule)
        return True
    except RuleInvalid:
        return False


def _pattern(letters: int) -> str:
    return "^(a|aa)*" + "a" * letters + "$"


def _nested(size: int) -> str:
    numbers = "[" + ",".join(str(i) for i in range(size)) + "]"
    return f"{numbers}.all(x, {numbers}.all(y, y >= 0))"


def publish(admin: Any, rule: str) -> None:
    """A new version of the default process with the rule in the gate into opening, published."""
    spec = copy.deepcopy(default_process()[1])
    spec["gates"]["opening"].append({"code": "bench.rule", "rule": rule, "message": "bench", "overridable": False})
    version = expect(admin.post("/v1/processes/complex-sale/versions", json=spec), 201)["version"]
    expect(admin.post(f"/v1/processes/complex-sale/versions/{version}/publish"), 200)


def deal(rep: Any, data: dict[str, Any]) -> str:
    """A deal on the newest version, holding the data its rule is judged on."""
    body = {"name": data.get("name", "Bench deal"), "account": {"name": "Bench account", "industry": "utilities"}}
    opportunity_id = str(expect(rep.post("/v1/opportunities", json=body), 201)["id"])
    for stakeholder in data.get("stakeholders", []):
        expect(rep.post(f"/v1/opportunities/{opportunity_id}/stakeholders", json=stakeholder), 201)
    return opportunity_id


def timed_reads(rep: Any, path: str, count: int) -> float:
    """p99 in ms of sequential GETs of the path, after a warm-up."""
    for _ in range(100):
        expect(rep.get(path), 200)
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        expect(rep.get(path), 200)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(timings, n=100)[98]


def beside_loop(base_url: str, key: str, gate_path: str | None, read_path: str, count: int) -> tuple[float, int]:
    """p99 of the reads while another client asks for the gate without pause, and how many gates it judged."""
    stop = threading.Event()
    judged = [0]

    def loop() -> None:
        with api_client(base_url, key) as other:
            while not stop.is_set():
                expect(other.get(gate_path), 200)
                judged[0] += 1

    worker = threading.Thread(target=loop) if gate_path else None
    if worker:
        worker.start()
        time.sleep(0.5)
    try:
        with api_client(base_url, key) as rep:
            return timed_reads(rep, read_path, count), judged[0]
    finally:
        stop.set()
        if worker:
            worker.join()


def main() -> int:
    """Pick the costliest rule, then measure the reader alone, beside the cheap loop and beside the costly one."""
    args = parse_args()
    environment = rule_environment()
    slowest, slowest_time = "", 0.0
    picked: dict[str, Any] = {}
    for label, (rule, data) in candidates().items():
        compiled = environment.compile(rule)
        document = {**{name: [] for name in environment.variables}, "now": "", "opportunity": {"name": data.get("name", "")},
                    **{k: v for k, v in data.items() if k != "name"}}
        binding = environment.bind(document)
        compiled.evaluate(binding)
        started = time.perf_counter()
        for _ in range(20):
            compiled.evaluate(binding)
        took = (time.perf_counter() - started) / 20 * 1000
        print(f"  {label:50} {compiled.cost:9,.0f} units  {took:6.2f} ms a run")
        if took > slowest_time:
            slowest, slowest_time, picked = label, took, {"rule": rule, "data": data}
    print(f"costliest rule: {slowest} ({slowest_time:.2f} ms a run)", flush=True)
    with sqlite_database() as url:
        admin_key = prepare(url)
        with serve(url) as (base_url, _pid):
            key = rep_key(base_url, admin_key)
            with api_client(base_url, admin_key) as admin, api_client(base_url, key) as rep:
                publish(admin, CHEAP)
                cheap = deal(rep, {})
                publish(admin, picked["rule"])
                costly = deal(rep, picked["data"])
                reader = deal(rep, {})
            read_path = f"/v1/opportunities/{reader}"
            alone, _ = beside_loop(base_url, key, None, read_path, args.requests)
            beside_cheap, cheap_runs = beside_loop(base_url, key, f"/v1/opportunities/{cheap}/gates/opening",
                                                   read_path, args.requests)
            beside_costly, costly_runs = beside_loop(base_url, key, f"/v1/opportunities/{costly}/gates/opening",
                                                     read_path, args.requests)
    print(f"  reader alone                 p99 {alone:6.2f} ms")
    print(f"  beside a cheap rule's loop   p99 {beside_cheap:6.2f} ms ({cheap_runs} gates judged)")
    print(f"  beside the costliest rule's  p99 {beside_costly:6.2f} ms ({costly_runs} gates judged)")
    ratio = beside_costly / beside_cheap
    print(f"RESULT|p99 of GET /v1/opportunities/{{id}} while the costliest allowed rule ({slowest}, "
          f"{slowest_time:.2f} ms a run) is judged in a loop, against a cheap rule's loop (SQLite)|"
          f"{beside_costly:.2f} vs {beside_cheap:.2f} ms, ratio {ratio:.2f} (alone {alone:.2f} ms)|"
          f"<= {GOAL}|{'yes' if ratio <= GOAL else 'no'}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
