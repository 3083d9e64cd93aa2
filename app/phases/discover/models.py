"""Stored Discover records: the buying committee, the account, the landscape, the first contact."""

import uuid
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from app.db import Base, UTCDateTime, new_row
from app.external_ids import ExternalIdRow, HasExternalIds
from app.phases.records import MoneyColumns, OpportunityRecord, UUIDList


class StakeholderExternalId(ExternalIdRow, Base):
    """What one system calls a stakeholder: unique per deal and system (one contact sits on many deals)."""

    __tablename__ = "stakeholder_external_id"

    opportunity_id: Mapped[uuid.UUID] = mapped_column()

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "target_id"], ["stakeholder.workspace_id", "stakeholder.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "opportunity_id", "system", "external_id"),
    )


class Stakeholder(HasExternalIds, OpportunityRecord, Base):
    """A person on the customer's side and the part they play in the decision."""

    __tablename__ = "stakeholder"
    extra_table_args = (
        CheckConstraint("role IN ('economic_buyer', 'decision_maker', 'influencer', 'user', "
                        "'technical', 'coach')", name="role"),
    )

    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    needs: Mapped[str | None] = mapped_column(Text)
    motives: Mapped[str | None] = mapped_column(Text)
    stance: Mapped[str | None] = mapped_column(String(20))
    decision_style: Mapped[str | None] = mapped_column(String(200))
    external_id_rows: Mapped[list[StakeholderExternalId]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True)

    def add_external_ids(self, ids: Mapping[str, str]) -> None:
        """Name the new stakeholder by other systems' ids (free within its deal: the caller looked)."""
        set_committed_value(self, "external_id_rows", [
            new_row(StakeholderExternalId, workspace_id=self.workspace_id, target_id=self.id,
                    opportunity_id=self.opportunity_id, system=system, external_id=value)
            for system, value in ids.items()])


class AccountProfile(OpportunityRecord, Base):
    """What the research found about the account: size, strategy, financial parameters."""

    __tablename__ = "account_profile"
    singleton = True

    size: Mapped[str | None] = mapped_column(String(200))
    strategic_issues: Mapped[list[str]] = mapped_column(JSON)
    priorities: Mapped[list[str]] = mapped_column(JSON)
    budget_amount: Mapped[int | None] = mapped_column(BigInteger)
    budget_currency: Mapped[str | None] = mapped_column(String(3))
    fiscal_year_end: Mapped[str | None] = mapped_column(String(5))
    budget = MoneyColumns()


class Competitor(OpportunityRecord, Base):
    """The current supplier or another contender, and how they will act."""

    __tablename__ = "competitor"

    name: Mapped[str] = mapped_column(String(200))
    incumbent: Mapped[bool] = mapped_column()
    offering: Mapped[str | None] = mapped_column(Text)
    expected_reaction: Mapped[str | None] = mapped_column(Text)
    strengths: Mapped[str | None] = mapped_column(Text)
    weaknesses: Mapped[str | None] = mapped_column(Text)


class DecisionProcess(OpportunityRecord, Base):
    """How the customer decides: the steps, the timeline, who signs."""

    __tablename__ = "decision_process"
    singleton = True

    steps: Mapped[list[str]] = mapped_column(JSON)
    timeline: Mapped[str | None] = mapped_column(Text)
    decision_date: Mapped[date | None] = mapped_column()
    signer_id: Mapped[uuid.UUID | None] = mapped_column()


class PoliticsNote(OpportunityRecord, Base):
    """An observation about the organisation's politics, and whom it concerns."""

    __tablename__ = "politics_note"

    note: Mapped[str] = mapped_column(Text)
    stakeholder_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDList)


class MeetingPlan(OpportunityRecord, Base):
    """The plan for a meeting: what to get from it, the agenda, the questions to ask."""

    __tablename__ = "meeting_plan"

    objective: Mapped[str] = mapped_column(Text)
    agenda: Mapped[list[str]] = mapped_column(JSON)
    questions: Mapped[list[str]] = mapped_column(JSON)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Activity(OpportunityRecord, Base):
    """A contact with the customer: a meeting, a call, an email or a site visit."""

    __tablename__ = "activity"
    extra_table_args = (
        CheckConstraint("kind IN ('meeting', 'call', 'email', 'site_visit')", name="kind"),
    )

    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attendee_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDList)
    purpose_agreed: Mapped[str | None] = mapped_column(Text)
    minutes_agreed: Mapped[int | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(Text)
    next_step_on: Mapped[date | None] = mapped_column()
