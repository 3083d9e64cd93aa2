"""HTTP routes of webhook endpoints, their deliveries, and the event feed; the webhook catalogue for OpenAPI."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Response
from pydantic import BaseModel, Field, create_model

from app.db import SessionDep
from app.errors import problem_responses
from app.etags import IfMatch, tagged
from app.events import service
from app.events.models import WebhookEndpoint
from app.events.schemas import (
    PAYLOADS,
    AttemptRead,
    EndpointCreate,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
    EventPage,
    EventRead,
    EventType,
    LagRead,
    ReplayRead,
    ReplayRequest,
    RotateRequest,
)
from app.events.worker import message_id
from app.identity.auth import CallerDep
from app.identity.policy import ADMINS, INTEGRATORS, GuardedRoute, policy
from app.paging import MAX_PAGE, Cursor, Limit
from app.schemas import Page

endpoints = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"], route_class=GuardedRoute)
events = APIRouter(prefix="/v1/events", tags=["events"], route_class=GuardedRoute)
INTEGRATORS_ONLY: dict[str, Any] = policy(INTEGRATORS)


def _read(endpoint: WebhookEndpoint, status_code: int = 200, *, secret: bool = False, **headers: str) -> Response:
    return tagged(EndpointWithSecret if secret else EndpointRead, endpoint, status_code, **headers)


@endpoints.post("", status_code=201, response_model=EndpointWithSecret, openapi_extra=INTEGRATORS_ONLY,
                responses=problem_responses(415, 422))
def create_webhook_endpoint(body: EndpointCreate, session: SessionDep, caller: CallerDep) -> Response:
    """Subscribe a URL to events; the answer holds the signing secret, shown this once."""
    endpoint = service.create_endpoint(session, caller, body.model_dump())
    return _read(endpoint, 201, secret=True, Location=f"{endpoints.prefix}/{endpoint.id}")


@endpoints.get("", openapi_extra=INTEGRATORS_ONLY, responses=problem_responses(422))
def list_webhook_endpoints(session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE,
                   cursor: Cursor = None) -> Page[EndpointRead]:
    """The workspace's webhook endpoints; follow next_cursor for more."""
    rows, next_cursor = service.list_endpoints(session, caller, limit=limit, cursor=cursor)
    return Page[EndpointRead](items=[EndpointRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@endpoints.get("/{endpoint_id}", response_model=EndpointRead, openapi_extra=INTEGRATORS_ONLY,
               responses=problem_responses(404, 422))
def get_webhook_endpoint(endpoint_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Response:
    """One endpoint, with its ETag."""
    return _read(service.get_endpoint(session, caller, endpoint_id))


@endpoints.patch("/{endpoint_id}", response_model=EndpointRead, openapi_extra=INTEGRATORS_ONLY,
                 responses=problem_responses(404, 412, 415, 422))
def update_webhook_endpoint(endpoint_id: uuid.UUID, body: EndpointUpdate, session: SessionDep, caller: CallerDep,
                    if_match: IfMatch = None) -> Response:
    """Change an endpoint's URL, types, description, or whether it is enabled."""
    return _read(service.update_endpoint(session, caller, endpoint_id, body.changes(), if_match))


@endpoints.delete("/{endpoint_id}", status_code=204, openapi_extra=INTEGRATORS_ONLY,
                  responses=problem_responses(404, 412, 422))
def delete_webhook_endpoint(endpoint_id: uuid.UUID, session: SessionDep, caller: CallerDep,
                    if_match: IfMatch = None) -> Response:
    """Stop sending to an endpoint and forget its deliveries."""
    service.delete_endpoint(session, caller, endpoint_id, if_match)
    return Response(status_code=204)


@endpoints.post("/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret, openapi_extra=INTEGRATORS_ONLY,
                responses=problem_responses(404, 412, 415, 422))
def rotate_webhook_secret(endpoint_id: uuid.UUID, body: RotateRequest, session: SessionDep, caller: CallerDep,
                  if_match: IfMatch = None) -> Response:
    """A new signing secret, shown this once; the old one signs beside it until previous_secret_until."""
    return _read(service.rotate_secret(session, caller, endpoint_id, body.overlap_hours, if_match), secret=True)


class PingRead(BaseModel):
    """The delivery of the test message."""

    delivery_id: uuid.UUID


@endpoints.post("/{endpoint_id}/test", status_code=202, openapi_extra=INTEGRATORS_ONLY,
                responses=problem_responses(404, 422))
def ping_webhook_endpoint(endpoint_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> PingRead:
    """Send a webhook_endpoint.test message to this endpoint; its attempts appear under deliveries."""
    return PingRead(delivery_id=service.ping(session, caller, endpoint_id))


@endpoints.get("/{endpoint_id}/deliveries", openapi_extra=INTEGRATORS_ONLY, responses=problem_responses(404, 422))
def list_delivery_attempts(endpoint_id: uuid.UUID, session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE,
                  cursor: Cursor = None) -> Page[AttemptRead]:
    """Attempts to deliver to the endpoint, newest first: time, status code, duration, error."""
    rows, next_cursor = service.list_attempts(session, caller, endpoint_id, limit=limit, cursor=cursor)
    return Page[AttemptRead](items=[AttemptRead(**r) for r in rows], next_cursor=next_cursor)


@endpoints.post("/{endpoint_id}/deliveries/{delivery_id}/replay", status_code=202, openapi_extra=INTEGRATORS_ONLY,
                responses=problem_responses(404, 422))
def replay_delivery(endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep,
                    caller: CallerDep) -> ReplayRead:
    """Send one message to the endpoint again, with its webhook-id, from the start of the schedule."""
    return ReplayRead(replayed=service.replay_delivery(session, caller, endpoint_id, delivery_id))


@endpoints.post("/{endpoint_id}/replay", status_code=202, openapi_extra=INTEGRATORS_ONLY,
                responses=problem_responses(404, 415, 422))
def replay_failed_deliveries(endpoint_id: uuid.UUID, body: ReplayRequest, session: SessionDep, caller: CallerDep) -> ReplayRead:
    """Send again every message whose delivery to the endpoint failed, made since a time."""
    return ReplayRead(replayed=service.replay_failed(session, caller, endpoint_id, body.since))


def _shown(event: Any) -> EventRead:
    return EventRead(id=message_id(event.id), **event.payload)


@events.get("", openapi_extra=INTEGRATORS_ONLY, responses=problem_responses(410, 422))
def list_events(session: SessionDep, caller: CallerDep,
              after: Annotated[str | None, Query(max_length=400, description="next_cursor of the read before.")] = None,
              type: Annotated[list[EventType] | None, Query(description="Only these types.")] = None,  # noqa: A002
              opportunity_id: Annotated[uuid.UUID | None, Query(description="Only this deal's events.")] = None,
              limit: Limit = 100) -> EventPage:
    """The workspace's events in commit order, the same payloads webhooks carry; read again with after set to
    next_cursor to get what followed, so a poller resumes exactly where it stopped."""
    rows, next_cursor, more = service.read_feed(session, caller, after=after, types=list(type or ()),
                                                opportunity_id=opportunity_id, limit=limit)
    return EventPage(items=[_shown(e) for e in rows], next_cursor=next_cursor, has_more=more)


@events.get("/lag", openapi_extra=policy(ADMINS), responses=problem_responses())
def get_event_lag(session: SessionDep, caller: CallerDep) -> LagRead:
    """How far delivery is behind for this workspace: what waits, and the age of the oldest message waiting."""
    return LagRead(**service.lag(session, caller))


_WEBHOOK_HEADERS = ("Headers: `webhook-id` (the same on every attempt), `webhook-timestamp`, `webhook-signature` "
                    "(verify with a Standard Webhooks library). Delivery order is not guaranteed: use "
                    "`data.opportunity_version` to drop stale or repeated messages.")


def declare_webhooks(app: FastAPI) -> None:
    """Declare every event type as an OpenAPI webhook, with its message's schema."""
    for type_, data in PAYLOADS.items():
        name = "".join(part.capitalize() for part in type_.replace(".", "_").split("_")) + "Message"
        message = create_model(name, __doc__=f"The {type_} message (Standard Webhooks).",
                               type=(Literal[type_], ...),  # type: ignore[valid-type]
                               timestamp=(str, Field(description="When the change committed (ISO 8601, UTC).")),
                               data=(data, ...))

        def receive(body: message) -> None:  # type: ignore[valid-type]
            """Signed with the endpoint's secret: webhook-id, webhook-timestamp and webhook-signature headers."""

        app.webhooks.post(type_, operation_id=f"receive_{type_.replace('.', '_')}", summary=data.__doc__,
                          description=_WEBHOOK_HEADERS)(receive)
