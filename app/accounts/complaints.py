"""Stored complaints: each on an account (and maybe one of its deals), from receipt to the customer's check; their
lists of values, and the shape in which a deal's document holds them (gates and guidance read them there)."""

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Tracked, UTCDateTime
from app.schemas import Output

SEVERITIES = ("low", "medium", "high", "critical")  # in rising order: a repeat is raised to the next one
# A fixed list, not a free slug: repeats are found by category, and one category spelt two ways would hide them.
CATEGORIES = ("delivery", "installation", "quality", "service", "billing")
STATUSES = ("open", "investigating", "resolved", "verified")
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
# The moves between statuses; a resolved complaint whose check with the customer fails goes back to investigating.
MOVES = {"open": ("investigating",), "investigating": ("resolved",), "resolved": ("verified", "investigating"),
         "verified": ()}
# What a complaint must hold in each status: the cause and the actions once resolved, the customer's check once
# verified (and only then).
RESOLUTION = ("root_cause", "corrective_action", "preventive_action")
VERIFICATION = ("verified_with", "verified_at")
NEEDS = {"open": (), "investigating": (), "resolved": RESOLUTION, "verified": RESOLUTION + VERIFICATION}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _all_set(columns: tuple[str, ...]) -> str:
    return " AND ".join(f"{c} IS NOT NULL" for c in columns)


class Complaint(Tracked, Base):
    """A customer's complaint: what happened, how serious, who answers for it, its cause and the actions taken,
    and the earlier complaint it repeats, if any."""

    __tablename__ = "complaint"

    account_id: Mapped[uuid.UUID] = mapped_column()
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column()
    summary: Mapped[str] = mapped_column(String(2000))
    category: Mapped[str] = mapped_column(String(20))
    reported_severity: Mapped[str] = mapped_column(String(10))
    severity: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accountable: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    root_cause: Mapped[str | None] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    preventive_action: Mapped[str | None] = mapped_column(Text)
    verified_with: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    repeat_of_id: Mapped[uuid.UUID | None] = mapped_column()
    # The earlier complaint, shown with a repeat; repeat_of_id is what is written.
    repeat_of: Mapped["Complaint | None"] = relationship(
        remote_side="[Complaint.workspace_id, Complaint.id]", viewonly=True)

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["workspace_id", "account_id"], ["account.workspace_id", "account.id"]),
        ForeignKeyConstraint(["workspace_id", "opportunity_id"], ["opportunity.workspace_id", "opportunity.id"]),
        ForeignKeyConstraint(["workspace_id", "repeat_of_id"], ["complaint.workspace_id", "complaint.id"]),
        CheckConstraint(_one_of("category", CATEGORIES), name="category"),
        CheckConstraint(_one_of("reported_severity", SEVERITIES), name="reported_severity"),
        CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        CheckConstraint(f"status NOT IN ('resolved', 'verified') OR ({_all_set(RESOLUTION)})", name="resolution"),
        CheckConstraint(" AND ".join(f"(status = 'verified') = ({c} IS NOT NULL)" for c in VERIFICATION),
                        name="verification"),
        Index(None, "workspace_id", "accountable", "id"),
        Index(None, "workspace_id", "account_id", "category", "received_at"),
    )


class ComplaintBrief(Output):
    """A complaint as a deal's document holds it, for the gates and guidance that read its account's complaints."""

    id: uuid.UUID
    opportunity_id: uuid.UUID | None
    summary: str
    category: Category
    severity: Severity
    status: Status
    received_at: datetime
    accountable: str
    repeat_of_id: uuid.UUID | None
