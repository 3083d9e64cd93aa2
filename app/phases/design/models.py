"""Stored Design records: solution options, the central proposition, the scope, the proposal's previews."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime
from app.phases.records import MoneyColumns, OpportunityRecord, UUIDList


class SolutionOption(OpportunityRecord, Base):
    """A way to solve the customer's problems: ours, a competitor's, their own, or doing nothing."""

    __tablename__ = "solution_option"
    extra_table_args = (
        CheckConstraint("provider IN ('ours', 'competitor', 'in_house', 'do_nothing')", name="provider"),
        CheckConstraint("decision IN ('open', 'chosen', 'set_aside')", name="decision"),
    )

    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(20))
    decision_reason: Mapped[str | None] = mapped_column(Text)


class Proposition(OpportunityRecord, Base):
    """The central proposition: the one main benefit, tied to the problems it solves."""

    __tablename__ = "proposition"
    singleton = True

    benefit: Mapped[str] = mapped_column(Text)
    problem_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDList)


class ScopeItem(OpportunityRecord, Base):
    """A priced part of the solution, and the problems it solves."""

    __tablename__ = "scope_item"
    extra_table_args = (CheckConstraint("price_amount >= 0", name="price_not_negative"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_amount: Mapped[int] = mapped_column(BigInteger)
    price_currency: Mapped[str] = mapped_column(String(3))
    problem_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDList)
    price = MoneyColumns()


class ProposalPreview(OpportunityRecord, Base):
    """The dress rehearsal: the proposal previewed with one stakeholder before it is presented."""

    __tablename__ = "proposal_preview"

    stakeholder_id: Mapped[uuid.UUID] = mapped_column()
    previewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    feedback: Mapped[str | None] = mapped_column(Text)
    adjustments: Mapped[str | None] = mapped_column(Text)
