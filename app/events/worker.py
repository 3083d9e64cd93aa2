"""The worker that relays the outbox: it fans each event out to the endpoints subscribed to it, delivers,
and retries on the Standard Webhooks schedule. Any number run beside each other on PostgreSQL."""

import json
import logging
import math
import multiprocessing
import os
import signal
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session
from uuid6 import uuid7

import app.identity.models  # noqa: F401  (registers the workspace table the rows refer to)
from app.db import Database
from app.events.models import Attempt, Delivery, WebhookEndpoint
from app.events.sender import Outcome, Sender
from app.integrations.idempotency import prune_keys
from app.logs import configure as configure_logging
from app.metrics import ATTEMPTS, forget_process
from app.outbox import Event, append_event
from app.settings import Settings

log = logging.getLogger("dealgate.worker")

# Seconds from one attempt to the next (Standard Webhooks): immediately, then 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 14 h, 20 h and 24 h; after the tenth attempt fails the delivery has failed (about three days on).
SCHEDULE = (5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400)
TRIES = len(SCHEDULE) + 1
PRUNE_EVERY = timedelta(minutes=10)
PRUNE_BATCH = 1_000

Clock = Callable[[], datetime]


def message_id(event_id: uuid.UUID) -> str:
    """The webhook-id of an event's message: the same on every attempt and for every endpoint."""
    return f"msg_{event_id.hex}"


