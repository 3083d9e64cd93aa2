"""Prometheus metrics of the API and its workers, summed across processes when PROMETHEUS_MULTIPROC_DIR is set
(`dealgate serve` sets it), served at /metrics to a bearer of DEALGATE_METRICS_TOKEN or, without one, to loopback."""

import hmac
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.errors import Forbidden, Unauthorized
from app.events.models import Delivery
from app.outbox import Event

REQUESTS = Counter("dealgate_http_requests_total", "Requests answered, by route template, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("dealgate_http_request_duration_seconds", "Time to answer a request, by route template and method.",
                    ["route", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
MOVES = Counter("dealgate_moves_total", "Moves committed, by process, the step the deal stands at after it, and kind "
                "(forward, back, won, lost, disqualified, reopen).", ["process", "step", "kind"])
REFUSALS = Counter("dealgate_move_refusals_total", "Requirements that refused a move, by code.", ["code"])
OVERRIDES = Counter("dealgate_overrides_total", "Requirements passed by a manager's override, by code.", ["code"])
ATTEMPTS = Counter("dealgate_webhook_attempts_total", "Webhook delivery attempts, by result (delivered, retry, "
                   "failed).", ["result"])
CACHE = Gauge("dealgate_cache_entries", "Entries in a cache of one process (pid).", ["cache"],
              multiprocess_mode="liveall")


def _oldest_seconds(oldest: datetime | None) -> float:
    return (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0


class Outbox(Collector):
    """What waits in the database, read at each scrape: events not yet relayed and deliveries pending."""

    def __init__(self, database: Any) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The outbox's depth and age, and the deliveries waiting."""
        try:
            with self.database.reader() as session:
                events, oldest = session.execute(select(func.count(), func.min(Event.at))
                                                 .where(Event.dispatched_at.is_(None))).one()
                pending = session.scalar(select(func.count()).select_from(Delivery)
                                         .where(Delivery.status == "pending"))
        except SQLAlchemyError:  # the database is down: the other figures are served all the same
            return
        yield GaugeMetricFamily("dealgate_outbox_events", "Events not yet relayed to the webhooks.", value=events)
        yield GaugeMetricFamily("dealgate_outbox_oldest_seconds", "Age of the oldest event not yet relayed.",
                                value=_oldest_seconds(oldest))
        yield GaugeMetricFamily("dealgate_webhook_deliveries_pending", "Deliveries waiting for an attempt.",
                                value=pending or 0)


def report_caches(sizes: dict[str, int]) -> None:
    """Set this process's cache gauges."""
    for name, size in sizes.items():
        CACHE.labels(name).set(size)


def forget_process() -> None:
    """Drop this process's live gauges from the shared files as it ends."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())


router = APIRouter(include_in_schema=False)
LOOPBACK = frozenset({"127.0.0.1", "::1"})
FORWARDED = frozenset({"x-forwarded-for", "forwarded", "x-real-ip"})  # a proxy on this host would make anyone look local


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Every metric, in Prometheus's text format."""
    token = request.app.state.settings.metrics_token
    if token is not None and token.get_secret_value():  # an empty token is no token
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise Unauthorized("Send the metrics token: Authorization: Bearer <DEALGATE_METRICS_TOKEN>.")
    elif request.client is None or request.client.host not in LOOPBACK or FORWARDED & set(request.headers):
        raise Forbidden("Metrics are served to a client on this host that came through no proxy; set "
                        "DEALGATE_METRICS_TOKEN to serve them to a bearer of that token.")
    report_caches(request.app.state.cache_sizes())
    shared = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)
    waiting = CollectorRegistry()
    waiting.register(Outbox(request.app.state.database))
    return Response(generate_latest(shared) + generate_latest(waiting), media_type=CONTENT_TYPE_LATEST)


_ON_COMMIT = "metrics_on_commit"


def on_commit(session: Session, counter: Counter, *labels: str) -> None:
    """Count once the session's transaction commits; a rollback forgets it."""
    session.info.setdefault(_ON_COMMIT, []).append((counter, labels))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for counter, labels in session.info.pop(_ON_COMMIT, ()):
        counter.labels(*labels).inc()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_ON_COMMIT, None)
