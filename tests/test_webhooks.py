"""Webhooks as a receiver sees them: signed, retried on schedule, never sent inside the network, never lost."""

import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from uuid6 import uuid7

from app.events.models import Attempt, Delivery
from app.events.schemas import PAYLOADS
from app.events.sender import reachable
from app.events.worker import SCHEDULE, Worker
from app.outbox import EVENT_TYPES, Event
from app.settings import Settings
from tests.conftest import WATER_DEAL, Workplace, start_worker
from tests.receiver import Receiver, receiving
from tests.test_events import exercise_every_type

HOOKS = "/v1/webhook-endpoints"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time on."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on loopback."""
    with receiving() as state:
        yield state


@pytest.fixture
def admin(app: FastAPI, workplace: Workplace) -> TestClient:
    """The workspace's administrator."""
    return TestClient(app, headers=workplace.as_user("admin"))


def worker_for(app: FastAPI, clock: Clock | None = None, **settings: Any) -> Worker:
    """A worker on the app's database that may reach loopback (the receiver's), with a test clock."""
    values = {"database_url": app.state.database.url, "webhook_allow_private_addresses": True,
              "webhook_timeout": 2.0, "server_worker": False, **settings}
    return Worker(app.state.database, Settings(**values), clock=clock or Clock())


def subscribe(admin: TestClient, receiver: Receiver, path: str, **fields: Any) -> dict[str, Any]:
    """An endpoint at one of the receiver's paths; the receiver learns its secret."""
    answer = admin.post(HOOKS, json={"url": receiver.url(path), **fields})
    assert answer.status_code == 201, answer.text
    endpoint = answer.json()
    receiver.secrets[path] = endpoint["secret"]
    return endpoint


def drain(worker: Worker) -> int:
    """Run rounds until one finds nothing to do; how many messages were sent."""
    sent = total = worker.run_once()
    while sent:
        sent = worker.run_once()
        total += sent
    return total


def test_each_event_type_reaches_the_receiver_signed_with_its_payload(
        app: FastAPI, client: TestClient, admin: TestClient, workplace: Workplace, receiver: Receiver) -> None:
    endpoint = subscribe(admin, receiver, "ok")
    assert endpoint["secret"].startswith("whsec_")
    assert "secret" not in admin.get(f"{HOOKS}/{endpoint['id']}").json()  # shown once
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    manager = TestClient(app, headers=workplace.as_user("rep.kim"))
    exercise_every_type(client, admin, ops, manager)
    worker = worker_for(app)
    drain(worker)
    got = receiver.got
    assert got and all(r.verified for r in got)
    # (The test message went to the endpoint pinged; the disabling is tested below.)
    assert {r.payload["type"] for r in got} >= set(EVENT_TYPES) - {"webhook_endpoint.disabled", "webhook_endpoint.test"}
    for received in got:
        PAYLOADS[received.payload["type"]].model_validate(received.payload["data"])
    feed = TestClient(app, headers=workplace.as_user("crm.sync")).get("/v1/events", params={"limit": 200}).json()
    # The feed and the webhooks carry the same messages: same ids, same payloads.
    by_id = {e["id"]: e for e in feed["items"]}
    for received in got:
        assert received.payload["data"] == by_id[received.message_id]["data"]
    attempts = admin.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"]
    assert {a["status_code"] for a in attempts} == {204} and len(attempts) == len(got)
    lag = admin.get("/v1/events/lag").json()
    assert lag["undispatched_events"] == 0 and lag["pending_deliveries"] == 1  # the ping to example.com, retried
    worker.close()


