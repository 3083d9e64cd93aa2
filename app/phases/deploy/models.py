"""Stored Deploy records: presentations, objections, buying signals, acceptance, promises, tasks, value reviews."""

import uuid
from datetime import date, datetime
from collections.abc import Mapping
from typing import Any, get_args

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime
from app.errors import InvalidInput
from app.phases.deploy.schemas import TaskKind
from app.phases.records import MoneyColumns, OpportunityRecord, UUIDList


class Presentation(OpportunityRecord, Base):
    """A presentation of the proposal: when, to whom, with what."""

    __tablename__ = "presentation"

    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    audience_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDList)
    materials: Mapped[list[str]] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)


class Objection(OpportunityRecord, Base):
    """An objection the customer raised, followed until it is resolved or withdrawn."""

    __tablename__ = "objection"
    extra_table_args = (
        CheckConstraint("category IN ('price', 'timing', 'authority', 'need', 'competition', 'other')",
                        name="category"),
        CheckConstraint("status IN ('open', 'qualified', 'resolved', 'withdrawn')", name="status"),
    )

    statement: Mapped[str] = mapped_column(Text)
    raised_by_id: Mapped[uuid.UUID | None] = mapped_column()
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    underlying: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)

    def apply(self, changes: Mapping[str, Any], actor: str, at: datetime) -> None:
        """Set fields, keeping the objection's path: open, qualified (what lies beneath it), then
        resolved (how) or withdrawn."""
        before = self.status
        super().apply(changes, actor, at)
        if self.status == "resolved" and before == "open":
            self._refuse("/status", "qualify the objection (say what lies beneath it) before resolving it")
        if self.status in ("qualified", "resolved") and not self.underlying:
            self._refuse("/underlying", f"a {self.status} objection says what really lies beneath it")
        if self.status == "resolved" and not self.resolution:
            self._refuse("/resolution", "a resolved objection says how it was resolved")

    @staticmethod
    def _refuse(pointer: str, message: str) -> None:
        raise InvalidInput(message[0].upper() + message[1:] + ".",
                           errors=[{"pointer": pointer, "in": "body", "message": message}])

    def fill_defaults(self, opportunity: Any) -> None:
        """An objection is raised when it is recorded, unless the rep says otherwise."""
        self.raised_at = self.raised_at or self.created_at


class BuyingSignal(OpportunityRecord, Base):
    """A sign that the customer is picturing the purchase."""

    __tablename__ = "buying_signal"

    description: Mapped[str] = mapped_column(Text)
    stakeholder_id: Mapped[uuid.UUID | None] = mapped_column()
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def fill_defaults(self, opportunity: Any) -> None:
        """A signal is observed when it is recorded, unless the rep says otherwise."""
        self.observed_at = self.observed_at or self.created_at


class Acceptance(OpportunityRecord, Base):
    """The customer's formal acceptance: the close."""

    __tablename__ = "acceptance"
    singleton = True

    accepted_by_id: Mapped[uuid.UUID] = mapped_column()
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    order_value_amount: Mapped[int] = mapped_column(BigInteger)
    order_value_currency: Mapped[str] = mapped_column(String(3))
    products: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    paperwork_reference: Mapped[str] = mapped_column(String(200))
    order_value = MoneyColumns()


class Task(OpportunityRecord, Base):
    """Work for a deal, done by its owner or by others (a user or a team), for which the deal's owner stays
    accountable: paperwork, reports, check-ins, back-office work."""

    __tablename__ = "task"
    extra_table_args = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in get_args(TaskKind))})", name="kind"),
        CheckConstraint("owner IS NOT NULL OR team_id IS NOT NULL", name="assigned"),
        ForeignKeyConstraint(["workspace_id", "team_id"], ["team.workspace_id", "team.id"]),
        Index(None, "workspace_id", "owner", "due_date"),
        Index(None, "workspace_id", "team_id", "due_date"),
    )

    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[uuid.UUID | None] = mapped_column()
    due_date: Mapped[date] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(200))

    @property
    def completed(self) -> bool:
        """Whether the task is done."""
        return self.completed_at is not None

    def apply(self, changes: Mapping[str, Any], actor: str, at: datetime) -> None:
        """Set fields; marking a task completed records who completed it and when."""
        changes = dict(changes)
        completed = changes.pop("completed", None)
        super().apply(changes, actor, at)
        if completed is True and self.completed_at is None:
            self.completed_at, self.completed_by = at, actor
        elif completed is False:
            self.completed_at = self.completed_by = None

    def fill_defaults(self, opportunity: Any) -> None:
        """A task is done by the opportunity's owner unless it names another user or a team."""
        if self.team_id is None:
            self.owner = self.owner or opportunity.owner


class Promise(OpportunityRecord, Base):
    """Something promised to the customer at the close, by a date, until it is kept."""

    __tablename__ = "promise"

    what: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column()
    kept_on: Mapped[date | None] = mapped_column()


class ValueReview(OpportunityRecord, Base):
    """Whether a diagnosed problem is solved after the sale, and what it costs the customer now."""

    __tablename__ = "value_review"

    problem_id: Mapped[uuid.UUID] = mapped_column()
    task_id: Mapped[uuid.UUID | None] = mapped_column()
    reviewed_on: Mapped[date] = mapped_column()
    solved: Mapped[bool] = mapped_column()
    cost_now_amount: Mapped[int | None] = mapped_column(BigInteger)
    cost_now_currency: Mapped[str | None] = mapped_column(String(3))
    notes: Mapped[str | None] = mapped_column(Text)
    cost_now = MoneyColumns()
