"""One worker's webhook delivery rate against a bare loop posting the same signed payloads to the same receiver.

Each backend gets a fresh database, migrated by Alembic, with one endpoint and a batch of events in its
outbox; the worker fans them out, claims, sends and records every attempt. The bare loop signs and posts
the same bodies with the same HTTP client and the same number of threads, and stores nothing. Rounds
alternate; the best of each counts. From the repository root:

    .venv/bin/python -m bench.delivery [--messages 2000] [--rounds 2] [--backend both]
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select
from uuid6 import uuid7

from app.db import Database
from app.events.models import WebhookEndpoint
from app.events.sender import Sender
from app.events.service import new_secret
from app.events.worker import Worker, body_of, message_id
from app.identity.models import Workspace
from app.outbox import Event
from app.settings import Settings
from bench.transitions import (
    BenchError,
    postgres_database,
    prepare,
    receiving,
    sqlite_database,
)

GOAL = 0.5


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000, help="messages a round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    return parser.parse_args()


def fill_outbox(database: Database, count: int) -> list[Event]:
    """`count` events of the workspace, as a moved deal's would be, straight into the outbox."""
    now = datetime.now(UTC)
    with database.transaction() as session:
        workspace = session.scalars(select(Workspace.id)).one()
        data = {"workspace_id": str(workspace), "actor": "bench", "opportunity_id": str(uuid7()),
                "opportunity_version": 2, "kind": "forward", "from": {"step": "questioning"},
                "to": {"step": "presentation"}, "gates": [{"step": "presentation", "passed": True, "unmet": []}]}
        rows = [{"txid": 0, "id": uuid7(), "workspace_id": workspace, "type": "opportunity.moved", "at": now,
                 "opportunity_id": None, "opportunity_version": None, "data": data} for _ in range(count)]
        session.execute(insert(Event), rows)
    with database.reader() as session:
        return list(session.scalars(select(Event).order_by(Event.position.desc()).limit(count)))


def add_endpoint(database: Database, url: str) -> tuple[str, ...]:
    """An endpoint taking every event; its secrets."""
    now = datetime.now(UTC)
    with database.transaction() as session:
        workspace = session.scalars(select(Workspace.id)).one()
        secret = new_secret()
        session.add(WebhookEndpoint(workspace_id=workspace, id=uuid7(), url=url, description=None, event_types=[],
                                    enabled=True, secret=secret, version=1, created_at=now, created_by="bench",
                                    updated_at=now, updated_by="bench"))
    return (secret,)


def measure(backend: str, database_of: Callable[[], AbstractContextManager[str]],
            args: argparse.Namespace) -> tuple[float, float]:
    """Best messages/s of the worker and of the bare loop."""
    with database_of() as url, tempfile.TemporaryDirectory(prefix="dealgate-bench-") as folder, \
            receiving(Path(folder)) as (hook, received):
        prepare(url)
        settings = Settings(database_url=url, webhook_allow_private_addresses=True, server_worker=False)
        database = Database(url)
        secrets = add_endpoint(database, hook)
        worker = Worker(database, settings)
        sender = Sender(settings)
        pool = ThreadPoolExecutor(settings.worker_concurrency)
        rates: dict[str, list[float]] = {"worker": [], "bare loop": []}
        sent = 0
        try:
            for round_number in range(1, args.rounds + 1):
                messages = [(message_id(e.id), body_of(e)) for e in fill_outbox(database, args.messages)]
                # The bare loop first posts copies of the round's messages (under other ids); then the worker
                # delivers the round's messages from the outbox.
                started = time.perf_counter()
                outcomes = list(pool.map(lambda m: sender.send(hook, m[0] + "-bare", m[1], secrets), messages))
                rates["bare loop"].append(len(messages) / (time.perf_counter() - started))
                started = time.perf_counter()
                delivered = 0
                while (count := worker.run_once()):
                    delivered += count
                rates["worker"].append(delivered / (time.perf_counter() - started))
                if delivered != len(messages) or not all(o.delivered for o in outcomes):
                    raise BenchError(f"round {round_number}: the worker sent {delivered} of {len(messages)}")
                sent += 2 * len(messages)
                print(f"  {backend}: round {round_number} worker {rates['worker'][-1]:5.0f} msg/s, "
                      f"bare loop {rates['bare loop'][-1]:5.0f} msg/s")
        finally:
            worker.close()
            sender.close()
            pool.shutdown()
            database.dispose()
        arrived = received()
        if len(arrived) != sent:
            raise BenchError(f"{len(arrived)} messages arrived of {sent} sent")
    return max(rates["worker"]), max(rates["bare loop"])


def main() -> int:
    """Measure the chosen backends; one line each."""
    args = parse_args()
    backends = {"sqlite": sqlite_database, "postgresql": postgres_database}
    chosen = list(backends) if args.backend == "both" else [args.backend]
    failed = False
    for backend in chosen:
        try:
            worker, bare = measure(backend, backends[backend], args)
        except BenchError as error:
            print(f"BENCHMARK FAILED on {backend}: {error}", file=sys.stderr)
            failed = True
            continue
        ratio = worker / bare
        print(f"{backend:<10} worker {worker:5.0f} msg/s   bare loop {bare:5.0f} msg/s   ratio {ratio:.2f} "
              f"(goal >= {GOAL})")
        print(f"RESULT|webhooks: one worker's delivery rate vs a bare loop posting the same signed payloads "
              f"({backend})|{worker:.0f} vs {bare:.0f} msg/s, ratio {ratio:.2f}|>= {GOAL}|"
              f"{'yes' if ratio >= GOAL else 'no'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
