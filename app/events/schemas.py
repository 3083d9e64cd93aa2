"""API shapes of webhook endpoints, deliveries, the event feed, and every event's payload."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
)

from app.outbox import EVENT_TYPES
from app.schemas import Input, Moment, Output, Patch

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
EventTypes = Annotated[list[EventType], Field(max_length=len(EVENT_TYPES),
                                              description="The event types sent; empty for every type.")]
Url = Annotated[AnyHttpUrl, Field(description="Where events are posted (http or https).")]
Description = Annotated[StrictStr, Field(max_length=500)]


class EndpointCreate(Input):
    """A new webhook endpoint."""

    url: Url
    event_types: EventTypes = []
    description: Description | None = None
    enabled: StrictBool = True

    @field_validator("url")
    @classmethod
    def _short(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(url)) > 2_000:
            raise ValueError("must be at most 2,000 characters")
        return url


class EndpointUpdate(Patch):
    """Fields to change; absent ones stay as they are. Enabling an endpoint clears why it was disabled."""

    not_nullable = frozenset({"url", "event_types", "enabled"})

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = None

    _short = field_validator("url")(EndpointCreate._short.__func__)  # type: ignore[attr-defined]


class EndpointRead(Output):
    """A webhook endpoint; its secret is shown only when made (on creation and rotation)."""

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why the service disabled it (410 Gone, or failing for days).")
    failing_since: datetime | None = Field(description="Since when every attempt has failed.")
    previous_secret_until: datetime | None = Field(description="Until when the secret before the last rotation "
                                                   "signs too.")
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class EndpointWithSecret(EndpointRead):
    """A webhook endpoint with its signing secret: keep it, it is not shown again."""

    secret: str = Field(description="The signing secret (whsec_...): verify each message's webhook-signature "
                        "with it, as the Standard Webhooks libraries do.")


class RotateRequest(Input):
    """How long the secret being replaced keeps signing beside the new one."""

    overlap_hours: float | None = Field(None, ge=0, le=168, description="Hours (default: the service's setting).")


class AttemptRead(BaseModel):
    """One attempt at delivering a message to the endpoint."""

    id: uuid.UUID
    delivery_id: uuid.UUID
    message_id: str = Field(description="The webhook-id header: the same on every attempt of a message.")
    event_type: str
    at: datetime
    status_code: int | None = Field(description="The answer's status; null when none came (refused, timed out).")
    duration_ms: int
    error: str | None
    response: str | None = Field(description="The start of the answer's body.")
    delivery_status: Literal["pending", "delivered", "failed"]


class ReplayRequest(Input):
    """Send again every message whose delivery to the endpoint failed since a time."""

    since: Moment


class ReplayRead(BaseModel):
    """How many deliveries were scheduled again."""

    replayed: int


class EventRead(BaseModel):
    """An event as the feed shows it: the same payload webhooks carry, with its message id."""

    id: str = Field(description="The webhook-id its messages carry.")
    type: str
    timestamp: datetime
    data: dict[str, Any]


class EventPage(BaseModel):
    """A page of the feed; pass next_cursor back as after, now or later, to get what followed."""

    items: list[EventRead]
    next_cursor: str = Field(description="Where the next read starts; always set, even when nothing followed.")
    has_more: bool = Field(description="Whether more events are there already.")


class LagRead(BaseModel):
    """How far delivery is behind for this workspace."""

    undispatched_events: int = Field(description="Events not yet fanned out to endpoints.")
    pending_deliveries: int = Field(description="Deliveries waiting for their first or a further attempt.")
    oldest_pending_age_seconds: float | None = Field(description="Age of the oldest message not yet delivered "
                                                     "(to an enabled endpoint); null when none waits.")


# The payloads, one per event type: `data` always names the workspace and the actor, and for a deal its id
# and its version after the change (so a receiver can drop what is stale or seen).
class EventData(BaseModel):
    """What every event's data holds."""

    workspace_id: uuid.UUID
    actor: str = Field(description="The handle of who made the change.")


class DealEventData(EventData):
    """What every event about one deal holds."""

    opportunity_id: uuid.UUID
    opportunity_version: int = Field(description="The deal's version after the change.")


class OpportunityData(DealEventData):
    """A deal opened or changed, as the API shows it after the change."""

    opportunity: dict[str, Any] = Field(description="The opportunity as GET /v1/opportunities/{id} shows it.")
    changed: list[str] | None = Field(None, description="The fields an update changed.")


class Place(BaseModel):
    """Where a deal stands."""

    step: str | None
    phase: str | None
    status: str | None


