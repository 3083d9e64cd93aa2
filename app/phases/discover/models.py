"""Stored stakeholders: the buying committee."""

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.phases.records import OpportunityRecord

ROLES = ("economic_buyer", "decision_maker", "influencer", "user", "technical", "coach")


class Stakeholder(OpportunityRecord, Base):
    """A person on the customer's side and the part they play in the decision."""

    __tablename__ = "stakeholder"
    extra_table_args = (
        CheckConstraint("role IN ('economic_buyer', 'decision_maker', 'influencer', 'user', "
                        "'technical', 'coach')", name="role"),
    )

    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
