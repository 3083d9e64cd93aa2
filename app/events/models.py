"""Stored webhook endpoints, the deliveries of events to them, and every attempt made."""

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Tracked, UTCDateTime

DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(Tracked, Base):
    """Where a workspace's events are sent, which of them, and the secrets that sign them."""

    __tablename__ = "webhook_endpoint"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSON)  # empty: every type
    enabled: Mapped[bool] = mapped_column()
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the previous secret signs too, until this moment.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Since when every attempt has failed (None: the last one succeeded, or none was made).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),)

    def subscribes(self, event_type: str) -> bool:
        """Whether the endpoint takes events of that type."""
        return not self.event_types or event_type in self.event_types


class Delivery(Base):
    """One event on its way to one endpoint: the same message id on every attempt."""

    __tablename__ = "webhook_delivery"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column()
    endpoint_id: Mapped[uuid.UUID] = mapped_column()
    event_position: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column()
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A worker holds the delivery until then; past it, any worker may take it again.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "endpoint_id"], ["webhook_endpoint.workspace_id", "webhook_endpoint.id"],
                             ondelete="CASCADE"),
        ForeignKeyConstraint(["event_position"], ["event.position"], ondelete="CASCADE"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_webhook_delivery_due", "next_attempt_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
        Index(None, "workspace_id", "endpoint_id", "status", "created_at"),
        Index(None, "event_position", "endpoint_id", unique=True),
    )


class Attempt(Base):
    """One try at delivering: when, the answer's status, how long it took, what went wrong."""

    __tablename__ = "webhook_attempt"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column()
    endpoint_id: Mapped[uuid.UUID] = mapped_column()
    delivery_id: Mapped[uuid.UUID] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column()
    duration_ms: Mapped[int] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(500))
    response: Mapped[str | None] = mapped_column(Text)  # the start of the answer's body

    __table_args__ = (
        ForeignKeyConstraint(["delivery_id"], ["webhook_delivery.id"], ondelete="CASCADE"),
        Index(None, "workspace_id", "endpoint_id", "id"),
        Index(None, "delivery_id"),
    )
