"""Faults and load against real servers: writers keep writing while the server is killed, or while
sixteen of them share one SQLite file through two server processes; every acknowledged write must
be there afterwards, whole."""

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import create_engine, text

from tests.conftest import WATER_DEAL, _free_port, served_database, start_server

WRITERS_SECONDS = float(os.environ.get("DEALGATE_WRITERS_SECONDS", "10"))


STAKEHOLDERS_A_DEAL = 100


class Writers:
    """Client threads, each writing to its own deal: stakeholders added, and lost/reopen moves."""

    def __init__(self, bases: list[str], key: str, count: int) -> None:
        self.auth = {"Authorization": f"Bearer {key}"}
        self.deals = [httpx2.post(f"{bases[0]}/v1/opportunities", json=WATER_DEAL, headers=self.auth,
                                  timeout=30).json()["id"] for _ in range(count)]
        self.acknowledged: dict[str, list[tuple[str, Any]]] = {deal: [] for deal in self.deals}
        self.answers: list[tuple[int, str]] = []  # every non-2xx answer, with its body
        self.errors: list[str] = []  # every request that got no answer
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.write, args=(deal, bases[i % len(bases)]), daemon=True)
                        for i, deal in enumerate(self.deals)]

    def write(self, deal: str, base: str) -> None:
        with httpx2.Client(base_url=base, headers=self.auth, timeout=30) as client:
            lost = False
            number = added = 0
            while not self.stop.is_set():
                number += 1
                try:
                    if added == STAKEHOLDERS_A_DEAL and not lost:  # well under the most one deal may hold
                        deal = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
                        self.acknowledged[deal], added = [], 0
                        self.deals.append(deal)
                    if number % 3 and not lost:  # a lost deal's records are read-only
                        answer = client.post(f"/v1/opportunities/{deal}/stakeholders",
                                             json={"name": f"Person {number}", "role": "user"})
                        done = ("stakeholder", answer.json()["id"]) if answer.status_code == 201 else None
                        added += done is not None
                    else:
                        move = {"to": "planning", "reason": "Back"} if lost else {"to": "lost", "reason": "Gone"}
                        answer = client.post(f"/v1/opportunities/{deal}/transitions", json=move)
                        done = ("move", answer.json()["version"]) if answer.status_code == 200 else None
                        lost = not lost if done else lost
                except (httpx2.TransportError, ValueError) as error:
                    self.errors.append(repr(error))
                    return  # no answer: what the server acknowledged before is what counts
                if done:
                    self.acknowledged[deal].append(done)
                else:
                    self.answers.append((answer.status_code, answer.text))

    def run(self, seconds: float, during: Any = None) -> None:
        for thread in self.threads:
            thread.start()
        time.sleep(seconds)
        if during is not None:
            during()
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a writer hung"

    def check_stored(self, url: str) -> int:
        """Every acknowledged write is stored, and each deal is whole; returns the writes checked."""
        engine = create_engine(url)
        checked = 0
        try:
            with engine.connect() as connection:
                for deal, writes in self.acknowledged.items():
                    deal_id = uuid.UUID(deal)
                    ids = {str(uuid.UUID(str(i))) for i in connection.execute(text(
                        "SELECT id FROM stakeholder WHERE opportunity_id = :d"), {"d": _db_id(url, deal_id)}).scalars()}
                    seqs = list(connection.execute(text(
                        "SELECT seq FROM history_entry WHERE opportunity_id = :d ORDER BY seq"),
                        {"d": _db_id(url, deal_id)}).scalars())
                    row = connection.execute(text("SELECT version, status, records_snapshot FROM opportunity "
                                                  "WHERE id = :d"), {"d": _db_id(url, deal_id)}).one()
                    last_status = connection.execute(text(
                        "SELECT to_status FROM history_entry WHERE opportunity_id = :d ORDER BY seq DESC LIMIT 1"),
                        {"d": _db_id(url, deal_id)}).scalar_one()
                    for kind, value in writes:
                        assert (value in ids) if kind == "stakeholder" else (value in seqs), (deal, kind, value)
                        checked += 1
                    snapshot = row.records_snapshot if isinstance(row.records_snapshot, dict) else \
                        json.loads(row.records_snapshot)
                    # No half-written change: the snapshot gates read holds exactly the stored records,
                    # and the deal stands where its last move put it.
                    assert {s["id"] for s in snapshot["stakeholders"]["records"]} == ids, deal
                    assert last_status == row.status, deal
        finally:
            engine.dispose()
        return checked


def _db_id(url: str, value: uuid.UUID) -> Any:
    return value.hex if url.startswith("sqlite") else value


def test_writes_acknowledged_before_a_kill_survive_it(backend: str, tmp_path: Path) -> None:
    with served_database(backend, tmp_path) as (url, key, port, process):
        writers = Writers([f"http://127.0.0.1:{port}"], key, 8)
        writers.run(3.0, during=lambda: os.kill(process.pid, signal.SIGKILL))
        process.wait(timeout=10)
        restarted = start_server(url, port)
        try:
            auth = {"Authorization": f"Bearer {key}"}
            for deal in writers.deals:  # the restarted server serves every deal and can move it
                base = f"http://127.0.0.1:{port}/v1/opportunities/{deal}"
                assert httpx2.get(f"{base}/guidance", headers=auth, timeout=30).status_code == 200
                assert httpx2.post(f"{base}/transitions", json={"to": "opening"}, headers=auth,
                                   timeout=30).status_code == 409  # refused by its gate, as a live deal is
        finally:
            restarted.kill()
            restarted.wait(timeout=10)
        checked = writers.check_stored(url)
        assert checked > 8, checked
        assert writers.errors, "no writer saw the server go away"  # each writer's next request fails
        assert all(status < 500 for status, _ in writers.answers), writers.answers[:3]


def test_sixteen_sqlite_writers_never_see_a_locked_database(tmp_path: Path) -> None:
    with served_database("sqlite", tmp_path) as (url, key, port, _process):
        second_port = _free_port()  # a second process: its writers meet the first's in SQLite's own lock
        second = start_server(url, second_port)
        try:
            writers = Writers([f"http://127.0.0.1:{port}", f"http://127.0.0.1:{second_port}"], key, 16)
            writers.run(WRITERS_SECONDS)
        finally:
            second.terminate()
            second.wait(timeout=10)
        assert writers.errors == [], writers.errors[:3]
        assert writers.answers == [], writers.answers[:3]  # no 5xx, no "database is locked", no refusal
        checked = writers.check_stored(url)
        print(f"{checked} acknowledged writes by 16 writers in {WRITERS_SECONDS:.0f} s, all stored")
        assert checked > 16 * WRITERS_SECONDS
