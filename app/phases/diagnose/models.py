"""Stored Diagnose records: the customer's problems and the qualification."""

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow
from app.phases.records import MoneyColumns, OpportunityRecord

ANSWERS = "('yes', 'no', 'unknown')"


class Problem(OpportunityRecord, Base):
    """A problem the customer has, its extent, and what it costs them."""

    __tablename__ = "problem"
    extra_table_args = (
        CheckConstraint("(cost_amount IS NULL) = (cost_currency IS NULL) "
                        "AND (cost_amount IS NULL) = (cost_period IS NULL)", name="cost_complete"),
        CheckConstraint("cost_amount >= 0", name="cost_not_negative"),
        CheckConstraint("cost_period IN ('once', 'month', 'year')", name="cost_period"),
    )

    description: Mapped[str] = mapped_column(Text)
    affected: Mapped[str | None] = mapped_column(Text)
    indicators: Mapped[list[str]] = mapped_column(JSON, default=list)
    root_cause: Mapped[str | None] = mapped_column(Text)
    cost_amount: Mapped[int | None] = mapped_column(BigInteger)
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    cost_period: Mapped[str | None] = mapped_column(String(10))
    cost_basis: Mapped[str | None] = mapped_column(Text)
    cost_assumptions: Mapped[str | None] = mapped_column(Text)
    confirmed_by_customer: Mapped[bool] = mapped_column()
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def cost(self) -> dict[str, Any] | None:
        """The cost and how it was worked out, as the API shows it."""
        if self.cost_amount is None:
            return None
        return {"amount": self.cost_amount, "currency": self.cost_currency, "period": self.cost_period,
                "basis": self.cost_basis, "assumptions": self.cost_assumptions}

    @cost.setter
    def cost(self, cost: dict[str, Any] | None) -> None:
        cost = cost or {}
        self.cost_amount = cost.get("amount")
        self.cost_currency = cost.get("currency")
        self.cost_period = cost.get("period")
        self.cost_basis = cost.get("basis")
        self.cost_assumptions = cost.get("assumptions")

    @property
    def confirmation(self) -> dict[str, Any] | None:
        """Who on the customer's side confirmed the problem, and when."""
        if self.confirmed_by_id is None:
            return None
        return {"stakeholder_id": self.confirmed_by_id, "at": self.confirmed_at}

    @confirmation.setter
    def confirmation(self, confirmation: dict[str, Any] | None) -> None:
        if confirmation is None and self.confirmed_by_id is not None:
            self.confirmed_by_customer = False  # withdrawing who confirmed withdraws the confirmation
        self.confirmed_by_id = confirmation["stakeholder_id"] if confirmation else None
        self.confirmed_at = (confirmation.get("at") or utcnow()) if confirmation else None
        if confirmation:
            self.confirmed_by_customer = True


class Qualification(OpportunityRecord, Base):
    """Go for the no: is there an urgent reason to change, and the resources to do it?"""

    __tablename__ = "qualification"
    singleton = True
    extra_table_args = (
        CheckConstraint(f"urgency IN {ANSWERS}", name="urgency"),
        CheckConstraint(f"resources IN {ANSWERS}", name="resources"),
    )

    urgency: Mapped[str] = mapped_column(String(10))
    compelling_event: Mapped[str | None] = mapped_column(Text)
    urgency_evidence: Mapped[str | None] = mapped_column(Text)
    compelling_event_date: Mapped[date | None] = mapped_column()
    resources: Mapped[str] = mapped_column(String(10))
    budget_available_amount: Mapped[int | None] = mapped_column(BigInteger)
    budget_available_currency: Mapped[str | None] = mapped_column(String(3))
    resources_evidence: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    budget_available = MoneyColumns()

    def apply(self, changes: Mapping[str, Any], actor: str, at: datetime) -> None:
        """Set fields; answered_at is when a write answered urgency and resources both, none while one is unknown."""
        super().apply(changes, actor, at)
        if "unknown" in (self.urgency, self.resources):
            self.answered_at = None
        elif self.answered_at is None:
            self.answered_at = at
