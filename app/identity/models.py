"""Stored workspaces, teams, users and API keys."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime

ROLES = ("rep", "manager", "ops", "admin", "integration")


class Workspace(Base):
    """One customer company's space: every record belongs to exactly one."""

    __tablename__ = "workspace"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When on, every change to a deal must send If-Match (428 without), so no front end overwrites blindly.
    require_if_match: Mapped[bool] = mapped_column(default=False, server_default=false())


class Team(Base):
    """A group of reps under a manager."""

    __tablename__ = "team"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))

    __table_args__ = (ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),)


class User(Base):
    """A person (or an integration client) who acts in a workspace, with one role."""

    __tablename__ = "app_user"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A user who left: their keys no longer work, and nothing can be given to them.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["workspace_id", "team_id"], ["team.workspace_id", "team.id"]),
        UniqueConstraint("workspace_id", "handle"),
        CheckConstraint("role IN ('rep', 'manager', 'ops', 'admin', 'integration')", name="role"),
    )


class ApiKey(Base):
    """A key a user calls with: only its lookup prefix and a hash of its secret are stored."""

    __tablename__ = "api_key"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column()
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "user_id"], ["app_user.workspace_id", "app_user.id"],
                             ondelete="CASCADE"),
        Index(None, "prefix", unique=True),
    )


class AuditEntry(Base):
    """An administrator's action: who did what to which user, team or key, and when."""

    __tablename__ = "audit_entry"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),)
