"""The outbox: every committed change appends its events here, in the change's own transaction."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    insert,
    literal,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from uuid6 import uuid7

from app.db import Base, UTCDateTime

# The one list of event types: the catalogue, the filters and the documentation derive from it.
EVENT_TYPES = (
    "opportunity.created", "opportunity.updated", "opportunity.moved", "opportunity.won", "opportunity.lost",
    "opportunity.disqualified", "opportunity.reopened", "opportunity.migrated", "opportunity.held_at_gate",
    "opportunity.move_refused", "opportunity.snoozed", "opportunity.woken", "opportunity.handed_over",
    "opportunity.follow_up_done",
    "account.created", "account.updated",
    "complaint.created", "complaint.updated",
    "record.created", "record.updated", "record.deleted",
    "task.created", "task.completed",
    "process.version_published", "deals.migrated",
    "webhook_endpoint.disabled", "webhook_endpoint.test",
)


class Event(Base):
    """One committed change, as its subscribers and the event feed see it."""

    __tablename__ = "event"

    # SQLite numbers rows in commit order (one writer at a time); PostgreSQL allocates numbers when
    # rows are written, so its feed orders by transaction id first and stops below the oldest
    # transaction still running (see app.events.feed).
    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                          autoincrement=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column()
    type: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column()
    opportunity_version: Mapped[int | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set when the worker has made a delivery of the event for every endpoint subscribed to it.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        Index(None, "workspace_id", "txid", "position"),
        Index(None, "workspace_id", "opportunity_id", "position"),
        Index("ix_event_undispatched", "position", postgresql_where=text("dispatched_at IS NULL"),
              sqlite_where=text("dispatched_at IS NULL")),
        Index(None, "at"),
        {"sqlite_autoincrement": True},  # positions are never reused, even once every event has been pruned
    )

    @property
    def payload(self) -> dict[str, Any]:
        """The message as subscribers receive it (Standard Webhooks: type, timestamp, data)."""
        return {"type": self.type, "timestamp": self.at.isoformat().replace("+00:00", "Z"), "data": self.data}


# Built once per dialect: the transaction id PostgreSQL gives the writer (SQLite needs none).
_APPEND = {"postgresql": insert(Event.__table__).values(txid=text("pg_current_xact_id()::text::bigint")),
           "sqlite": insert(Event.__table__).values(txid=literal(0))}


def event_row(workspace_id: uuid.UUID, type_: str, at: datetime, data: dict[str, Any], *,
              opportunity_id: uuid.UUID | None = None, opportunity_version: int | None = None) -> dict[str, Any]:
    """An event as append_events stores it."""
    assert type_ in EVENT_TYPES, type_
    body = {"workspace_id": str(workspace_id), **data}
    if opportunity_id is not None:
        body |= {"opportunity_id": str(opportunity_id), "opportunity_version": opportunity_version}
    return {"id": uuid7(), "workspace_id": workspace_id, "type": type_, "at": at, "opportunity_id": opportunity_id,
            "opportunity_version": opportunity_version, "data": body}


def append_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append events (made by event_row) to the transaction, in order, in one statement."""
    if rows:
        session.execute(_APPEND[session.get_bind().dialect.name], rows)


def append_event(session: Session, workspace_id: uuid.UUID, type_: str, at: datetime, data: dict[str, Any], *,
                 opportunity_id: uuid.UUID | None = None, opportunity_version: int | None = None) -> int:
    """Append an event to the transaction (published when, and only if, it commits); its position."""
    appended = session.execute(_APPEND[session.get_bind().dialect.name], event_row(
        workspace_id, type_, at, data, opportunity_id=opportunity_id, opportunity_version=opportunity_version))
    return int(appended.inserted_primary_key[0])
