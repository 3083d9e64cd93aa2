"""Stored accounts and what other systems call them."""

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Tracked
from app.external_ids import ExternalIdRow, HasExternalIds

SIZES = ("small", "medium", "large", "enterprise")


class AccountExternalId(ExternalIdRow, Base):
    """What one system calls an account: unique per workspace and system."""

    __tablename__ = "account_external_id"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "target_id"], ["account.workspace_id", "account.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "system", "external_id"),
    )


class Account(HasExternalIds, Tracked, Base):
    """A customer's organisation: its name (unique in the workspace), sector, size and owner."""

    __tablename__ = "account"

    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(200))
    # Loaded when read (a deal loads its account, but shows none of its ids); lists load them in one query.
    external_id_rows: Mapped[list[AccountExternalId]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "name"),
        CheckConstraint(f"size IN ({', '.join(repr(s) for s in SIZES)})", name="size"),
        Index(None, "workspace_id", "owner", "id"),
    )
