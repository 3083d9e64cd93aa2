"""Webhook endpoints and their deliveries, the event feed, and how far delivery lags."""

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, text, tuple_, update
from sqlalchemy.orm import Session
from uuid6 import uuid7

from app.caller import Caller
from app.db import utcnow
from app.errors import Gone, InvalidInput, LimitExceeded, NotFound
from app.etags import check_if_match
from app.events.models import Attempt, Delivery, WebhookEndpoint
from app.events.sender import reachable
from app.identity.service import audit
from app.outbox import Event, append_event
from app.paging import decode_values, encode_cursor, page
from app.settings import get_settings


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _check_url(url: str) -> None:
    """Refuse, when saved, a URL whose host is an address webhooks may not reach (names are checked when sent)."""
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host[1:host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    try:
        allowed = reachable(host)
    except ValueError:
        return  # a name, resolved at each attempt
    if not allowed and not get_settings().webhook_allow_private_addresses:
        raise InvalidInput(f"{host} is a loopback, private, link-local or reserved address; webhooks go to public "
                           "addresses only.", errors=[{"pointer": "/url", "in": "body", "message": "address not allowed"}])


def get_endpoint(session: Session, caller: Caller, endpoint_id: uuid.UUID, *, lock: bool = False) -> WebhookEndpoint:
    """One endpoint of the caller's workspace."""
    endpoint = session.get(WebhookEndpoint, (caller.workspace_id, endpoint_id), with_for_update=lock)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


def create_endpoint(session: Session, caller: Caller, values: dict[str, Any]) -> WebhookEndpoint:
    """A new endpoint, with a new signing secret."""
    _check_url(str(values["url"]))
    limit = get_settings().max_webhook_endpoints
    held = session.scalar(select(func.count()).where(WebhookEndpoint.workspace_id == caller.workspace_id)) or 0
    if held >= limit:
        raise LimitExceeded(f"This workspace has {held} webhook endpoints, the most it may have; delete one first.",
                            limit="max_webhook_endpoints", value=limit, setting="DEALGATE_MAX_WEBHOOK_ENDPOINTS")
    now = utcnow()
    endpoint = WebhookEndpoint(workspace_id=caller.workspace_id, id=uuid7(), url=str(values["url"]),
                               description=values.get("description"), event_types=list(values["event_types"]),
                               enabled=values["enabled"], secret=new_secret(), version=1, created_at=now,
                               created_by=caller.actor, updated_at=now, updated_by=caller.actor)
    session.add(endpoint)
    audit(session, caller, "webhook_endpoint.create", f"webhook endpoint {endpoint.id} {endpoint.url}")
    session.flush()
    return endpoint


def list_endpoints(session: Session, caller: Caller, *, limit: int,
                   cursor: str | None) -> tuple[Sequence[WebhookEndpoint], str | None]:
    """A page of the workspace's endpoints, oldest first."""
    return page(session, select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == caller.workspace_id),
                [WebhookEndpoint.id], limit, cursor)