def body_of(event: Event) -> str:
    """The message body: the event's payload as compact JSON."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Job:
    """A claimed delivery, with all it takes to send it and nothing bound to a session."""

    delivery_id: uuid.UUID
    workspace_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    message_id: str
    event_type: str
    body: str
    attempts: int
    lease: datetime


def _gives_up(job: Job, outcome: Outcome) -> bool:
    """A failed attempt that ends its delivery: the endpoint is gone, or it was the last try."""
    return outcome.status_code == 410 or job.attempts + 1 >= TRIES


def _secrets(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    overlapping = endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now
    return (endpoint.secret, endpoint.previous_secret) if overlapping else (endpoint.secret,)  # type: ignore[return-value]


class Worker:
    """Relays the outbox of every workspace in one database."""

    def __init__(self, database: Database, settings: Settings, *, clock: Clock | None = None,
                 sender: Sender | None = None) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sender = sender or Sender(settings)
        self.batch = settings.worker_batch
        self.pool = ThreadPoolExecutor(settings.worker_concurrency, thread_name_prefix="dealgate-send")
        # A claim outlasts the slowest batch (every attempt at its time limit), so no other worker takes it meanwhile.
        rounds = math.ceil(self.batch / settings.worker_concurrency) + 1
        self.lease = timedelta(seconds=settings.webhook_timeout * rounds + 30)
        self.stopping = threading.Event()
        self.pruned_at: datetime | None = None

    def run(self) -> None:
        """Deliver until stopped; a stop lets the batch in hand finish and be recorded."""
        log.info("worker started: %d deliveries a batch, %d in parallel", self.batch, self.settings.worker_concurrency)
        while not self.stopping.is_set():
            try:
                sent = self.run_once()
            except Exception:  # a lost database must not end the worker; it tries again after a pause
                log.exception("worker round failed")
                sent = 0
            if sent < self.batch:  # caught up: let the next batch gather rather than run a round per message
                self.stopping.wait(self.settings.worker_poll_seconds)
        log.info("worker stopped")

    def stop(self) -> None:
        """Ask the worker to stop after the batch in hand."""
        self.stopping.set()

    def close(self) -> None:
        """Release threads and connections."""
        self.pool.shutdown()
        self.sender.close()

    def run_once(self) -> int:
        """One round: fan new events out, claim due deliveries, send them, record what came back."""
        now = self.clock()
        if self.pruned_at is None or now - self.pruned_at >= PRUNE_EVERY:
            self.prune(now)
        jobs = self.claim(now, self.batch)  # retries first, so new events never starve them
        jobs += self.fan_out(now, self.batch - len(jobs))
        if not jobs:
            return 0
        outcomes = list(self.pool.map(self._send, jobs))
        sent = [(j, o) for j, o in zip(jobs, outcomes, strict=True) if o is not None]
        if sent:
            self.record([j for j, _ in sent], [o for _, o in sent])
        if len(sent) < len(jobs):
            self.release([j for j, o in zip(jobs, outcomes, strict=True) if o is None])
        delivered = sum(o.delivered for _, o in sent)
        log.debug("delivered %d of %d messages (%d failed, %d left for later)", delivered, len(jobs),
                 len(sent) - delivered, len(jobs) - len(sent))
        return len(jobs)

    def _send(self, job: Job) -> Outcome | None:
        if self.stopping.is_set():  # stopping: what has not started goes back, to be sent by the next worker
            return None
        return self.sender.send(job.url, job.message_id, job.body, job.secrets)

    def release(self, jobs: Sequence[Job]) -> None:
        """Give claimed deliveries back unsent, due at once for any worker."""
        with self.database.transaction() as session:
            for job in jobs:
                session.execute(update(Delivery).where(Delivery.workspace_id == job.workspace_id,
                                                       Delivery.id == job.delivery_id,
                                                       Delivery.leased_until == job.lease).values(leased_until=None))

    def fan_out(self, now: datetime, limit: int) -> list[Job]:
        """Make a delivery of up to `limit` new events for every endpoint that takes them, claimed by this worker."""
        if limit <= 0:
            return []
        with self.database.transaction() as session:
            events = session.scalars(select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.position)
                                     .limit(limit).with_for_update(skip_locked=True)).all()
            if not events:
                return []
            endpoints = session.scalars(select(WebhookEndpoint).where(
                WebhookEndpoint.workspace_id.in_({e.workspace_id for e in events}), WebhookEndpoint.enabled)).all()
            lease = now + self.lease
            jobs, rows = [], []
            for event in events:
                for endpoint in endpoints:
                    if endpoint.workspace_id != event.workspace_id or not endpoint.subscribes(event.type) \
                            or event.at < endpoint.created_at:
                        continue
                    job = Job(uuid7(), event.workspace_id, endpoint.id, endpoint.url, _secrets(endpoint, now),
                              message_id(event.id), event.type, body_of(event), 0, lease)
                    mine = len(jobs) < limit  # the rest wait, due now, for the next claim
                    if mine:
                        jobs.append(job)
                    rows.append({"id": job.delivery_id, "workspace_id": event.workspace_id, "endpoint_id": endpoint.id,
                                 "event_position": event.position, "status": "pending", "attempts": 0,
                                 "next_attempt_at": now, "leased_until": lease if mine else None, "created_at": now})
            if rows:
                session.execute(insert(Delivery), rows)
            session.execute(update(Event).where(Event.position.in_([e.position for e in events]))
                            .values(dispatched_at=now))
            return jobs

    def claim(self, now: datetime, limit: int) -> list[Job]:
        """Take up to `limit` due deliveries no other worker holds."""
        if limit <= 0:
            return []
        with self.database.transaction() as session:
            rows = session.execute(
                select(Delivery, Event, WebhookEndpoint)
                .join(Event, Event.position == Delivery.event_position)
                .join(WebhookEndpoint, (WebhookEndpoint.workspace_id == Delivery.workspace_id)
                      & (WebhookEndpoint.id == Delivery.endpoint_id))
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= now,
                       or_(Delivery.leased_until.is_(None), Delivery.leased_until < now), WebhookEndpoint.enabled)
                .order_by(Delivery.next_attempt_at).limit(limit)
                .with_for_update(of=Delivery, skip_locked=True)).all()
            lease = now + self.lease
            for delivery, _, _ in rows:
                delivery.leased_until = lease
            return [Job(d.id, d.workspace_id, e.id, e.url, _secrets(e, now), message_id(ev.id), ev.type, body_of(ev),
                        d.attempts, lease) for d, ev, e in rows]

    def record(self, jobs: Sequence[Job], outcomes: Sequence[Outcome]) -> None:
        """Store each attempt and decide what follows: done, a retry on the schedule, or failed."""
        now = self.clock()
        with self.database.transaction() as session:
            # Endpoints first, then their deliveries: the order a deletion of an endpoint takes them in. A delivery
            # deleted meanwhile (with its endpoint) has nothing left to record.
            session.execute(select(WebhookEndpoint.id).where(
                WebhookEndpoint.workspace_id.in_({j.workspace_id for j in jobs}),
                WebhookEndpoint.id.in_({j.endpoint_id for j in jobs})).order_by(WebhookEndpoint.id).with_for_update())
            live = set(session.scalars(select(Delivery.id).where(Delivery.id.in_([j.delivery_id for j in jobs]))))
            kept = [(j, o) for j, o in zip(jobs, outcomes, strict=True) if j.delivery_id in live]
            if not kept:
                return
            session.execute(insert(Attempt), [
                {"id": uuid7(), "workspace_id": job.workspace_id, "endpoint_id": job.endpoint_id,
                 "delivery_id": job.delivery_id, "at": now, "status_code": o.status_code, "duration_ms": o.duration_ms,
                 "error": o.error, "response": o.response} for job, o in kept])
            delivered: dict[datetime, list[uuid.UUID]] = {}
            settled: list[tuple[Job, Outcome]] = []
            for job, outcome in kept:
                if outcome.delivered:  # most of them: one statement for all that share a claim
                    delivered.setdefault(job.lease, []).append(job.delivery_id)
                elif self._retry_or_fail(session, job, outcome, now):
                    settled.append((job, outcome))
            for lease, ids in delivered.items():
                session.execute(update(Delivery).where(Delivery.id.in_(ids), Delivery.leased_until == lease)
                                .values(status="delivered", done_at=now, leased_until=None,
                                        attempts=Delivery.attempts + 1))
            succeeded = {(j.workspace_id, j.endpoint_id) for j, o in kept if o.delivered}
            for workspace_id, endpoint_id in succeeded:
                session.execute(update(WebhookEndpoint).where(
                    WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id,
                    WebhookEndpoint.failing_since.is_not(None)).values(failing_since=None))
            for job, outcome in settled:
                if (job.workspace_id, job.endpoint_id) not in succeeded:
                    self._failing(session, job, outcome, now)
        for job, outcome in kept:
            result = "delivered" if outcome.delivered else "failed" if _gives_up(job, outcome) else "retry"
            ATTEMPTS.labels(result).inc()
            log.info("delivery", extra={
                "workspace": str(job.workspace_id), "delivery_id": str(job.delivery_id),
                "endpoint_id": str(job.endpoint_id), "message_id": job.message_id, "event_type": job.event_type,
                "attempt": job.attempts + 1, "result": result, "status": outcome.status_code,
                "duration_ms": outcome.duration_ms, "error": outcome.error})

    def _retry_or_fail(self, session: Session, job: Job, outcome: Outcome, now: datetime) -> bool:
        """Schedule the next attempt of a failed delivery, or end it; False when another worker holds it now."""
        change: dict[str, object] = {"attempts": job.attempts + 1, "leased_until": None}
        if _gives_up(job, outcome):
            change |= {"status": "failed", "done_at": now}
        else:
            delay = float(SCHEDULE[job.attempts])
            if outcome.retry_after is not None:
                delay = min(max(outcome.retry_after, 1.0), self.settings.webhook_retry_after_max)
            change["next_attempt_at"] = now + timedelta(seconds=delay)
        settled = session.execute(update(Delivery).where(Delivery.id == job.delivery_id,
                                                         Delivery.leased_until == job.lease).values(change))
        return settled.rowcount == 1  # 0: the claim ran out and another worker holds the delivery now

    def _failing(self, session: Session, job: Job, outcome: Outcome, now: datetime) -> None:
        """Note the endpoint's failing streak; disable it on 410 Gone or after failing for long."""
        endpoint = session.get(WebhookEndpoint, (job.workspace_id, job.endpoint_id), with_for_update=True)
        if endpoint is None or not endpoint.enabled:
            return
        endpoint.failing_since = endpoint.failing_since or now
        if outcome.status_code == 410:
            self._disable(session, endpoint, now, "the endpoint answered 410 Gone")
        elif now - endpoint.failing_since >= timedelta(hours=self.settings.webhook_disable_after_hours):
            self._disable(session, endpoint, now, f"every attempt failed since {endpoint.failing_since.isoformat()}")

    @staticmethod
    def _disable(session: Session, endpoint: WebhookEndpoint, now: datetime, reason: str) -> None:
        endpoint.enabled, endpoint.disabled_reason = False, reason
        endpoint.touch("dealgate-worker", now)
        log.warning("endpoint %s disabled: %s", endpoint.id, reason)
        # Other endpoints get this event: the URL goes without its path and query, which may hold a token.
        where = urlsplit(endpoint.url)
        append_event(session, endpoint.workspace_id, "webhook_endpoint.disabled", now,
                     {"actor": "dealgate-worker", "endpoint_id": str(endpoint.id),
                      "url": f"{where.scheme}://{where.hostname}" + (f":{where.port}" if where.port else ""),
                      "reason": reason})

    def prune(self, now: datetime) -> int:
        """Delete events (with their deliveries and attempts) older than the retention period, and expired
        idempotency keys, a batch at a time; how many of the larger kind went."""
        cutoff = now - timedelta(days=self.settings.event_retention_days)
        with self.database.transaction() as session:
            oldest = select(Event.position).where(Event.at < cutoff).order_by(Event.position).limit(PRUNE_BATCH)
            pruned = session.execute(delete(Event).where(Event.position.in_(oldest.scalar_subquery()))).rowcount
            pruned = max(pruned, prune_keys(session, now, PRUNE_BATCH))
        self.pruned_at = None if pruned == PRUNE_BATCH else now  # more to prune: again next round
        return pruned


