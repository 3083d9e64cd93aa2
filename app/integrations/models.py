"""Stored maps of another system's names onto ours: its users onto our sellers, its stages onto our steps."""

from sqlalchemy import JSON, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Tracked


class SystemMap(Tracked, Base):
    """One system's maps in a workspace (data the ops role edits, as it edits the process)."""

    __tablename__ = "system_map"

    system: Mapped[str] = mapped_column(String(50))
    owners: Mapped[dict[str, str]] = mapped_column(JSON)
    default_owner: Mapped[str | None] = mapped_column(String(200))
    stages: Mapped[dict[str, str]] = mapped_column(JSON)

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "system"),
    )
