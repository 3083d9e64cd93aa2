"""Stored opportunities and their append-only history of moves."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, CheckConstraint, ForeignKeyConstraint, Index, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Account
from app.db import Base, Tracked, UTCDateTime, utcnow
from app.external_ids import ExternalIdRow, HasExternalIds

STATUSES = ("open", "won", "lost", "disqualified")
MOVES = ("create", "forward", "back", "lost", "disqualified", "reopen", "migrate")  # history entries of a move
NOTES = ("handover", "follow_up_done")  # history entries that record an event of the deal, not a move
HISTORY_KINDS = MOVES + NOTES


class OpportunityExternalId(ExternalIdRow, Base):
    """What one system calls a deal: unique per workspace and system."""

    __tablename__ = "opportunity_external_id"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "target_id"], ["opportunity.workspace_id", "opportunity.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "system", "external_id"),
    )


class Opportunity(HasExternalIds, Tracked, Base):
    """A sales opportunity: the account, its value, and where it stands in its process."""

    __tablename__ = "opportunity"

    name: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[uuid.UUID] = mapped_column()
    account: Mapped[Account] = relationship(lazy="joined", innerjoin=True)
    external_id_rows: Mapped[list[OpportunityExternalId]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True)
    owner: Mapped[str] = mapped_column(String(200))
    value_amount: Mapped[int | None] = mapped_column(BigInteger)
    value_currency: Mapped[str | None] = mapped_column(String(3))
    expected_close_date: Mapped[date | None] = mapped_column()
    process_key: Mapped[str] = mapped_column(String(100))
    process_version: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    phase: Mapped[str] = mapped_column(String(50))
    step: Mapped[str] = mapped_column(String(50))
    step_entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome_reason_code: Mapped[str | None] = mapped_column(String(50))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    lost_to_id: Mapped[uuid.UUID | None] = mapped_column()
    # Pace prompts (stale, inactivity, open objections) are silent until this day, for this reason.
    snoozed_until: Mapped[date | None] = mapped_column()
    snooze_reason: Mapped[str | None] = mapped_column(Text)
    # When the owner marked the after-sale follow-up of a won deal done, and who did.
    follow_up_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    follow_up_done_by: Mapped[str | None] = mapped_column(String(200))
    # Each record kind in the shape gates read it, kept current by every record write.
    records_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)
    # The blocking requirements of the gate into the next step, as of the deal's last change (null when closed).
    blocking: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["workspace_id", "account_id"], ["account.workspace_id", "account.id"]),
        CheckConstraint("status IN ('open', 'won', 'lost', 'disqualified')", name="status"),
        CheckConstraint("(value_amount IS NULL) = (value_currency IS NULL)", name="value_complete"),
        CheckConstraint("value_amount >= 0", name="value_not_negative"),
        CheckConstraint("(snoozed_until IS NULL) = (snooze_reason IS NULL)", name="snooze_complete"),
        Index(None, "workspace_id", "step", "id"),
        Index(None, "workspace_id", "status", "id"),
        Index(None, "workspace_id", "owner", "id"),
        Index(None, "workspace_id", "updated_at", "id"),
        Index(None, "workspace_id", "account_id", "id"),
    )

    @property
    def days_in_step(self) -> int:
        """Whole days since the opportunity entered its current step."""
        return (utcnow() - self.step_entered_at).days

    @property
    def process(self) -> dict[str, Any]:
        """The process and version the opportunity runs under."""
        return {"key": self.process_key, "version": self.process_version}

    @property
    def snooze(self) -> dict[str, Any] | None:
        """Until when and why the deal's pace prompts are silent, while they are."""
        if self.snoozed_until is None or self.snoozed_until <= utcnow().date():
            return None
        return {"until": self.snoozed_until, "reason": self.snooze_reason}

    @property
    def value(self) -> dict[str, Any] | None:
        """The deal's value as the API shows it."""
        if self.value_amount is None:
            return None
        return {"amount": self.value_amount, "currency": self.value_currency}


class HistoryEntry(Base):
    """One change of step or status, with who, when, why, and what the gates saw."""

    __tablename__ = "history_entry"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    opportunity_id: Mapped[uuid.UUID] = mapped_column()
    seq: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    from_step: Mapped[str | None] = mapped_column(String(50))
    from_phase: Mapped[str | None] = mapped_column(String(50))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_step: Mapped[str] = mapped_column(String(50))
    to_phase: Mapped[str] = mapped_column(String(50))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(50))
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # A move past a blocked gate: why, and the blocking requirement codes it passed over.
    override_justification: Mapped[str | None] = mapped_column(Text)
    overridden: Mapped[list[str] | None] = mapped_column(JSON)
    lost_to_id: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "opportunity_id"],
                             ["opportunity.workspace_id", "opportunity.id"], ondelete="CASCADE"),
        # One entry per opportunity version: two moves can never both claim the same change.
        UniqueConstraint("workspace_id", "opportunity_id", "seq"),
        Index(None, "workspace_id", "at"),  # the reports' periods
    )


class MoveRefusal(Base):
    """A move a gate refused, kept though the move rolled back: who asked to take the deal where, and the
    requirements that refused it."""

    __tablename__ = "move_refusal"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    opportunity_id: Mapped[uuid.UUID] = mapped_column()
    process_key: Mapped[str] = mapped_column(String(100))
    process_version: Mapped[int] = mapped_column()
    from_step: Mapped[str] = mapped_column(String(50))
    to_step: Mapped[str] = mapped_column(String(50))
    gate_step: Mapped[str] = mapped_column(String(50))  # the step whose gate refused (on the way to to_step)
    codes: Mapped[list[str]] = mapped_column(JSON)  # the blocking requirements that refused it
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "opportunity_id"],
                             ["opportunity.workspace_id", "opportunity.id"], ondelete="CASCADE"),
        Index(None, "workspace_id", "at"),
        Index(None, "workspace_id", "opportunity_id", "at"),
    )