def test_an_endpoint_gets_only_the_types_it_takes_and_only_what_happened_after_it_was_made(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    before = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    subscribe(admin, receiver, "ok", event_types=["opportunity.updated"])
    client.patch(f"/v1/opportunities/{before}", json={"name": "Renamed"})
    client.post("/v1/opportunities", json=WATER_DEAL)
    worker = worker_for(app)
    drain(worker)
    assert [r.payload["type"] for r in receiver.got] == ["opportunity.updated"]
    worker.close()


def test_failures_are_retried_on_the_schedule_then_given_up_and_the_same_message_id_is_kept(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    endpoint = subscribe(admin, receiver, "fail", event_types=["opportunity.created"])
    client.post("/v1/opportunities", json=WATER_DEAL)
    clock = Clock()
    worker = worker_for(app, clock)
    assert worker.run_once() == 1
    for delay in SCHEDULE:
        clock.advance(delay - 1)
        assert worker.run_once() == 0, "retried before its time"
        clock.advance(1)
        assert worker.run_once() == 1, f"not retried {delay} s on"
    clock.advance(10 * 86_400)
    assert worker.run_once() == 0  # ten attempts, then the delivery has failed
    ids = receiver.ids("fail")
    assert len(ids) == len(SCHEDULE) + 1 and len(set(ids)) == 1
    attempts = admin.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"]
    assert [a["status_code"] for a in attempts] == [500] * 10 and attempts[0]["delivery_status"] == "failed"
    assert attempts[0]["error"] == "HTTP 500" and attempts[0]["response"] == "no"
    # Replaying every failure since a time sends it again, under the same id.
    replayed = admin.post(f"{HOOKS}/{endpoint['id']}/replay", json={"since": "2000-01-01T00:00:00Z"}).json()
    assert replayed == {"replayed": 1}
    assert worker.run_once() == 1 and receiver.ids("fail")[-1] == ids[0]
    worker.close()


def test_a_timeout_and_a_redirect_are_failures_and_retry_after_is_honoured(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    receiver.slow_seconds = 1.5
    slow = subscribe(admin, receiver, "slow", event_types=["opportunity.created"])
    moved = subscribe(admin, receiver, "moved", event_types=["opportunity.created"])
    busy = subscribe(admin, receiver, "busy", event_types=["opportunity.created"])
    client.post("/v1/opportunities", json=WATER_DEAL)
    clock = Clock()
    worker = worker_for(app, clock, webhook_timeout=0.5)
    assert worker.run_once() == 3
    errors = {name: admin.get(f"{HOOKS}/{e['id']}/deliveries").json()["items"][0]
              for name, e in (("slow", slow), ("moved", moved), ("busy", busy))}
    assert errors["slow"]["status_code"] is None and "Timeout" in errors["slow"]["error"]
    assert errors["moved"]["status_code"] == 301 and "redirects are not followed" in errors["moved"]["error"]
    assert errors["busy"]["status_code"] == 429
    clock.advance(SCHEDULE[0])
    assert worker.run_once() == 2  # slow and moved follow the schedule; busy asked for 120 s
    clock.advance(120 - SCHEDULE[0])
    assert worker.run_once() == 1 and receiver.ids("busy")[0] == receiver.ids("busy")[1]
    worker.close()


def test_410_gone_disables_the_endpoint_with_an_event_and_enabling_it_again_resumes(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver, workplace: Workplace) -> None:
    gone = subscribe(admin, receiver, "gone", event_types=["opportunity.created"])
    watcher = subscribe(admin, receiver, "ok-watch", event_types=["webhook_endpoint.disabled"])
    client.post("/v1/opportunities", json=WATER_DEAL)
    worker = worker_for(app)
    drain(worker)
    state = admin.get(f"{HOOKS}/{gone['id']}").json()
    assert state["enabled"] is False and "410" in state["disabled_reason"]
    disabled = [r.payload for r in receiver.got if r.path == "ok-watch"]
    assert len(disabled) == 1 and disabled[0]["data"]["endpoint_id"] == gone["id"]
    assert disabled[0]["data"]["url"] == f"http://localhost:{receiver.port}"  # no path: it may hold a token
    client.post("/v1/opportunities", json=WATER_DEAL)
    drain(worker)
    assert len(receiver.ids("gone")) == 1  # nothing more goes to a disabled endpoint
    etag = admin.get(f"{HOOKS}/{gone['id']}").headers["ETag"]
    enabled = admin.patch(f"{HOOKS}/{gone['id']}", json={"enabled": True}, headers={"If-Match": etag}).json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert watcher["enabled"] is True
    worker.close()


def test_an_endpoint_failing_for_days_is_disabled(app: FastAPI, client: TestClient, admin: TestClient,
                                                  receiver: Receiver) -> None:
    endpoint = subscribe(admin, receiver, "fail", event_types=["opportunity.created"])
    clock = Clock()
    worker = worker_for(app, clock, webhook_disable_after_hours=48)
    for _ in range(4):  # a new deal a day, each failing
        client.post("/v1/opportunities", json=WATER_DEAL)
        drain(worker)
        clock.advance(86_400 / 2)
        drain(worker)
        clock.advance(86_400 / 2)
    state = admin.get(f"{HOOKS}/{endpoint['id']}").json()
    assert state["enabled"] is False and "every attempt failed since" in state["disabled_reason"]
    worker.close()


def test_private_addresses_are_refused_when_saved_and_when_sent(app: FastAPI, client: TestClient,
                                                                admin: TestClient, receiver: Receiver) -> None:
    for url in ("http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/x",
                "http://127.0.0.1/x", "http://[::ffff:192.168.0.1]/x", "ftp://example.com/x"):
        refused = admin.post(HOOKS, json={"url": url})
        assert refused.status_code == 422, url
    endpoint = subscribe(admin, receiver, "ok")  # "localhost": a name, checked where it resolves, when sent
    client.post("/v1/opportunities", json=WATER_DEAL)
    worker = worker_for(app, webhook_allow_private_addresses=False)
    drain(worker)
    assert receiver.got == []
    attempt = admin.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"][0]
    assert attempt["status_code"] is None and "may not reach" in attempt["error"]
    worker.close()


def test_a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    endpoint = subscribe(admin, receiver, "ok", event_types=["opportunity.created"])
    old = endpoint["secret"]
    etag = admin.get(f"{HOOKS}/{endpoint['id']}").headers["ETag"]
    rotated = admin.post(f"{HOOKS}/{endpoint['id']}/rotate-secret", json={"overlap_hours": 1},
                         headers={"If-Match": etag}).json()
    assert rotated["secret"] != old and rotated["previous_secret_until"] is not None
    client.post("/v1/opportunities", json=WATER_DEAL)
    clock = Clock()
    worker = worker_for(app, clock)
    drain(worker)
    signed = receiver.got[0].headers["webhook-signature"].split(" ")
    assert len(signed) == 2 and receiver.got[0].verified  # the receiver still holds the old secret
    receiver.secrets["ok"] = rotated["secret"]
    clock.advance(3_600 + 1)
    client.post("/v1/opportunities", json=WATER_DEAL)
    drain(worker)
    assert len(receiver.got[1].headers["webhook-signature"].split(" ")) == 1 and receiver.got[1].verified
    worker.close()


def test_endpoints_are_for_admins_and_integrations_bounded_and_testable(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver, workplace: Workplace) -> None:
    assert client.post(HOOKS, json={"url": "https://example.com/x"}).status_code == 403
    crm = TestClient(app, headers=workplace.as_user("crm.sync"))
    endpoint = subscribe(crm, receiver, "ok")
    assert crm.post(HOOKS, json={"url": "https://example.com/x", "event_types": ["deal.exploded"]}).status_code == 422
    pinged = crm.post(f"{HOOKS}/{endpoint['id']}/test")
    assert pinged.status_code == 202
    clock = Clock()
    worker = worker_for(app, clock)
    drain(worker)
    assert [r.payload["type"] for r in receiver.got] == ["webhook_endpoint.test"] and receiver.got[0].verified
    replay = crm.post(f"{HOOKS}/{endpoint['id']}/deliveries/{pinged.json()['delivery_id']}/replay")
    assert replay.json() == {"replayed": 1}
    clock.advance(1)
    drain(worker)
    assert receiver.ids() == [receiver.got[0].message_id] * 2
    limit = Settings().max_webhook_endpoints
    for n in range(limit - 1):
        assert crm.post(HOOKS, json={"url": f"https://example.com/{n}"}).status_code == 201
    over = crm.post(HOOKS, json={"url": "https://example.com/over"})
    assert over.status_code == 422 and over.json()["setting"] == "DEALGATE_MAX_WEBHOOK_ENDPOINTS"
    assert crm.delete(f"{HOOKS}/{endpoint['id']}").status_code == 204
    worker.close()


def test_old_events_are_pruned_with_their_deliveries(app: FastAPI, client: TestClient, admin: TestClient,
                                                     receiver: Receiver) -> None:
    subscribe(admin, receiver, "ok")
    client.post("/v1/opportunities", json=WATER_DEAL)
    clock = Clock()
    worker = worker_for(app, clock)
    drain(worker)
    clock.advance(31 * 86_400)
    worker.pruned_at = None
    assert worker.prune(clock()) == 2  # the account's event and the deal's
    with app.state.database.reader() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalar(select(func.count()).select_from(Attempt)) == 0
    worker.close()


def _make_events(app: FastAPI, client: TestClient, count: int) -> None:
    """`count` events, made quickly: a deal opened through the API (with its account), then its event copied in
    one statement."""
    client.post("/v1/opportunities", json=WATER_DEAL)
    with app.state.database.transaction() as session:
        template = session.scalars(select(Event).where(Event.type == "opportunity.created")).one()
        rows = [{"txid": template.txid, "id": uuid7(), "workspace_id": template.workspace_id,
                 "type": template.type, "at": template.at, "opportunity_id": template.opportunity_id,
                 "opportunity_version": template.opportunity_version, "data": template.data}
                for _ in range(count - 2)]
        session.execute(Event.__table__.insert(), rows)


def test_a_worker_killed_mid_batch_loses_no_message(app: FastAPI, client: TestClient, admin: TestClient,
                                                    receiver: Receiver) -> None:
    receiver.slow_seconds = 0.05
    subscribe(admin, receiver, "slow")
    _make_events(app, client, 300)
    process = start_worker(app.state.database.url, DEALGATE_WORKER_BATCH="50", DEALGATE_WORKER_CONCURRENCY="2")
    receiver.wait_for(20)
    process.send_signal(signal.SIGKILL)
    process.wait()
    clock = Clock()
    clock.advance(3_600)  # past the dead worker's claims
    worker = worker_for(app, clock)
    drain(worker)
    ids = receiver.ids()
    with app.state.database.reader() as session:
        assert set(ids) == {f"msg_{i.hex}" for i in session.scalars(select(Event.id))}  # every message arrived
        assert session.scalar(select(func.count()).where(Delivery.status != "delivered")) == 0
    assert len(ids) >= 300  # at least once: a message in flight at the kill may come twice
    worker.close()


def test_sigterm_finishes_what_is_being_sent_and_gives_back_the_rest(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver, tmp_path: Path) -> None:
    receiver.slow_seconds = 0.2
    subscribe(admin, receiver, "slow")
    _make_events(app, client, 40)
    process = start_worker(app.state.database.url, tmp_path / "worker.log", DEALGATE_WORKER_BATCH="20",
                            DEALGATE_WORKER_CONCURRENCY="2")
    receiver.wait_for(1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log = (tmp_path / "worker.log").read_text()
    with app.state.database.reader() as session:
        leased = session.scalar(select(func.count()).where(Delivery.leased_until.is_not(None)))
        attempts = session.scalar(select(func.count()).select_from(Attempt))
        waiting = session.scalar(select(func.count()).where(Delivery.status == "pending"))
    assert leased == 0, f"a claimed delivery was left held: {log}"
    assert attempts == len(receiver.got)  # each message sent was recorded
    assert attempts <= 6 and waiting == 20 - attempts  # the batch's unsent part went back, due for any worker
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line one JSON object
    deliveries = [line for line in lines if line["message"] == "delivery"]
    assert len(deliveries) == attempts
    assert all(d["result"] == "delivered" and d["status"] == 204 and d["message_id"].startswith("msg_")
               and d["event_type"] and d["workspace"] and d["attempt"] == 1 for d in deliveries)
    assert any(line["message"] == "worker stopped" for line in lines)


def test_two_workers_on_postgresql_deliver_2000_messages_none_lost_none_twice(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver, backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("workers share the outbox with SKIP LOCKED on PostgreSQL")
    subscribe(admin, receiver, "ok")
    _make_events(app, client, 2_000)
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = [start_worker(app.state.database.url, log) for log in logs]
    try:
        receiver.wait_for(2_000, timeout=120)
        time.sleep(0.5)  # anything sent twice would arrive now
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(timeout=30)
    ids = receiver.ids()
    assert len(ids) == 2_000 and len(set(ids)) == 2_000
    with app.state.database.reader() as session:  # each delivered once, by one worker (a refused connection retries)
        assert session.scalar(select(func.count()).where(Attempt.status_code == 204)) == 2_000
    assert all('"result": "delivered"' in log.read_text() for log in logs), "both workers took part"


def test_the_lag_shows_what_waits(app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    subscribe(admin, receiver, "fail")
    client.post("/v1/opportunities", json=WATER_DEAL)
    lag = admin.get("/v1/events/lag").json()
    assert lag["undispatched_events"] == 2 and lag["oldest_pending_age_seconds"] >= 0  # the account's, the deal's
    worker = worker_for(app)
    worker.run_once()
    lag = admin.get("/v1/events/lag").json()
    assert lag["undispatched_events"] == 0 and lag["pending_deliveries"] == 2
    assert client.get("/v1/events/lag").status_code == 403
    with app.state.database.transaction() as session:
        session.execute(update(Delivery).values(status="delivered"))
    assert admin.get("/v1/events/lag").json()["pending_deliveries"] == 0
    worker.close()


def test_an_attempt_ends_by_its_deadline_even_when_the_answer_trickles_in(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    endpoint = subscribe(admin, receiver, "trickle", event_types=["opportunity.created"])
    client.post("/v1/opportunities", json=WATER_DEAL)
    worker = worker_for(app, webhook_timeout=1.0)
    started = time.monotonic()
    assert worker.run_once() == 1
    assert time.monotonic() - started < 3  # a byte every 0.2 s never times out a read; the deadline ends it
    attempt = admin.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"][0]
    assert attempt["status_code"] is None and "Timeout" in attempt["error"]
    worker.close()


def test_a_2xx_whose_body_breaks_off_is_delivered_and_a_name_that_cannot_resolve_fails_alone(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    short = subscribe(admin, receiver, "short", event_types=["opportunity.created"])
    bad = admin.post(HOOKS, json={"url": f"http://{'a' * 64}.example.com/x", "event_types": ["opportunity.created"]})
    assert bad.status_code == 201
    client.post("/v1/opportunities", json=WATER_DEAL)
    worker = worker_for(app)
    assert worker.run_once() == 2  # one bad name does not lose the batch
    assert admin.get(f"{HOOKS}/{short['id']}/deliveries").json()["items"][0]["delivery_status"] == "delivered"
    failed = admin.get(f"{HOOKS}/{bad.json()['id']}/deliveries").json()["items"][0]
    assert failed["delivery_status"] == "pending" and "does not resolve" in failed["error"]
    worker.close()


def test_an_endpoint_deleted_while_its_messages_are_sent_loses_no_other_result(
        app: FastAPI, client: TestClient, admin: TestClient, receiver: Receiver) -> None:
    receiver.slow_seconds = 1.0
    slow = subscribe(admin, receiver, "slow", event_types=["opportunity.created"])
    ok = subscribe(admin, receiver, "ok", event_types=["opportunity.created"])
    client.post("/v1/opportunities", json=WATER_DEAL)
    worker = worker_for(app)
    sending = threading.Thread(target=worker.run_once)
    sending.start()
    receiver.wait_for(1)
    assert admin.delete(f"{HOOKS}/{slow['id']}").status_code == 204
    sending.join()
    attempts = admin.get(f"{HOOKS}/{ok['id']}/deliveries").json()["items"]
    assert [a["delivery_status"] for a in attempts] == ["delivered"]
    assert drain(worker) == 0  # nothing left to send again
    worker.close()


def test_positions_are_never_reused_so_the_feed_goes_on_after_everything_is_pruned(
        app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    crm = TestClient(app, headers=workplace.as_user("crm.sync"))
    client.post("/v1/opportunities", json=WATER_DEAL)
    client.post("/v1/opportunities", json=WATER_DEAL)
    cursor = crm.get("/v1/events").json()["next_cursor"]
    clock = Clock()
    clock.advance(31 * 86_400)
    worker = worker_for(app, clock)
    assert worker.prune(clock()) == 3  # the account's event and the two deals'
    created = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    after = crm.get("/v1/events", params={"after": cursor}).json()["items"]
    assert [e["data"]["opportunity_id"] for e in after] == [created]
    worker.close()


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "64:ff9b::a00:5", "2002:7f00:1::1", "::7f00:1",
                                     "::ffff:10.0.0.1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fd00::1"])
def test_an_ipv6_address_carrying_a_private_one_is_not_reachable(address: str) -> None:
    assert not reachable(address)


def test_public_addresses_are_reachable() -> None:
    assert reachable("93.184.216.34") and reachable("2606:2800:220:1:248:1893:25c8:1946")