def work(settings: Settings, parent: int | None = None) -> None:
    """Run a worker until SIGTERM or Ctrl-C (or, when given, until its parent process is gone), logging each batch."""
    configure_logging(settings.log_level)
    database = Database(settings.database_url)
    relay = Worker(database, settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: relay.stop())
    if parent is not None:
        os.nice(4)  # beside a server, requests come first when the cores are busy: deliveries can wait a little

        def watch() -> None:
            while not relay.stopping.wait(1.0):
                if os.getppid() != parent:  # the server died without stopping its worker
                    relay.stop()

        threading.Thread(target=watch, daemon=True).start()
    try:
        relay.run()
    finally:
        relay.close()
        database.dispose()
        forget_process()


class Beside:
    """The worker a server starts beside itself, and stops with it.

    It runs in a process of its own, so deliveries never wait on requests for the interpreter, nor requests on
    deliveries (on SQLite the two queue for the one write lock, see app.db.WriteLock).
    """

    def __init__(self, settings: Settings) -> None:
        self.process = multiprocessing.get_context("spawn").Process(
            target=work, args=(settings, os.getpid()), name="dealgate-worker", daemon=True)
        self.process.start()

    def stop(self) -> None:
        """Stop the worker: the batch in hand finishes first."""
        self.process.terminate()  # SIGTERM
        self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