def update_endpoint(session: Session, caller: Caller, endpoint_id: uuid.UUID, changes: dict[str, Any],
                    if_match: str | None) -> WebhookEndpoint:
    """Change an endpoint; enabling it again clears why it was disabled and its failing streak."""
    endpoint = get_endpoint(session, caller, endpoint_id, lock=True)
    check_if_match(endpoint, if_match)
    if "url" in changes:
        _check_url(str(changes["url"]))
        endpoint.url = str(changes["url"])
    if "event_types" in changes:
        endpoint.event_types = list(changes["event_types"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if changes.get("enabled") is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, None, None
    elif changes.get("enabled") is False:
        endpoint.enabled = False
    if session.is_modified(endpoint):
        endpoint.touch(caller.actor, utcnow())
        audit(session, caller, "webhook_endpoint.update", f"webhook endpoint {endpoint.id}: {', '.join(sorted(changes))}")
    session.flush()
    return endpoint


def delete_endpoint(session: Session, caller: Caller, endpoint_id: uuid.UUID, if_match: str | None) -> None:
    """Remove an endpoint with its deliveries."""
    endpoint = get_endpoint(session, caller, endpoint_id, lock=True)
    check_if_match(endpoint, if_match)
    session.delete(endpoint)
    audit(session, caller, "webhook_endpoint.delete", f"webhook endpoint {endpoint.id} {endpoint.url}")
    session.flush()


def rotate_secret(session: Session, caller: Caller, endpoint_id: uuid.UUID, overlap_hours: float | None,
                  if_match: str | None) -> WebhookEndpoint:
    """A new signing secret; the one it replaces keeps signing beside it for the overlap."""
    endpoint = get_endpoint(session, caller, endpoint_id, lock=True)
    check_if_match(endpoint, if_match)
    now = utcnow()
    hours = get_settings().webhook_secret_overlap_hours if overlap_hours is None else overlap_hours
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + timedelta(hours=hours)
    endpoint.secret = new_secret()
    endpoint.touch(caller.actor, now)
    audit(session, caller, "webhook_endpoint.rotate", f"webhook endpoint {endpoint.id}, overlap {hours} h")
    session.flush()
    return endpoint


def ping(session: Session, caller: Caller, endpoint_id: uuid.UUID) -> uuid.UUID:
    """Send a test message to one endpoint (even one that does not take that type); the delivery's id."""
    endpoint = get_endpoint(session, caller, endpoint_id)
    now = utcnow()
    position = append_event(session, caller.workspace_id, "webhook_endpoint.test", now,
                            {"actor": caller.actor, "endpoint_id": str(endpoint.id)})
    session.execute(update(Event).where(Event.workspace_id == caller.workspace_id, Event.position == position)
                    .values(dispatched_at=now))
    delivery = Delivery(id=uuid7(), workspace_id=caller.workspace_id, endpoint_id=endpoint.id, event_position=position,
                        status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(delivery)
    session.flush()
    return delivery.id


def list_attempts(session: Session, caller: Caller, endpoint_id: uuid.UUID, *, limit: int,
                  cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the attempts made to deliver to the endpoint, newest first."""
    get_endpoint(session, caller, endpoint_id)
    query = (select(Attempt, Delivery.status, Event.id, Event.type)
             .join(Delivery, (Delivery.workspace_id == Attempt.workspace_id) & (Delivery.id == Attempt.delivery_id))
             .join(Event, (Event.workspace_id == Delivery.workspace_id) & (Event.position == Delivery.event_position))
             .where(Attempt.workspace_id == caller.workspace_id, Attempt.endpoint_id == endpoint_id))
    if cursor is not None:
        (before,) = decode_values(cursor, [uuid.UUID])
        query = query.where(Attempt.id < before)
    rows = session.execute(query.order_by(Attempt.id.desc()).limit(limit + 1)).all()
    items = [{"id": a.id, "delivery_id": a.delivery_id, "message_id": f"msg_{event_id.hex}", "event_type": event_type,
              "at": a.at, "status_code": a.status_code, "duration_ms": a.duration_ms, "error": a.error,
              "response": a.response, "delivery_status": status} for a, status, event_id, event_type in rows[:limit]]
    return items, encode_cursor([items[-1]["id"]]) if len(rows) > limit else None


def replay_delivery(session: Session, caller: Caller, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> int:
    """Send one message to the endpoint again, under its message id, on a fresh schedule."""
    get_endpoint(session, caller, endpoint_id)
    mine = [Delivery.workspace_id == caller.workspace_id, Delivery.id == delivery_id]
    delivery = session.scalars(select(Delivery).where(*mine).with_for_update()).one_or_none()
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound(f"No delivery {delivery_id} to webhook endpoint {endpoint_id}.")
    return _replay(session, mine)


def replay_failed(session: Session, caller: Caller, endpoint_id: uuid.UUID, since: datetime) -> int:
    """Send again every message whose delivery to the endpoint failed, made since a time."""
    get_endpoint(session, caller, endpoint_id)
    return _replay(session, [Delivery.workspace_id == caller.workspace_id, Delivery.endpoint_id == endpoint_id,
                             Delivery.status == "failed", Delivery.created_at >= since])


def _replay(session: Session, where: list[Any]) -> int:
    done = session.execute(update(Delivery).where(*where).values(
        status="pending", attempts=0, next_attempt_at=utcnow(), leased_until=None, done_at=None))
    return int(done.rowcount)


# The feed's cursor: the transaction id and position of the last event read, and its time (to tell a cursor
# older than the retention period, whose next events may be gone).
def _feed_after(cursor: str | None) -> tuple[int, int]:
    if cursor is None:
        return -1, 0
    txid, position, at = decode_values(cursor, [int, int, datetime], "after")
    if at < utcnow() - timedelta(days=get_settings().event_retention_days):
        raise Gone("The cursor is older than the event retention period: events after it may have been pruned. "
                   "Start again without a cursor (and reconcile from the API).",
                   setting="DEALGATE_EVENT_RETENTION_DAYS")
    return txid, position


def read_feed(session: Session, caller: Caller, *, after: str | None, types: list[str], opportunity_id: uuid.UUID | None,
              limit: int) -> tuple[list[Event], str, bool]:
    """The workspace's events after the cursor in commit order; the cursor to resume at; whether more wait."""
    txid, position = _feed_after(after)
    query: Select[tuple[Event]] = select(Event).where(Event.workspace_id == caller.workspace_id,
                                                      tuple_(Event.txid, Event.position) > tuple_(txid, position))
    if session.get_bind().dialect.name == "postgresql":
        # Positions are allocated before commit: read only below the oldest transaction still running, so an
        # event that commits later can never land behind a cursor already handed out.
        query = query.where(Event.txid < text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
    if types:
        query = query.where(Event.type.in_(types))
    if opportunity_id is not None:
        query = query.where(Event.opportunity_id == opportunity_id)
    rows = list(session.scalars(query.order_by(Event.txid, Event.position).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        txid, position = rows[-1].txid, rows[-1].position
    # The cursor's time tells whether events after it may have been pruned: when nothing more waits, every
    # later event commits after now; when more waits, the oldest of it is about as old as the last read.
    read_to = rows[-1].at if more else utcnow()
    return rows, encode_cursor([txid, position, read_to]), more


def lag(session: Session, caller: Caller) -> dict[str, Any]:
    """What is waiting to be delivered for the workspace, and the age of the oldest message waiting."""
    now = utcnow()
    undispatched, oldest_event = session.execute(
        select(func.count(), func.min(Event.at)).where(Event.workspace_id == caller.workspace_id,
                                                       Event.dispatched_at.is_(None))).one()
    pending, oldest_delivery = session.execute(
        select(func.count(), func.min(Event.at)).select_from(Delivery)
        .join(Event, (Event.workspace_id == Delivery.workspace_id) & (Event.position == Delivery.event_position))
        .join(WebhookEndpoint, (WebhookEndpoint.workspace_id == Delivery.workspace_id)
              & (WebhookEndpoint.id == Delivery.endpoint_id))
        .where(Delivery.workspace_id == caller.workspace_id, Delivery.status == "pending", WebhookEndpoint.enabled)
    ).one()
    oldest = min((t for t in (oldest_event, oldest_delivery) if t is not None), default=None)
    return {"undispatched_events": undispatched, "pending_deliveries": pending,
            "oldest_pending_age_seconds": (now - oldest).total_seconds() if oldest else None}