class MoveData(DealEventData):
    """A move of a deal: where from and to, and what its gates said."""

    kind: Literal["forward", "back", "lost", "disqualified", "reopen"]
    from_: Place = Field(alias="from")
    to: Place
    reason: str | None
    reason_code: str | None
    gates: list[dict[str, Any]] = Field(description="Every gate the move evaluated, as the transition answer shows it.")
    overridden: list[str] = Field(description="Blocking requirements an override passed over.")
    override_justification: str | None


class RecordData(DealEventData):
    """A record written under a deal (deleted: as it was)."""

    kind: str = Field(description="The record's kind, such as problem or stakeholder.")
    record: dict[str, Any]


class TaskData(DealEventData):
    """A task made or completed."""

    task: dict[str, Any]


class ProcessData(EventData):
    """A process version published."""

    process: str
    version: int


class MigratedDeal(BaseModel):
    """A deal carried to the new version, and its version after."""

    id: uuid.UUID
    version: int


class MigratedData(ProcessData):
    """Open deals carried to a published process version."""

    opportunities: list[MigratedDeal]


class CarriedData(DealEventData):
    """One deal carried to another version of its process, where it stands."""

    process: str
    from_version: int
    to_version: int
    gate_holds: bool = Field(description="Whether the gate into its step holds under the new version.")


class EndpointData(EventData):
    """A webhook endpoint the service disabled."""

    endpoint_id: uuid.UUID
    url: str = Field(description="Its scheme, host and port (the path and query may hold a token).")
    reason: str


class AccountData(EventData):
    """An account made or changed, as the API shows it after the change."""

    account: dict[str, Any] = Field(description="The account as GET /v1/accounts/{id} shows it.")


class ComplaintData(EventData):
    """A complaint recorded or changed, as the API shows it after the change."""

    complaint: dict[str, Any] = Field(description="The complaint as GET /v1/complaints/{id} shows it.")


class HeldData(DealEventData):
    """Another system asked for a step the deal's records do not allow yet: where it stands and what is missing."""

    system: str
    stage: str = Field(description="The other system's stage.")
    wanted: str = Field(description="The step the stage map gives for it.")
    step: str = Field(description="Where the deal stands.")
    unmet: list[dict[str, Any]] = Field(description="What the gate it stopped at still needs.")


class RefusedData(DealEventData):
    """A gate refused a move: kept though the move rolled back, so that what holds deals can be counted."""

    from_step: str = Field(description="Where the deal stood, and still stands.")
    to_step: str = Field(description="The step the move asked for.")
    gate_step: str = Field(description="The step whose gate refused, on the way to to_step.")
    codes: list[str] = Field(description="The blocking requirements that refused it.")


class SnoozeData(DealEventData):
    """A deal set to wait: its pace prompts are silent until the day named."""

    until: date
    reason: str


class HandoverData(DealEventData):
    """A deal handed from a user who leaves to their successor, as the API shows it after."""

    from_: str = Field(alias="from", description="The handle of the user who left it.")
    to: str = Field(description="The successor's handle.")
    opportunity: dict[str, Any] = Field(description="The opportunity as GET /v1/opportunities/{id} shows it.")


class FollowUpDoneData(DealEventData):
    """A won deal's after-sale follow-up marked done."""

    note: str | None


class PingData(EventData):
    """A test message an administrator asked for."""

    endpoint_id: uuid.UUID


PAYLOADS: dict[str, type[BaseModel]] = {
    "opportunity.created": OpportunityData, "opportunity.updated": OpportunityData,
    "opportunity.moved": MoveData, "opportunity.won": MoveData, "opportunity.lost": MoveData,
    "opportunity.disqualified": MoveData, "opportunity.reopened": MoveData,
    "record.created": RecordData, "record.updated": RecordData, "record.deleted": RecordData,
    "task.created": TaskData, "task.completed": TaskData,
    "process.version_published": ProcessData, "deals.migrated": MigratedData,
    "opportunity.migrated": CarriedData, "opportunity.held_at_gate": HeldData,
    "opportunity.move_refused": RefusedData, "opportunity.snoozed": SnoozeData, "opportunity.woken": DealEventData,
    "opportunity.handed_over": HandoverData, "opportunity.follow_up_done": FollowUpDoneData,
    "account.created": AccountData, "account.updated": AccountData,
    "complaint.created": ComplaintData, "complaint.updated": ComplaintData,
    "webhook_endpoint.disabled": EndpointData, "webhook_endpoint.test": PingData,
}
assert set(PAYLOADS) == set(EVENT_TYPES), "every event type has its payload"
